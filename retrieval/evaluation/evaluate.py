"""``tailor evaluate``: R@1/10/50/100 of the graph and every baseline, side by side, same features.

Protocol (TIRG's): each test query (candidate image + modification text) ranks the test-split
images, the candidate itself excluded; a hit at k is the true target among the first k. Methods:
image-only, text-only, concat, tirg, composeae, attribute-intersection (A.2), graph-predicted,
graph-caption (A.5; trained here if the model directory lacks it). On a FashionIQ catalog the
published protocol is used instead (:func:`by_category`): R@10/50/100 per category (dress, shirt,
toptee), each over that category's evaluated images, and their average as the results.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np

from retrieval.catalog.records import TEST
from retrieval.errors import ConfigError, DatasetError
from retrieval.evaluation.baselines import (
    LEARNED,
    BaselineConfig,
    Queries,
    attribute_intersection_scores,
    composer_scores,
    image_only_scores,
    train_composer,
)
from retrieval.evaluation.plots import new_figure, save_figure
from retrieval.features.base import torch_threads
from retrieval.graph import schema
from retrieval.metrics import recall_at_k, recall_hits, target_ranks
from retrieval.training.artifacts import TrainedModel, load_model
from retrieval.training.loop import CAPTION_VARIANT_DIR, fit
from retrieval.training.manifest import write_manifest
from retrieval.training.prepare import build_setup
from retrieval.training.run import with_source
from retrieval.training.save import save_model

log = logging.getLogger(__name__)

KS = (1, 10, 50, 100)
FASHIONIQ_KS = (10, 50, 100)
MATCHES = ("product", "image", "caption")
METHODS = (
    "image-only",
    "text-only",
    "concat",
    "tirg",
    "composeae",
    "attribute-intersection",
    "graph-predicted",
    "graph-caption",
)
Scorer = Callable[[Queries, np.ndarray], np.ndarray]


def _queries(tm: TrainedModel, idx: list[int]) -> Queries:
    cat = tm.catalog
    index = tm.ids.index(schema.IMAGE)
    qs = [cat.queries[i] for i in idx]
    return Queries(
        candidates=np.array([index[q.source] for q in qs], dtype=np.int64),
        targets=np.array([index.get(q.target, -1) for q in qs], dtype=np.int64),
        text=tm.query_features[idx] if idx else np.zeros((0, tm.query_features.shape[1]), np.float32),
        texts=[q.text for q in qs],
    )


def graph_scorer(tm: TrainedModel) -> Scorer:
    """Scores of a trained graph model (captions embedded as sinks, as at query time)."""
    emb = tm.image_embeddings()

    def score(q: Queries, pool: np.ndarray) -> np.ndarray:
        qv = tm.embed_queries(q.text, q.candidates.tolist(), [tm.mentions(t) for t in q.texts])
        return qv @ emb[pool].T

    return score


def ensure_caption_variant(tm: TrainedModel, *, progress: bool = True) -> TrainedModel:
    """The model's graph-caption variant, trained into ``MODEL/graph-caption`` when missing."""
    variant = tm.caption_variant()
    if variant is not None:
        return variant
    log.info("training the graph-caption variant (missing from %s)", tm.model_dir)
    cfg = with_source(tm.cfg, "caption")
    setup = build_setup(
        tm.catalog_info["path"],
        cfg,
        cache_dir=tm.model_dir / "feature-cache",
        progress=progress,
        features=(tm.image_features, tm.query_features),
        dataset=tm.dataset,
        skipped_ids=tm.catalog_info.get("skipped_image_ids", []),
    )
    fitted = fit(
        setup.info.graph,
        setup.node_features(),
        setup.train_caption_nodes,
        setup.train_set,
        setup.val_set,
        setup.val_pool,
        cfg,
        progress=progress,
        desc="train graph-caption",
    )
    save_model(tm.model_dir / CAPTION_VARIANT_DIR, cfg, setup, fitted)
    write_manifest(tm.model_dir / CAPTION_VARIANT_DIR)
    return load_model(tm.model_dir / CAPTION_VARIANT_DIR)


