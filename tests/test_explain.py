"""Graph explanations: shared / matched / replaced / missing / concepts on a hand-made graph, and every
node and edge an explanation names exists in the DGL graph (hand-made and trained).
"""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.graph import schema
from retrieval.graph.build import CaptionSpec, build_graph
from retrieval.graph.explain import Explainer, GraphFacts, human_list, plural

IMAGES = {
    "red-dress": ["category:dress", "color:red", "fit:a-line", "length:knee-length", "details:belt"],
    "black-dress": [
        "category:dress",
        "color:black",
        "fit:a-line",
        "length:knee-length",
        "details:belt",
        "details:pockets",
    ],
    "black-jumpsuit": ["category:jumpsuit", "color:black", "length:maxi"],
    "navy-skirt": ["category:skirt", "color:navy", "fit:a-line"],
}


def _encoder(texts: list[str]) -> np.ndarray:
    rng = np.random.default_rng(len(texts))
    return rng.normal(size=(len(texts), 8)).astype(np.float32)


@pytest.fixture(scope="module")
def hand():
    tax = Taxonomy.load()
    ids = list(IMAGES)
    caps = [
        CaptionSpec("make it black", "red-dress", ("color:black",)),
        CaptionSpec("longer please", "black-dress", ("length:maxi",)),
    ]
    info = build_graph(
        ids,
        [IMAGES[i] for i in ids],
        caps,
        tax,
        image_features=np.zeros((len(ids), 4), np.float32),
        caption_features=np.zeros((len(caps), 8), np.float32),
        text_encoder=_encoder,
    )
    facts = GraphFacts.from_graph(info.graph, info.ids, tax)
    return info, facts, Explainer(facts)


def _n(info, ntype: str, name: str) -> int:
    return info.ids.index(ntype)[name]


def assert_in_graph(g, ids, exp) -> None:
    """Every edge (and node) of ``exp`` exists in ``g`` with the label of its id map."""
    assert exp.edges
    for e in exp.edges:
        for node in (e.src, e.dst):
            assert 0 <= node.node_id < g.num_nodes(node.ntype)
            assert ids.names(node.ntype)[node.node_id] == node.label
        etype = (e.src.ntype, e.relation, e.dst.ntype)
        assert etype in g.canonical_etypes, etype
        assert bool(g.has_edges_between(e.src.node_id, e.dst.node_id, etype=etype)), e


def test_modify_explanation_shared_replaced_concepts(hand):
    info, _facts, ex = hand
    a = lambda k: _n(info, schema.ATTRIBUTE, k)  # noqa: E731
    cand, res = _n(info, schema.IMAGE, "red-dress"), _n(info, schema.IMAGE, "black-dress")
    exp = ex.explain(cand, [a("color:black")], res)
    assert set(exp.shared) == {"category:dress", "fit:a-line", "length:knee-length", "details:belt"}
    assert exp.matched == ("color:black",)
    assert exp.replaced == (("color:red", "color:black"),)
    assert exp.missing == ()
    assert exp.concepts == ("full-body",)
    assert exp.text.startswith("Has black as you asked; black replaces red of your pick since colors are exclusive")
    assert exp.path == ("clothing", "full-body", "dress")
    assert "EI path clothing > full-body > dress (both are dresses)" in exp.text and "a-line" in exp.text
    assert 'shoppers asked "make it black" of your pick before' in exp.text
    rels = {(e.src.label, e.relation, e.dst.label) for e in exp.edges}
    assert ("red-dress", "has_attribute", "color:red") in rels
    assert ("black-dress", "has_attribute", "color:black") in rels
    assert ("color:red", "is_a", "group:color") in rels and ("color:black", "is_a", "group:color") in rels
    assert ("category:dress", "is_a", "full-body") in rels
    assert ("make it black", "modifies", "red-dress") in rels and ("make it black", "mentions", "color:black") in rels
    assert_in_graph(info.graph, info.ids, exp)


