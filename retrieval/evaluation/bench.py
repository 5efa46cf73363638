"""``tailor bench``: p50 / p99 latency of ``search`` and ``modify`` (explanations included).

Measured at the demo size (the model's own catalog) and on synthetic scale-ups (200,000 images by
default). A scale-up is for LATENCY only: the real image embeddings are replicated with Gaussian
noise and each copy keeps its source image's attribute nodes (so tiers, filters and explanations
do the same work); queries use real candidates and real modification texts. At each size:

* ``index``: the index the engine uses at that size (exact below ``EngineConfig.hnsw_above`` images,
  HNSW above); every figure without an index name is measured on it;
* ``modify_*``: the whole ``Engine.modify`` with a cold text-feature cache (text encoder, caption
  node as a sink, composition, FAISS search, explanations);
* ``modify_cached_text_*``: the same with the text feature cached (a repeated wording): the part
  that grows with the catalog;
* ``search_*``: ``Engine.search`` (first turn), cold text cache;
* ``numpy_modify_*``: ``modify`` (cached text) with a brute-force numpy scan instead of FAISS;
* ``exact`` / ``hnsw``: cached-text ``modify`` on each FAISS index, its build time (null: the
  engine's own index), HNSW's ``recall@10`` against exact;
* ``text_encode_*``: the text encoder alone.

* ``explain_*`` (demo size): "why this one?" latency and how its weights compare with real edge removals
  (:mod:`retrieval.evaluation.bench_explain`);
* ``interaction_p50_ms`` / ``interaction_p99_ms`` (demo size): one interaction incorporated (graph edit,
  k-hop re-embedding, index update) on a fresh engine copy, and ``full_reembed_ms``, a full forward of
  the same graph (:mod:`retrieval.evaluation.bench_interactions`).

Everything runs with one torch / FAISS thread. Measures are added through :data:`EXTRA_MEASURES`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
import torch
from tqdm import tqdm

from retrieval.engine.facade import Engine
from retrieval.errors import ConfigError
from retrieval.evaluation.bench_explain import measure_explanations
from retrieval.evaluation.bench_interactions import measure_interactions, measure_undo, measure_undo_like
from retrieval.evaluation.bench_report import plot_latency
from retrieval.graph.explain import Csr, GraphFacts, plural
from retrieval.index.heap import settle
from retrieval.index.state import GraphState, Items
from retrieval.index.vectors import IndexConfig, VectorIndex
from retrieval.metrics import percentiles

log = logging.getLogger(__name__)

DEFAULT_SIZES = (200_000,)
SYNTHETIC_NOTE = (
    "sizes other than 'demo' are synthetic: the demo's image embeddings replicated with Gaussian noise, "
    "each copy keeping its source's attribute nodes; the figures are latencies, not retrieval quality"
)

#: Extra measures run on the demo-size engine: ``f(engine, cfg) -> {key: value}`` merged into ``sizes["demo"]``.
EXTRA_MEASURES: list[Callable[[Engine, BenchConfig], dict]] = [
    measure_interactions,
    measure_undo,
    measure_undo_like,
    measure_explanations,
]


@dataclass(frozen=True)
class BenchConfig:
    """What ``tailor bench`` measures.

    Attributes:
        sizes: synthetic catalog sizes (image count) besides the demo.
        queries: timed queries per measurement.
        warmup: untimed queries before each measurement.
        k: results per query.
        seed: seed of the synthetic scale-up and of the query sample.
        noise: standard deviation of the noise added to replicated (unit) embeddings.
        hnsw: the approximate index compared with exact search.
    """

    sizes: tuple[int, ...] = DEFAULT_SIZES
    queries: int = 200
    warmup: int = 10
    k: int = 10
    seed: int = 0
    noise: float = 0.05
    hnsw: IndexConfig = field(default_factory=lambda: IndexConfig(kind="hnsw"))

    def __post_init__(self) -> None:
        if self.queries < 1 or self.k < 1 or any(int(s) < 1 for s in self.sizes):
            raise ConfigError("bench needs queries >= 1, k >= 1 and positive sizes.", fix="e.g. --queries 200")


class NumpyIndex:
    """Brute-force inner-product search in numpy: the baseline FAISS is compared with."""

    kind = "numpy"

    def __init__(self, emb: np.ndarray) -> None:
        self.emb = np.ascontiguousarray(emb, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.emb)

    def search(self, vecs: np.ndarray, k: int, exclude: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Same contract as :meth:`VectorIndex.search` for one or more query rows."""
        scores = np.atleast_2d(vecs).astype(np.float32) @ self.emb.T
        if exclude:
            scores[:, np.fromiter(exclude, dtype=np.int64)] = -np.inf
        k = min(k, len(self.emb) - len(exclude or ()))
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        part = np.take_along_axis(scores, top, 1)
        order = np.argsort(-part, axis=1, kind="stable")
        return np.take_along_axis(part, order, 1), np.take_along_axis(top, order, 1).astype(np.int64)