def build_scorers(
    tm: TrainedModel,
    methods: Sequence[str],
    train: Queries,
    val: Queries,
    val_pool: np.ndarray,
    cfg: BaselineConfig,
    *,
    progress: bool = True,
) -> tuple[dict[str, Scorer], dict[str, float]]:
    """A scorer per method (training the learned baselines) and each method's training seconds."""
    feats = tm.image_features
    image_attrs: list[list[str]] = [[] for _ in tm.ids.images]
    src, dst = tm.graph.edges(etype=schema.IMAGE_HAS_ATTRIBUTE)
    for i, a in zip(src.tolist(), dst.tolist(), strict=True):
        image_attrs[i].append(tm.ids.attributes[a])
    scorers: dict[str, Scorer] = {}
    seconds: dict[str, float] = {}
    for m in methods:
        t0 = time.perf_counter()
        if m == "image-only":
            scorers[m] = lambda q, pool: image_only_scores(feats, q, pool)
        elif m in LEARNED:
            model = train_composer(m, feats, train, val, val_pool, cfg, progress=progress)
            scorers[m] = partial(composer_scores, model, feats)
        elif m == "attribute-intersection":
            scorers[m] = lambda q, pool: attribute_intersection_scores(feats, image_attrs, q, pool, tm.mention_finder)
        elif m == "graph-predicted":
            scorers[m] = graph_scorer(tm)
        elif m == "graph-caption":
            scorers[m] = graph_scorer(tm if tm.cfg.attribute_source == "caption" else ensure_caption_variant(tm))
        else:
            raise ConfigError(f"Unknown evaluation method {m!r}.", fix=f"use some of {', '.join(METHODS)}")
        seconds[m] = round(time.perf_counter() - t0, 2)
    return scorers, seconds


def evaluate(
    model_dir: str | Path,
    out_json: str | Path | None = None,
    *,
    methods: Sequence[str] = METHODS,
    plot: str | Path | None = None,
    baseline_cfg: BaselineConfig | None = None,
    match: str = "product",
    progress: bool = True,
) -> dict:
    """Evaluate every method on the test queries over the test image pool.

    Args:
        model_dir: a trained model directory.
        out_json: where to write ``{"queries": N, "results": {method: {"R@1": .., ...}}}`` (percent).
        methods: which methods, in table order.
        plot: PNG path of a recall@k plot (None: no plot).
        baseline_cfg: training settings of the learned baselines.
        match: "product" (any photo of the target's product is a hit, like TIRG's caption match) or
            "image" (only the target photo).
        progress: show progress bars.

    Returns:
        The JSON dict written to ``out_json``.
    """
    with torch_threads():
        return _evaluate(
            model_dir, out_json, methods=methods, plot=plot, baseline_cfg=baseline_cfg, match=match, progress=progress
        )


def _evaluate(model_dir, out_json, *, methods, plot, baseline_cfg, match, progress) -> dict:
    tm = load_model(model_dir)
    cat = tm.catalog
    if cat.source_format == "fashioniq" and "graph-caption" in methods:
        log.warning("graph-caption skipped: FashionIQ images have no product captions to split (A.5)")
        methods = [m for m in methods if m != "graph-caption"]
    if [im.image_id for im in cat.images] != tm.ids.images:
        raise DatasetError(
            "the catalog changed since training (image ids differ).",
            path=tm.catalog_info["path"],
            fix="re-train the model on the current catalog",
        )
    test_idx = [i for i in tm.splits["test"] if cat.queries[i].target in cat]
    if not test_idx:
        raise DatasetError(
            "no test queries with a known target.",
            path=tm.catalog_info["path"],
            fix="evaluate on a catalog whose test queries name their targets",
        )
    pool = np.array([i for i, im in enumerate(cat.images) if im.split == TEST], dtype=np.int64)
    val_idx = tm.splits["val"]
    train, val = _queries(tm, tm.splits["train"]), _queries(tm, val_idx)
    val_splits = {cat.images[t].split for t in val.targets if t >= 0}
    val_pool = np.array([i for i, im in enumerate(cat.images) if im.split in val_splits], dtype=np.int64)
    scorers, seconds = build_scorers(
        tm, methods, train, val, val_pool, baseline_cfg or BaselineConfig(), progress=progress
    )
    q = _queries(tm, test_idx)
    hits = hit_images(tm, q, match)
    ranks = {m: _ranks(scorers[m], q, pool, hits) for m in methods}
    report: dict = {"dataset": cat.source_format, "match": match, "queries": len(test_idx)}
    if cat.source_format == "fashioniq":
        per = by_category(tm, scorers, test_idx, TEST, match, FASHIONIQ_KS)
        report["results"] = {m: _average(per[m], FASHIONIQ_KS) for m in methods}
        report["categories"] = per
    else:
        report["results"] = {m: recall_at_k(ranks[m], KS) for m in methods}
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=2) + "\n")
    if plot:
        plot_recalls(ranks, plot, title=f"{len(test_idx)} test queries, pool {len(pool)} images")
    log.info("evaluation done (training seconds %s)", seconds)
    return report