def test_missing_independent_and_sibling_concepts(hand):
    info, _facts, ex = hand
    a = lambda k: _n(info, schema.ATTRIBUTE, k)  # noqa: E731
    cand, jump = _n(info, schema.IMAGE, "red-dress"), _n(info, schema.IMAGE, "black-jumpsuit")
    exp = ex.explain(cand, [a("color:black"), a("details:pockets")], jump)
    assert exp.missing == ("details:pockets",) and exp.replaced == (("color:red", "color:black"),)
    assert exp.concepts == ("full-body",)  # dress and jumpsuit are siblings under full-body
    assert exp.text.startswith("Has black as you asked, but lacks pockets;")
    assert "EI path clothing > full-body > jumpsuit (your pick, a dress, is under full-body too)" in exp.text
    assert_in_graph(info.graph, info.ids, exp)
    # an independent group adds, it does not replace: the belt stays shared
    black = _n(info, schema.IMAGE, "black-dress")
    exp = ex.explain(cand, [a("details:pockets")], black)
    assert exp.replaced == () and exp.matched == ("details:pockets",) and "details:belt" in exp.shared
    assert exp.text.startswith("Has pockets as you asked;")
    # a category change is an exclusive replacement too
    skirt = _n(info, schema.IMAGE, "navy-skirt")
    exp = ex.explain(cand, [a("category:skirt")], skirt)
    assert exp.replaced == (("category:dress", "category:skirt"),) and exp.shared == ("fit:a-line",)
    assert exp.text.startswith("Is a skirt as you asked; skirt replaces dress of your pick since categories are")
    assert exp.path == ("clothing", "bottom", "skirt") and "EI path clothing > bottom > skirt." in exp.text
    assert_in_graph(info.graph, info.ids, exp)


def test_search_and_describe_explanations(hand):
    info, _facts, ex = hand
    a = lambda k: _n(info, schema.ATTRIBUTE, k)  # noqa: E731
    res = _n(info, schema.IMAGE, "black-dress")
    exp = ex.explain(None, [a("color:black"), a("category:dress")], res)
    assert exp.shared == () and exp.replaced == () and set(exp.matched) == {"color:black", "category:dress"}
    assert exp.concepts == ("full-body",)
    assert exp.text == "Is a dress and has black as you asked; EI path clothing > full-body > dress."
    assert_in_graph(info.graph, info.ids, exp)
    d = ex.describe(res)
    assert set(d.shared) == set(IMAGES["black-dress"]) and d.text.startswith(
        "A dress (clothing > full-body > dress) with "
    )
    assert_in_graph(info.graph, info.ids, d)
    # no link at all: still a sentence, no invented edges
    exp = ex.explain(_n(info, schema.IMAGE, "navy-skirt"), [], _n(info, schema.IMAGE, "black-jumpsuit"))
    assert {e.relation for e in exp.edges} == {"is_a"} and exp.path == ("clothing", "full-body", "jumpsuit")
    assert exp.text == (
        "Close to your pick in the learned graph embedding; no attribute links it directly; "
        "EI path clothing > full-body > jumpsuit."
    )
    assert_in_graph(info.graph, info.ids, exp)


def test_every_asked_value_is_named_as_had_or_lacking(hand):
    """Issue 11.4: per result, each asked-for value it has and each it lacks, then its EI path, from edges."""
    info, facts, ex = hand
    a = lambda k: _n(info, schema.ATTRIBUTE, k)  # noqa: E731
    asked = ["color:black", "length:maxi", "details:pockets", "details:belt", "fit:a-line", "category:dress"]
    cand = _n(info, schema.IMAGE, "red-dress")
    results = [_n(info, schema.IMAGE, i) for i in IMAGES if i != "red-dress"]
    for exp, image in zip(ex.explain_many(cand, [a(k) for k in asked], results), results, strict=True):
        have = set(IMAGES[facts.image_names[image]])
        assert set(exp.matched) == set(asked) & have and set(exp.missing) == set(asked) - have
        head = exp.text.split(";")[0].lower()
        for key in asked:  # five values, more than human_list names: none is cut to "N more"
            value = key.split(":")[1]
            if key.startswith("category:"):
                assert (f"is a {value}" if key in have else f"is not a {value}") in head, (key, head)
            else:
                assert value in (head.split("but")[0] if key in have else head.split("lacks")[1]), (key, head)
        assert exp.path[0] == "clothing" and exp.path[-1] == facts.value(a(f"category:{exp.path[-1]}"))
        assert "EI path " + " > ".join(exp.path) in exp.text
        rels = {(e.src.label, e.relation, e.dst.label) for e in exp.edges}
        for k in exp.matched:
            assert (facts.image_names[image], "has_attribute", k) in rels
        leaf = f"category:{exp.path[-1]}"
        assert (leaf, "is_a", exp.path[-2]) in rels and (exp.path[-2], "is_a", exp.path[-3]) in rels
        assert_in_graph(info.graph, info.ids, exp)
    only_lacks = ex.explain(None, [a("details:pockets"), a("category:skirt")], _n(info, schema.IMAGE, "black-jumpsuit"))
    assert only_lacks.text.startswith("Is not a skirt and lacks pockets, which you asked for;")


