"""The EI-tree request step's evidence: per-image attribute keys follow every edit of the graph facts."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.engine.request import Evidence, Request, RequestRanker
from retrieval.graph import schema
from retrieval.graph.build import build_graph
from retrieval.graph.facts import GraphFacts

pytestmark = pytest.mark.unit

IMAGES = {
    "red-dress": ["category:dress", "color:red", "fit:a-line"],
    "navy-skirt": ["category:skirt", "color:navy"],
}


@pytest.fixture
def evidence() -> tuple[Evidence, GraphFacts]:
    tax = Taxonomy.load()
    ids = list(IMAGES)
    info = build_graph(
        ids,
        [IMAGES[i] for i in ids],
        [],
        tax,
        image_features=np.zeros((len(ids), 4), np.float32),
        caption_features=np.zeros((0, 8), np.float32),
        text_encoder=lambda texts: np.zeros((len(texts), 8), np.float32),
    )
    facts = GraphFacts.from_graph(info.graph, info.ids, tax)
    return Evidence(facts, ["dress", "skirt"], ["", ""], tax), facts


def test_keys_follow_statements_and_drops(evidence):
    ev, facts = evidence
    assert {"category:dress", "color:red", "fit:a-line"} <= ev.keys(0)
    linen = facts.add_attribute("material:linen", int(facts.attr_concept[facts.attr_keys.index("color:red")]))
    facts.add_image_attribute(0, linen)
    assert "material:linen" in ev.keys(0), "a statement made after the first read must show"
    facts.drop_image_attribute(0, facts.attr_keys.index("color:red"))
    assert "color:red" not in ev.keys(0), "a replaced attribute must disappear"
    assert ev.keys(1) >= {"category:skirt", "color:navy"}


def test_images_with_follows_statements_and_drops(evidence):
    ev, facts = evidence
    assert ev.images_with("color:red").tolist() == [0]
    assert ev.images_with("color:red") is ev.images_with("color:red"), "cached while the facts are unchanged"
    facts.add_image_attribute(1, facts.attr_keys.index("color:red"))
    assert ev.images_with("color:red").tolist() == [0, 1], "a statement made after the first read must show"
    facts.drop_image_attribute(0, facts.attr_keys.index("color:red"))
    assert ev.images_with("color:red").tolist() == [1], "a replaced attribute must disappear"


# -- the vectorized ranking gives the per-node loop's answers ---------------------------------
WORDS = ["black", "white", "red", "pink", "striped", "floral", "plaid", "linen", "silk", "wool", "pockets", "belt"]
WORDS += ["hood", "buttons", "slim", "loose"]
PREDICTED = ["color:black", "color:red", "color:white", "pattern:striped", "pattern:solid", "details:pockets"]
PREDICTED += ["details:hood", "details:belt", "material:linen", "fit:slim", "category:skirt"]
CATS = ["dress", "skirt", "shirt"]


def reference_rank(ranker: RequestRanker, req: Request, nodes, sims, products, k):
    """The per-node Python loop the vectorized :meth:`RequestRanker.rank` replaced (same contract)."""
    reqs = req.requirements
    rows = []
    for n, s in zip(nodes.tolist(), sims.tolist(), strict=True):
        have = ranker.evidence.keys(n)
        met = [(key in have) == wanted for key, wanted in reqs]
        kept = sum(key in have for key in req.keep) / len(req.keep) if req.keep else 1.0
        rows.append((met[0], sum(met), s + ranker.cfg.keep_weight * kept, n, met))
    rows.sort(key=lambda r: (not r[0], -r[1], -r[2]))
    seen: set[str] = set()
    out = []
    for row in rows:
        if products[row[3]] not in seen:
            seen.add(products[row[3]])
            out.append(row)
        if len(out) >= k:
            break
    satisfied = sum(r[1] == len(reqs) for r in out)
    unmet: tuple[str, ...] = ()
    if satisfied < min(ranker.cfg.min_satisfied, k):
        top = out[: ranker.cfg.min_satisfied]
        unmet = tuple(key if w else "-" + key for i, (key, w) in enumerate(reqs) if any(not r[4][i] for r in top))
    return [r[2] for r in out], [r[3] for r in out], unmet, satisfied


def reference_exact(ev: Evidence, req: Request) -> np.ndarray:
    """The set operations :meth:`RequestRanker.exact` replaced."""
    nodes = ev.images_with(f"category:{req.category}")
    for key in req.want:
        nodes = np.intersect1d(nodes, ev.images_with(key), assume_unique=True)
    for key in req.drop:
        nodes = np.setdiff1d(nodes, ev.images_with(key), assume_unique=True)
    return nodes


@pytest.fixture
def random_evidence() -> tuple[Evidence, GraphFacts, list[str]]:
    rng = np.random.default_rng(3)
    tax = Taxonomy.load()
    n = 90
    cats = [CATS[i] for i in rng.integers(0, len(CATS), n)]
    attrs = [[f"category:{c}", *rng.choice(PREDICTED, rng.integers(0, 5), replace=False).tolist()] for c in cats]
    captions = [" ".join(rng.choice(WORDS, rng.integers(0, 6), replace=False).tolist()) + f" {c}" for c in cats]
    ids = [f"img{i}" for i in range(n)]
    info = build_graph(
        ids,
        attrs,
        [],
        tax,
        image_features=np.zeros((n, 4), np.float32),
        caption_features=np.zeros((0, 8), np.float32),
        text_encoder=lambda texts: np.zeros((len(texts), 8), np.float32),
    )
    facts = GraphFacts.from_graph(info.graph, info.ids, tax)
    products = [f"p{i // 3 if i % 7 else i}" for i in range(n)]  # mostly 3 photos a product
    return Evidence(facts, cats, captions, tax), facts, products


def edit(facts: GraphFacts, rng: np.random.Generator) -> None:
    """A few statements, predicted edges (a like's), replacements and a new attribute, as interactions make."""
    new = facts.add_attribute("material:tweed", -1)
    for _ in range(6):
        node = int(rng.integers(0, facts.image_attrs.n_rows))
        facts.add_image_attribute(node, int(rng.integers(0, len(facts.attr_keys))), schema.HAS_USER_ATTRIBUTE)
        facts.add_image_attribute(int(rng.integers(0, facts.image_attrs.n_rows)), new, schema.HAS_ATTRIBUTE)
        row = facts.image_attrs.row(node)
        if len(row):
            facts.drop_image_attribute(node, int(row[0]))


def test_holds_is_keys_for_every_node_and_key(random_evidence):
    ev, facts, _ = random_evidence
    rng = np.random.default_rng(0)
    nodes = np.arange(facts.image_attrs.n_rows)
    for round_ in range(3):
        keys = sorted(set(facts.attr_keys) | {k for n in nodes.tolist() for k in ev.keys(n)})
        want = np.array([[key in ev.keys(n) for key in keys] for n in nodes.tolist()])
        order = rng.permutation(nodes)
        assert (ev.holds(keys, order) == want[order]).all(), "any node order"
        got = ev.holds(keys, nodes)
        assert (got == want).all(), f"round {round_}: holds differs from keys"
        edit(facts, rng)  # edits between calls: the warm caches must follow


def test_rank_and_exact_equal_the_per_node_loop(random_evidence):
    ev, facts, products = random_evidence
    ranker = RequestRanker(ev)
    rng = np.random.default_rng(1)
    keys = [k for k in facts.attr_keys if not k.startswith("category:")] + ["material:silk", "details:buttons"]
    for trial in range(240):
        if trial % 80 == 79:
            edit(facts, rng)
        pick = rng.choice(keys, rng.integers(0, 6), replace=False).tolist()
        req = Request(CATS[trial % 3], tuple(pick[:2]), tuple(pick[2:3]), tuple(sorted(pick[3:])))
        nodes = rng.permutation(facts.image_attrs.n_rows)[: rng.integers(0, 80)].astype(np.int64)
        sims = np.round(rng.random(len(nodes)), 1)  # ties: the order must stay stable
        for k in (1, 4, 10):
            assert ranker.rank(req, nodes, sims, products, k) == reference_rank(ranker, req, nodes, sims, products, k)
        assert ranker.exact(req).tolist() == reference_exact(ev, req).tolist()