def _ranks(scorer: Scorer, q: Queries, pool: np.ndarray, hits: list[list[int]], chunk: int = 512) -> np.ndarray:
    size = 1 + max(int(pool.max()), int(q.candidates.max()), max((max(h) for h in hits if h), default=0))
    col = np.full(size, -1, dtype=np.int64)
    col[pool] = np.arange(len(pool))
    out = []
    for lo in range(0, len(q), chunk):
        sl = slice(lo, lo + chunk)
        part = Queries(q.candidates[sl], q.targets[sl], q.text[sl], q.texts[sl])
        t = [col[np.array(h, dtype=np.int64)] if h else np.zeros(0, np.int64) for h in hits[lo : lo + chunk]]
        out.append(target_ranks(scorer(part, pool), t, col[part.candidates]))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def hit_images(tm: TrainedModel, q: Queries, match: str) -> list[list[int]]:
    """Per query, the image nodes that count as a hit: the target ("image") or its product's photos ("product")."""
    if match not in MATCHES:
        raise ConfigError(f"Unknown match rule {match!r}.", fix=f"use one of {MATCHES}")
    if match == "image":
        return [[int(t)] if t >= 0 else [] for t in q.targets]
    if match == "caption":  # TIRG's Fashion200K rule: any image with the target's caption
        by_caption: dict[str, list[int]] = {}
        for i, im in enumerate(tm.catalog.images):
            by_caption.setdefault(im.caption, []).append(i)
        return [by_caption[tm.catalog.images[t].caption] if t >= 0 else [] for t in q.targets]
    by_product: dict[str, list[int]] = {}
    for i, im in enumerate(tm.catalog.images):
        by_product.setdefault(im.product_id, []).append(i)
    return [by_product[tm.catalog.images[t].product_id] if t >= 0 else [] for t in q.targets]


def by_category(
    tm: TrainedModel,
    scorers: dict[str, Scorer],
    idx: list[int],
    split: str,
    match: str,
    ks: Sequence[int],
) -> dict[str, dict[str, dict]]:
    """Per method and category: R@k of the queries ``idx`` over that category's images of ``split``.

    Returns:
        ``{method: {category: {"R@10": .., ..., "queries": n, "gallery": images}}}``.
    """
    cat = tm.catalog

    def category_of(i: int) -> str:
        return cat.queries[i].category or cat.image(cat.queries[i].source).category

    out: dict[str, dict] = {m: {} for m in scorers}
    for category in sorted({category_of(i) for i in idx}):
        sub = [i for i in idx if category_of(i) == category]
        pool = np.array([j for j, im in enumerate(cat.images) if im.split == split and im.category == category])
        if not len(pool):
            continue
        q = _queries(tm, sub)
        hits = hit_images(tm, q, match)
        for m, scorer in scorers.items():
            out[m][category] = {
                **recall_at_k(_ranks(scorer, q, pool, hits), ks),
                "queries": len(sub),
                "gallery": len(pool),
            }
    return out


def _average(per_category: dict[str, dict], ks: Sequence[int]) -> dict[str, float]:
    """The mean over categories of each R@k (FashionIQ's reported average)."""
    if not per_category:
        return {f"R@{k}": 0.0 for k in ks}
    return {f"R@{k}": round(float(np.mean([r[f"R@{k}"] for r in per_category.values()])), 2) for k in ks}


def evaluate_by_category(
    model_dir: str | Path,
    *,
    methods: Sequence[str] = ("graph-predicted",),
    split: str = TEST,
    ks: Sequence[int] = FASHIONIQ_KS,
    baseline_cfg: BaselineConfig | None = None,
    match: str = "product",
) -> dict:
    """FashionIQ protocol on any model: per category, R@k over that category's images of ``split``.

    Returns:
        ``{method: {category: {"R@10": .., "R@50": .., "R@100": .., "queries": n, "gallery": images}}}``.
    """
    tm = load_model(model_dir)
    cat = tm.catalog
    idx = [i for i in tm.splits.get(split, []) if cat.queries[i].target in cat]
    train, val = _queries(tm, tm.splits["train"]), _queries(tm, tm.splits["val"])
    val_pool = np.array([i for i, im in enumerate(cat.images) if im.split != TEST], dtype=np.int64)
    scorers, _ = build_scorers(tm, methods, train, val, val_pool, baseline_cfg or BaselineConfig(), progress=False)
    return by_category(tm, scorers, idx, split, match, ks)


def markdown_table(report: dict) -> str:
    """The results as a markdown table (methods as rows, R@k as columns)."""
    results = report["results"]
    cols = list(next(iter(results.values())).keys()) if results else []
    lines = [f"| method ({report['queries']} queries) | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for m, r in results.items():
        lines.append(f"| {m} | " + " | ".join(f"{r[c]:.2f}" for c in cols) + " |")
    return "\n".join(lines)


def plot_recalls(ranks: dict[str, np.ndarray], path: str | Path, *, title: str = "", max_k: int = 100) -> Path:
    """Write a recall@k (k = 1..max_k) plot of every method as PNG."""
    ks = list(range(1, max_k + 1))
    fig, ax = new_figure((7, 4.5))
    for m, r in ranks.items():
        hits = recall_hits(r, ks)
        ax.plot(
            ks,
            [100.0 * hits[k] / len(r) if len(r) else 0.0 for k in ks],
            label=m,
            linewidth=2.2 if m.startswith("graph") else 1.2,
        )
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k (%)")
    ax.set_title(title or "recall@k")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