def test_facts_arrays(hand):
    info, facts, _ = hand
    dress = _n(info, schema.ATTRIBUTE, "category:dress")
    assert sorted(facts.images_with(dress).tolist()) == [0, 1]
    counts = facts.match_counts({dress: 1.5, _n(info, schema.ATTRIBUTE, "color:black"): 1.0}, 4)
    assert counts.tolist() == [1.5, 2.5, 1.0, 0.0]
    assert human_list(["a", "b", "c"]) == "a, b and c" and human_list(list("abcdef")).endswith("3 more")
    assert plural("dress") == "dresses" and plural("jeans") == "jeans" and plural("color") == "colors"


def test_trained_engine_explanations_exist_in_the_graph(tiny_engine):
    g, ids = tiny_engine.model.graph, tiny_engine.model.ids
    qs = [q for q in tiny_engine.model.catalog.queries if q.split == "test"][:4]
    named = 0
    for q in qs:
        for r in tiny_engine.modify(q.source, q.text, k=5):
            if r.explanation.edges:
                assert_in_graph(g, ids, r.explanation)
                named += 1
    for r in tiny_engine.search("black dress with long sleeves", k=5):
        if r.explanation.edges:
            assert_in_graph(g, ids, r.explanation)
            named += 1
    assert named > 0


def test_attributes_from_statements_say_who_stated_them(hand):
    from retrieval.interactions.overlay import UserState

    info, _, _ = hand
    facts = GraphFacts.from_graph(info.graph, info.ids, Taxonomy.load())  # edited below: not the shared one
    ex = Explainer(facts)
    pockets = _n(info, schema.ATTRIBUTE, "details:pockets")
    skirt, jumpsuit = _n(info, schema.IMAGE, "navy-skirt"), _n(info, schema.IMAGE, "black-jumpsuit")
    catalog = ex.explain(None, [pockets], _n(info, schema.IMAGE, "black-dress"))
    assert catalog.stated == () and catalog.text.startswith("Has pockets as you asked")  # the catalog's: no credit
    facts.add_image_attribute(skirt, pockets, schema.HAS_USER_ATTRIBUTE)
    facts.record_statement(skirt, pockets, "staff-anna")
    exp = ex.explain(None, [pockets], skirt)
    assert exp.stated == (("details:pockets", "staff-anna"),)
    assert exp.text.startswith("Has pockets (stated by staff-anna) as you asked")
    assert exp.path == ("clothing", "bottom", "skirt")
    d = ex.describe(skirt)
    assert ("details:pockets", "staff-anna") in d.stated and "pockets (stated by staff-anna)" in d.text
    # a shopper's own pending statement, in their view only
    eve = UserState(user="eve")
    eve.add_fact(jumpsuit, pockets, schema.HAS_USER_ATTRIBUTE)
    mine = eve.explainer(facts).explain(None, [pockets], jumpsuit)
    assert mine.stated == (("details:pockets", "eve"),)
    assert mine.text.startswith("Has pockets (as you told me) as you asked")
    assert "(stated by staff-anna)" in eve.explainer(facts).explain(None, [pockets], skirt).text
    assert ex.explain(None, [pockets], jumpsuit).stated == ()  # everyone else: the jumpsuit lacks pockets
    # a statement replaced later is no longer credited
    facts.drop_image_attribute(skirt, pockets)
    assert facts.stated_by(skirt, pockets) is None and Explainer(facts).describe(skirt).stated == ()
