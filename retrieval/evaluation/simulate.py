"""``tailor simulate``: the paper's interaction experiments (3.2, Tables 3 and 4), with no training.

Every row starts from a freshly loaded engine; simulated interactions are graph edits applied through
:meth:`retrieval.engine.facade.Engine.apply_edit` (graph, k-hop re-embedding, index), then the row is
evaluated as ``tailor evaluate`` does: the test queries rank the test-split images, candidate
excluded, a hit is the target's product (``match``), recall in percent. The model must have learned
the interaction relations beforehand (A.3: ``TrainConfig.interaction_warmup``); nothing is trained here.

``more-metadata`` (Table 3): a person states images' TRUE attributes
(:func:`~retrieval.training.sim_edits.true_attributes`)
as ``has_user_attribute`` edges. AA1 the model as trained (predicted attributes); AA2 / AA3 every image
tagged with those of its true attributes that are among the 5 / 15 most frequent; AA4 as AA3 on a
seeded half of the images; AA5 every image tagged with its caption-based attributes (A.5: first word,
rest of the caption), new attribute nodes where the graph has none. Query words reach the new nodes:
AA5's queries also mention the caption-based attributes whose whole name they contain (A.5's exact
match), as captions mention attributes when the graph is built. (The paper's AA5 numbers equal its
caption-TRAINED graph; here AA5 is the interaction, on the predicted-attribute model.)

``i-like-that`` (Table 4): BB1 the model as trained; BB2 after ``likes`` interactions, each a query whose
liked set is the 10 pool images nearest its target in the FAISS index (target included, candidate not),
linked by ``liked_with`` (every pair once), ``liked_for`` (to a new caption node of the query's words)
and ``liked_from`` (to the candidate), all in one batched edit. Connection accuracy (the paper's): among
the interaction queries whose top 10 contains a liked image, the share containing at least two.

Overlap: as in the paper, the interactions are made on the EVALUATED test queries (a shopper liked
results for a query and asks again), and the liked set contains the target, so BB2 measures how well
the model follows likes, not generalisation to unseen queries. The report says so (``overlap``) and adds
``held_out``: BB1 / BB2 recall of the test queries that got no interaction, when there are any, and
``held_out_close``: those of them whose candidate and words are close to a liked query's (cosine of the
candidates' embeddings >= ``close_candidate`` and of the query-text features >= ``close_caption``): does
a like help the next shopper who asks nearly the same?
``like_split="train"`` puts the interactions on training queries (over the training images) instead:
then no evaluated query overlaps an interaction.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retrieval.catalog.records import SPLITS, TEST
from retrieval.engine.facade import Engine
from retrieval.errors import ConfigError, DatasetError
from retrieval.evaluation.baselines import Queries
from retrieval.evaluation.evaluate import MATCHES, Scorer, _queries, _ranks, graph_scorer, hit_images
from retrieval.evaluation.simulate_report import markdown_table, plot_rows
from retrieval.features.base import torch_threads
from retrieval.graph import schema
from retrieval.graph.build import PhraseMatcher, attribute_name, caption_attribute_keys
from retrieval.metrics import recall_at_k
from retrieval.training.sim_edits import (
    LIKED_PER_INTERACTION,
    METADATA_TOP,
    attribute_ranking,
    count_edges,
    like_edges,
    liked_sets,
    metadata_edges,
    true_attributes,
)

log = logging.getLogger(__name__)

PROTOCOLS = ("more-metadata", "i-like-that")


@dataclass(frozen=True)
class SimulateConfig:
    """How ``tailor simulate`` runs (saved in its JSON report).

    Attributes:
        likes: "I like that" interactions (Table 4: 1,000); fewer when the split has fewer queries.
        liked: images liked per interaction (3.2: 10).
        like_split: queries the likes are made on: "test" (the paper's, overlapping the evaluated ones)
            or "train" (no overlap; liked sets from the training images).
        connection_k: top-k of the connection accuracy (the paper: 10).
        half: share of the images AA4 tags.
        match: "product" (any photo of the target's product is a hit, as ``tailor evaluate``) or "image".
        ks: recall cut-offs.
        reembed_tol: tolerance of the k-hop re-embedding after the batched edits (0 = exact).
        seed: seed of AA4's half and of the interaction sample.
        close_candidate: least candidate-embedding cosine of a held-out query "close" to a liked one.
        close_caption: least query-text-feature cosine of a held-out query "close" to a liked one.
    """

    likes: int = 1000
    liked: int = LIKED_PER_INTERACTION
    like_split: str = TEST
    connection_k: int = 10
    half: float = 0.5
    match: str = "product"
    ks: tuple[int, ...] = (1, 10, 50)
    reembed_tol: float = 0.0
    seed: int = 0
    close_candidate: float = 0.6
    close_caption: float = 0.6

    def __post_init__(self) -> None:
        if self.like_split not in SPLITS or self.match not in MATCHES:
            raise ConfigError(
                f"SimulateConfig needs like_split in {SPLITS} and match in {MATCHES}.",
                fix="use like_split='test', match='product'",
            )
        if self.likes < 1 or self.liked < 2 or self.connection_k < 2 or not 0.0 < self.half <= 1.0:
            raise ConfigError(
                "SimulateConfig needs likes >= 1, liked >= 2, connection_k >= 2, 0 < half <= 1.",
                fix="use the defaults (1000 likes of 10 images, top 10, half 0.5)",
            )


@dataclass
class EvalSet:
    """Queries of one split as node ids, the images they rank, and what counts as a hit."""

    idx: list[int]
    q: Queries
    pool: np.ndarray
    hits: list[list[int]]

    def subset(self, rows: np.ndarray | list[int]) -> EvalSet:
        """The same evaluation restricted to query positions ``rows``."""
        r = np.asarray(rows, dtype=np.int64)
        q = Queries(self.q.candidates[r], self.q.targets[r], self.q.text[r], [self.q.texts[i] for i in r])
        return EvalSet([self.idx[i] for i in r], q, self.pool, [self.hits[i] for i in r])


def interaction_edges(engine: Engine) -> int:
    """Edges of the interaction relations already in the engine's graph (a replayed log; 0 for a fresh model)."""
    g = engine.model.graph
    return sum(int(g.num_edges(e)) for e in schema.RESERVED_RELATIONS if e in g.canonical_etypes)


def eval_set(engine: Engine, split: str, match: str) -> EvalSet:
    """The queries of ``split`` with a known target, ranking the images of ``split`` (as ``tailor evaluate``)."""
    tm = engine.model
    cat = tm.catalog
    idx = [i for i in tm.splits.get(split, []) if cat.queries[i].target in cat]
    pool = np.array([i for i, im in enumerate(cat.images) if im.split == split], dtype=np.int64)
    if not idx or not len(pool):
        raise DatasetError(
            f"no {split} queries with a known target (or no {split} images).",
            path=tm.catalog_info["path"],
            fix="simulate on a catalog whose queries name their targets",
        )
    q = _queries(tm, idx)
    return EvalSet(idx, q, pool, hit_images(tm, q, match))


def mention_scorer(engine: Engine, extra: PhraseMatcher | None = None) -> Scorer:
    """The graph's scorer on the engine's current states; ``extra`` adds mentions of new attribute nodes."""
    tm = engine.model
    if extra is None:
        return graph_scorer(tm)
    emb = tm.image_embeddings()
    index = tm.ids.index(schema.ATTRIBUTE)

    def mentions(text: str) -> list[int]:
        return list(dict.fromkeys([*tm.mentions(text), *(index[k] for k in extra(text) if k in index)]))

    def score(q: Queries, pool: np.ndarray) -> np.ndarray:
        qv = tm.embed_queries(q.text, q.candidates.tolist(), [mentions(t) for t in q.texts])
        return qv @ emb[pool].T

    return score


def row_recalls(engine: Engine, ev: EvalSet, cfg: SimulateConfig, extra: PhraseMatcher | None = None) -> dict:
    """``{"R@1": .., "R@10": .., "R@50": ..}`` of the engine's current graph."""
    return recall_at_k(_ranks(mention_scorer(engine, extra), ev.q, ev.pool, ev.hits), cfg.ks)


def top_k(scorer: Scorer, ev: EvalSet, k: int) -> np.ndarray:
    """``[n, k]`` image node ids each query ranks first (candidate excluded)."""
    s = scorer(ev.q, ev.pool).astype(np.float64)
    col = np.full(1 + int(max(ev.pool.max(), ev.q.candidates.max())), -1, dtype=np.int64)
    col[ev.pool] = np.arange(len(ev.pool))
    rows = np.arange(len(s))
    cand = col[ev.q.candidates]
    s[rows[cand >= 0], cand[cand >= 0]] = -np.inf
    k = min(k, len(ev.pool))
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    return ev.pool[top]


def close_to(ev: EvalSet, emb: np.ndarray, rows: np.ndarray, liked_rows: np.ndarray, cfg: SimulateConfig) -> np.ndarray:
    """The ``rows`` of ``ev`` whose candidate and words are both close to one query of ``liked_rows``."""
    if not len(rows) or not len(liked_rows):
        return np.zeros(0, dtype=np.int64)

    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    cand, text = unit(emb[ev.q.candidates]), unit(ev.q.text)
    both = np.minimum(
        cand[rows] @ cand[liked_rows].T - cfg.close_candidate, text[rows] @ text[liked_rows].T - cfg.close_caption
    )
    return rows[(both >= 0).any(axis=1)]


def connection_accuracy(top: np.ndarray, liked: list[list[int]]) -> tuple[float, int]:
    """Percent of queries with a liked image in ``top`` that have at least two there, and how many had one."""
    found = np.array([len(set(t.tolist()) & set(lk)) for t, lk in zip(top, liked, strict=True)])
    n = int((found >= 1).sum())
    return (round(100.0 * float((found >= 2).sum()) / n, 2) if n else 0.0), n


# -- protocols ----------------------------------------------------------------------------------
def more_metadata(model_dir: str | Path, cfg: SimulateConfig, *, progress: bool = True) -> dict:
    """Table 3: rows AA1..AA5 (see the module docstring)."""

    def fresh() -> Engine:
        eng = Engine.load(model_dir)
        eng.model.reembed_tol = cfg.reembed_tol
        return eng

    engine = fresh()
    preexisting = interaction_edges(engine)
    ev = eval_set(engine, TEST, cfg.match)
    cat = engine.model.catalog
    truth = true_attributes(cat)
    ranking = attribute_ranking(truth)
    n = len(engine.model.ids.images)
    half = np.sort(np.random.RandomState(cfg.seed).permutation(n)[: round(cfg.half * n)]).tolist()
    plans = [
        ("AA2", ranking[: METADATA_TOP[0]], range(n)),
        ("AA3", ranking[: METADATA_TOP[1]], range(n)),
        ("AA4", ranking[: METADATA_TOP[1]], half),
    ]
    rows = {"AA1": row_recalls(engine, ev, cfg)}
    details: dict[str, dict] = {"AA1": {"edges": 0}}
    bar = tqdm(total=len(plans) + 1, desc="more-metadata", unit="row", disable=not progress)
    for name, keys, images in plans:
        engine = fresh()
        pairs = metadata_edges(truth, keys, images, engine.model.ids.index(schema.ATTRIBUTE))
        engine.apply_edit(edges={schema.IMAGE_HAS_USER_ATTRIBUTE: pairs})
        rows[name] = row_recalls(engine, ev, cfg)
        details[name] = {"edges": len(pairs), "images": len(images), "attributes": list(keys)}
        bar.update()
    engine = fresh()
    caps = [caption_attribute_keys(im.caption) for im in cat.images]
    keys = list(dict.fromkeys(k for c in caps for k in c))
    index = engine.model.ids.index(schema.ATTRIBUTE)
    new = [k for k in keys if k not in index]
    first = engine.model.graph.num_nodes(schema.ATTRIBUTE)
    feats = engine.model.encode_texts([attribute_name(k) for k in new]) if new else []
    pairs = metadata_edges(caps, keys, range(n), {**index, **{k: first + i for i, k in enumerate(new)}})
    engine.apply_edit(
        nodes={schema.ATTRIBUTE: list(zip(new, feats, strict=True))}, edges={schema.IMAGE_HAS_USER_ATTRIBUTE: pairs}
    )
    rows["AA5"] = row_recalls(engine, ev, cfg, PhraseMatcher(keys))
    details["AA5"] = {"edges": len(pairs), "images": n, "new_attribute_nodes": len(new)}
    bar.update()
    bar.close()
    return {
        "protocol": "more-metadata",
        "rows": rows,
        "details": details,
        "queries": len(ev.idx),
        "pool": len(ev.pool),
        "attribute_ranking": ranking[: METADATA_TOP[1]],
        "preexisting_interaction_edges": preexisting,
    }


def i_like_that(model_dir: str | Path, cfg: SimulateConfig, *, progress: bool = True) -> dict:
    """Table 4: BB1 and BB2 (see the module docstring)."""
    engine = Engine.load(model_dir)
    engine.model.reembed_tol = cfg.reembed_tol
    tm = engine.model
    ev = eval_set(engine, TEST, cfg.match)
    like_ev = ev if cfg.like_split == TEST else eval_set(engine, cfg.like_split, cfg.match)
    n = min(cfg.likes, len(like_ev.idx))
    if n < cfg.likes:
        log.warning("only %d %s queries: simulating %d likes, not %d", len(like_ev.idx), cfg.like_split, n, cfg.likes)
    picks = np.sort(np.random.RandomState(cfg.seed).choice(len(like_ev.idx), n, replace=False))
    inter = like_ev.subset(picks)
    rest = np.setdiff1d(np.arange(len(ev.idx)), picks) if cfg.like_split == TEST else np.arange(len(ev.idx))
    bar = tqdm(total=3, desc="i-like-that", unit="step", disable=not progress)
    rows = {"BB1": row_recalls(engine, ev, cfg)}
    held_before = row_recalls(engine, ev.subset(rest), cfg) if len(rest) and cfg.like_split == TEST else None
    close = close_to(ev, engine.embeddings, rest, picks, cfg) if held_before is not None else np.zeros(0, np.int64)
    close_before = row_recalls(engine, ev.subset(close), cfg) if len(close) else None
    liked = liked_sets(
        engine.embeddings, inter.q.targets.tolist(), inter.q.candidates.tolist(), like_ev.pool, cfg.liked
    )
    conn_before, _ = connection_accuracy(top_k(graph_scorer(tm), inter, cfg.connection_k), liked)
    bar.update()
    edges = like_edges(liked, inter.q.candidates.tolist(), tm.graph.num_nodes(schema.CAPTION))
    before = {e: int(tm.graph.num_edges(e)) for e in schema.LIKE_RELATIONS}
    engine.apply_edit(nodes={schema.CAPTION: list(zip(inter.q.texts, inter.q.text, strict=True))}, edges=edges)
    added = sum(int(tm.graph.num_edges(e)) - before[e] for e in schema.LIKE_RELATIONS)
    bar.update()
    conn, conn_n = connection_accuracy(top_k(graph_scorer(tm), inter, cfg.connection_k), liked)
    rows["BB2"] = {**row_recalls(engine, ev, cfg), "edges": added, "connection_accuracy": conn}
    bar.update()
    bar.close()
    report = {
        "protocol": "i-like-that",
        "rows": rows,
        "queries": len(ev.idx),
        "pool": len(ev.pool),
        "preexisting_interaction_edges": interaction_edges(engine) - added,
        "interactions": n,
        "interaction_split": cfg.like_split,
        "overlap": cfg.like_split == TEST,
        "details": {
            "BB2": {
                "edges_by_relation": {schema.etype_key(e): len(v) for e, v in edges.items()},
                "connection_queries": conn_n,
                "connection_accuracy_before": conn_before,
                "with_reverse_edges": 2 * count_edges(edges),
            }
        },
    }
    if held_before is not None:
        report["held_out"] = {
            "queries": len(rest),
            "BB1": held_before,
            "BB2": row_recalls(engine, ev.subset(rest), cfg),
        }
    if close_before is not None:
        report["held_out_close"] = {
            "queries": len(close),
            "BB1": close_before,
            "BB2": row_recalls(engine, ev.subset(close), cfg),
        }
    return report


def simulate(
    model_dir: str | Path,
    protocol: str,
    cfg: SimulateConfig | None = None,
    *,
    out_json: str | Path | None = None,
    markdown: str | Path | None = None,
    plot: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Run one protocol; write the JSON report (``{"rows": {...}, ...}``), its markdown table and plot.

    Args:
        model_dir: a trained model directory (trained with the interaction warm-up).
        protocol: "more-metadata" or "i-like-that".
        cfg: settings.
        out_json: where to write the report.
        markdown: where to write the markdown table.
        plot: PNG path of the recall bars.
        progress: show progress bars.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"Unknown protocol {protocol!r}.", fix=f"use one of {', '.join(PROTOCOLS)}")
    cfg = cfg or SimulateConfig()
    t0 = time.perf_counter()
    with torch_threads():
        run = more_metadata if protocol == "more-metadata" else i_like_that
        report = run(model_dir, cfg, progress=progress)
    report.update(
        model=str(model_dir),
        match=cfg.match,
        seconds=round(time.perf_counter() - t0, 1),
        config=dataclasses.asdict(cfg),
    )
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=2) + "\n")
    if markdown:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(markdown_table(report) + "\n")
    if plot:
        plot_rows(report, plot)
    log.info("simulate %s:\n%s", protocol, markdown_table(report))
    return report