def time_calls(fn: Callable[[int], object], n: int, warmup: int, desc: str) -> list[float]:
    """Milliseconds of ``fn(i)`` for i in 0..n-1, after ``warmup`` untimed calls."""
    for i in range(min(warmup, n)):
        fn(i)
    out = []
    for i in tqdm(range(n), desc=desc, unit="q", leave=False, disable=n < 50):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


# -- synthetic scale-up ----------------------------------------------------------------------
def scaled_engine(
    engine: Engine, n: int, *, seed: int = 0, noise: float = 0.05, index_cfg: IndexConfig | None = None
) -> Engine:
    """An engine over ``n`` images: the real ones first (unchanged), then noisy copies with their attributes."""
    n0 = len(engine.items.image_ids)
    if n <= n0:
        raise ConfigError(
            f"Synthetic size {n} is not larger than the demo catalog ({n0} images).",
            fix=f"pass --sizes larger than {n0}",
        )
    src = np.arange(n) % n0
    rng = np.random.default_rng(seed)
    emb = engine.embeddings[src].copy()
    emb[n0:] += rng.normal(0.0, noise, size=(n - n0, emb.shape[1])).astype(np.float32)
    emb[n0:] /= np.linalg.norm(emb[n0:], axis=1, keepdims=True)
    f = engine.facts
    lengths = np.diff(f.image_attrs.ptr)[src]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    base = f.image_attrs.idx[: f.image_attrs.ptr[n0]]
    idx = np.concatenate([base] * (n // n0) + [base[: f.image_attrs.ptr[n % n0]]])
    caps = np.zeros(n + 1, dtype=np.int64)
    caps[1 : n0 + 1] = np.diff(f.image_captions.ptr)
    np.cumsum(caps, out=caps)
    it = engine.items
    names = it.image_ids + [f"{it.image_ids[s]}#syn{j}" for j, s in enumerate(src[n0:], n0)]
    facts = GraphFacts(
        image_names=names,
        attr_keys=f.attr_keys,
        concept_names=f.concept_names,
        caption_texts=f.caption_texts,
        image_attrs=Csr(ptr, idx),
        attr_concept=f.attr_concept,
        concept_parent=f.concept_parent,
        image_captions=Csr(caps, f.image_captions.idx),
        caption_attrs=f.caption_attrs,
        exclusive_groups=f.exclusive_groups,
    )
    products = it.product_ids + [f"{it.product_ids[s]}#syn{j // n0}" for j, s in enumerate(src[n0:], n0)]
    items = Items(
        names, products, [it.captions[s] for s in src], [it.categories[s] for s in src], [it.paths[s] for s in src]
    )
    index = build_index(emb, index_cfg or engine.cfg.index)
    return Engine(GraphState(engine.model, items, facts, index, embeddings=emb), engine.cfg)


def build_index(emb: np.ndarray, cfg: IndexConfig) -> VectorIndex:
    """A vector index over ``emb`` (ids 0..n-1)."""
    index = VectorIndex(emb.shape[1], cfg)
    index.add(np.arange(len(emb), dtype=np.int64), emb)
    return index


def with_index(engine: Engine, index) -> Engine:
    """The same engine answering from another index (sharing its query-text cache)."""
    graph = GraphState(engine.model, engine.items, engine.facts, index, embeddings=engine.embeddings)
    return Engine(graph, engine.cfg, text=engine.text)


# -- measurements ----------------------------------------------------------------------------
def sample_queries(engine: Engine, n: int, seed: int) -> tuple[list[tuple[str, str]], list[str]]:
    """``n`` (candidate id, modification text) pairs from the catalog's queries and ``n`` first-turn texts."""
    cat = engine.model.catalog
    qs = [q for q in cat.queries if engine.graph.has_image(q.source) and q.text.strip()]
    qs = [q for q in qs if q.split == "test"] or qs
    if not qs:
        raise ConfigError("The model's catalog has no modification queries to time.", fix="bench a demo-catalog model")
    rng = np.random.default_rng(seed)
    picked = [qs[i] for i in rng.integers(0, len(qs), size=n)]
    images = [cat.image(engine.items.image_ids[i]) for i in rng.integers(0, len(engine.items.image_ids), size=n)]
    searches = [" ".join([*im.caption.split()[:1], plural(im.category.replace("-", " "))]) for im in images]
    return [(q.source, q.text) for q in picked], searches


def measure(
    engine: Engine, mods: list[tuple[str, str]], searches: list[str], cfg: BenchConfig, *, numpy_baseline: bool = True
) -> dict:
    """Latency figures of one engine (cold and cached text, search, numpy baseline)."""
    n, k = len(mods), cfg.k

    def cold_modify(i: int) -> object:
        engine.clear_text_cache()
        return engine.modify(*mods[i], k=k)

    def cold_search(i: int) -> object:
        engine.clear_text_cache()
        return engine.search(searches[i], k=k)

    out: dict[str, float] = {"images": len(engine.items.image_ids)}
    out.update(percentiles(time_calls(cold_modify, n, cfg.warmup, "modify"), "modify"))
    for _, text in mods:
        engine.text_feature(text)
    out.update(
        percentiles(
            time_calls(lambda i: engine.modify(*mods[i], k=k), n, cfg.warmup, "modify cached"), "modify_cached_text"
        )
    )
    out.update(percentiles(time_calls(cold_search, n, cfg.warmup, "search"), "search"))
    if numpy_baseline:
        np_engine = with_index(engine, NumpyIndex(engine.embeddings))
        out.update(
            percentiles(time_calls(lambda i: np_engine.modify(*mods[i], k=k), n, cfg.warmup, "numpy"), "numpy_modify")
        )
    return out


def compare_indexes(engine: Engine, mods: list[tuple[str, str]], cfg: BenchConfig) -> tuple[dict, dict]:
    """Exact and HNSW blocks: build time and cached-text ``modify`` latency of each index, and HNSW's
    recall@k against exact (same query vectors, same exclusions, explanations included).
    """
    k, n = cfg.k, len(mods)
    blocks: dict[str, dict] = {}
    engines: dict[str, Engine] = {}

    def modify_on(eng: Engine) -> Callable[[int], object]:
        """``i -> eng.modify(*mods[i])``, bound to this ``eng``."""
        return lambda i: eng.modify(*mods[i], k=k)

    for kind, icfg in (("exact", IndexConfig(threads=1)), ("hnsw", cfg.hnsw)):
        if engine.index.kind == icfg.kind:
            eng, build_s = engine, None
        else:
            t0 = time.perf_counter()
            eng = with_index(engine, build_index(engine.embeddings, icfg))
            build_s = round(time.perf_counter() - t0, 2)
        engines[kind] = eng
        blocks[kind] = {
            "build_s": build_s,
            **percentiles(time_calls(modify_on(eng), n, cfg.warmup, kind), "modify_cached_text"),
        }
    blocks["hnsw"].update(hnsw_m=cfg.hnsw.hnsw_m, ef_search=cfg.hnsw.ef_search)
    hits = []
    for cand, text in mods:
        a = {r.image_id for r in engines["exact"].modify(cand, text, k=k)}
        b = {r.image_id for r in engines["hnsw"].modify(cand, text, k=k)}
        hits.append(len(a & b) / max(len(a), 1))
    blocks["hnsw"][f"recall@{k}"] = round(float(np.mean(hits)), 4)
    return blocks["exact"], blocks["hnsw"]


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def run_benchmark(
    model_dir: str | Path,
    cfg: BenchConfig | None = None,
    *,
    out_json: str | Path | None = None,
    plot: str | Path | None = None,
) -> dict:
    """Measure the demo size and every synthetic size; write the JSON (and plot) and return the report."""
    cfg = cfg or BenchConfig()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        report = _run(model_dir, cfg)
    finally:
        torch.set_num_threads(threads)
    if out_json:
        Path(out_json).parent.mkdir(parents=True, exist_ok=True)
        Path(out_json).write_text(json.dumps(report, indent=2) + "\n")
    if plot:
        plot_latency(report, plot)
    return report


def _run(model_dir: str | Path, cfg: BenchConfig) -> dict:
    engine = Engine.load(model_dir)
    settle()  # as the action server does once its engine is loaded (retrieval/index/heap.py)
    mods, searches = sample_queries(engine, cfg.queries, cfg.seed)
    t0 = time.perf_counter()
    sizes: dict[str, dict] = {}
    demo = {"index": engine.index.kind, **measure(engine, mods, searches, cfg), "synthetic": False}
    demo["exact"], demo["hnsw"] = compare_indexes(engine, mods, cfg)
    demo.update(
        percentiles(
            time_calls(lambda i: engine.text_feature(f"{mods[i][1]} #{i}"), len(mods), 0, "text"), "text_encode"
        )
    )
    for extra in EXTRA_MEASURES:
        demo.update(extra(engine, cfg))
    sizes["demo"] = demo
    for n in cfg.sizes:
        log.info("bench: synthetic scale-up to %d images", n)
        icfg = engine.cfg.index_for(int(n))
        icfg = cfg.hnsw if icfg.kind == "hnsw" else icfg
        t1 = time.perf_counter()
        big = scaled_engine(engine, int(n), seed=cfg.seed, noise=cfg.noise, index_cfg=icfg)
        settle()
        row = {
            "index": big.index.kind,
            "setup_s": round(time.perf_counter() - t1, 2),
            **measure(big, mods, searches, cfg),
            "synthetic": True,
        }
        row["exact"], row["hnsw"] = compare_indexes(big, mods, cfg)
        sizes[str(n)] = row
        del big
    return {
        "model": str(model_dir),
        "queries": cfg.queries,
        "k": cfg.k,
        "threads": 1,
        "note": SYNTHETIC_NOTE,
        "sizes": sizes,
        "peak_memory_mb": peak_memory_mb(),
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)},
        "config": dataclasses.asdict(cfg),
    }
