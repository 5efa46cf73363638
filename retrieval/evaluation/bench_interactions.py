"""Interaction latency for ``tailor bench`` (issue 4): one interaction incorporated vs a full re-embed.

On a FRESH copy of the demo-size engine (the bench's own engine is not edited, so its other figures
are unaffected), single interactions are timed through :meth:`Engine.apply_edit`: graph edit, k-hop
re-embedding of the cached states (:mod:`retrieval.model.reembed`, the engine's tolerance) and index update,
no training. They alternate between the two kinds of paper 2.2 on real test queries:

* "I like that": the query's target and its 2 nearest images are liked (``liked_with`` pairs,
  ``liked_for`` a new caption node of the query's words, ``liked_from`` the candidate);
* "more metadata": an image gets one of its true attributes as a ``has_user_attribute`` edge.

Text features are computed before timing (the words were encoded when the query ran). Then
``full_reembed_ms`` times a full forward (:meth:`TrainedModel.refresh`) of the same edited graph, and
``interaction_max_error`` is the largest difference between the incrementally kept image embeddings
and the exact ones that refresh computes (unit vectors; 0 with an exact tolerance).
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retrieval.engine.config import EngineConfig
from retrieval.engine.facade import Engine
from retrieval.graph import schema
from retrieval.index.heap import settle
from retrieval.metrics import percentile, percentiles
from retrieval.training.sim_edits import true_attributes

log = logging.getLogger(__name__)

LIKED = 3  # images liked per timed "I like that"
FULL_REPEATS = 5


def _interactions(engine, n: int, seed: int) -> list[Callable[[], dict]]:
    """``n`` edits (kwargs of ``Engine.apply_edit``), built lazily so new caption ids are the next free ones."""
    tm = engine.model
    cat = tm.catalog
    node = tm.ids.index(schema.IMAGE)
    attr_index = tm.ids.index(schema.ATTRIBUTE)
    rng = np.random.default_rng(seed)
    qs = [q for q in cat.queries if q.split == "test" and q.source in node and q.target in node] or [
        q for q in cat.queries if q.source in node and q.target in node
    ]
    truth = true_attributes(cat)
    out: list[Callable[[], dict]] = []
    for i in range(n):
        if i % 2 == 0 and qs:
            q = qs[int(rng.integers(len(qs)))]
            cand, target = node[q.source], node[q.target]
            _, near = engine.index.search(engine.embeddings[target][None], LIKED + 2, exclude={cand})
            liked = list(dict.fromkeys([target, *(int(x) for x in near[0] if x >= 0)]))[:LIKED]
            feat = engine.text_feature(q.text)

            def like(q=q, cand=cand, liked=liked, feat=feat) -> dict:
                cap = tm.buffer.num_nodes(schema.CAPTION)  # not tm.graph: that writes pending edits into DGL
                pairs = [(a, b) for j, a in enumerate(liked) for b in liked[j + 1 :]]
                return {
                    "nodes": {schema.CAPTION: [(q.text, feat)]},
                    "edges": {
                        schema.IMAGE_LIKED_WITH: pairs,
                        schema.IMAGE_LIKED_FOR: [(a, cap) for a in liked],
                        schema.IMAGE_LIKED_FROM: [(a, cand) for a in liked if a != cand],
                    },
                }

            out.append(like)
        else:
            image = int(rng.integers(len(tm.ids.images)))
            keys = [k for k in truth[image] if k in attr_index] or list(attr_index)
            attr = attr_index[keys[int(rng.integers(len(keys)))]]
            out.append(partial(_metadata_edit, image, attr))
    return out


def _metadata_edit(image: int, attr: int) -> dict:
    """The ``apply_edit`` kwargs of one "more metadata" interaction: ``image`` gets user attribute ``attr``."""
    return {"edges": {schema.IMAGE_HAS_USER_ATTRIBUTE: [(image, attr)]}}


def measure_interactions(engine, cfg) -> dict:
    """``interaction_p50_ms`` / ``_p99_ms``, ``full_reembed_ms`` and the approximation error (see module doc)."""
    fresh = Engine.load(engine.model.model_dir)
    settle()  # as a serving process does after loading (retrieval/index/heap.py)
    edits = _interactions(fresh, cfg.queries + cfg.warmup, cfg.seed + 1)
    ms = []
    for i, edit in enumerate(tqdm(edits, desc="interactions", unit="edit", leave=False, disable=len(edits) < 50)):
        kwargs = edit()
        t0 = time.perf_counter()
        fresh.apply_edit(**kwargs)
        if i >= cfg.warmup:
            ms.append((time.perf_counter() - t0) * 1000.0)
    out = percentiles(ms, "interaction")
    kept = fresh.model.image_embeddings().copy()
    full = []
    for _ in range(FULL_REPEATS):
        t0 = time.perf_counter()
        fresh.model.refresh()
        full.append((time.perf_counter() - t0) * 1000.0)
    out["full_reembed_ms"] = round(percentile(full, 50), 3)
    out["interaction_speedup"] = round(out["full_reembed_ms"] / max(out["interaction_p50_ms"], 1e-9), 1)
    out["interaction_max_error"] = round(float(np.abs(kept - fresh.model.image_embeddings()).max()), 6)
    out["interaction_reembed_tol"] = fresh.model.reembed_tol
    log.info("interactions: %s", out)
    return out


UNDO_REPEATS = 3
SHOPPER_PAUSE_S = 0.02


def measure_undo(engine, cfg) -> dict:
    """A global undo on a live engine while a shopper searches every 20 ms (``undo_global_ms``: the
    reload and replay; ``undo_longest_search_ms``: the longest search the shopper saw meanwhile, as the
    reload runs outside the engine lock). Its own engine and a temporary log: the model's log is untouched.
    """
    undo_ms, longest = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ecfg = EngineConfig(log_url=f"sqlite:///{Path(tmp) / 'bench.db'}", trusted=("bench-staff",))
        live = Engine.load(engine.model.model_dir, cfg=ecfg)
        settle()
        image = live.items.image_ids[0]
        stop, waits = threading.Event(), []

        def shopper() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                live.search("summer dress", k=cfg.k)
                waits.append((time.perf_counter() - t0) * 1000.0)
                time.sleep(SHOPPER_PAUSE_S)

        for _ in tqdm(range(UNDO_REPEATS), desc="global undo", unit="undo", leave=False):
            receipt = live.add_metadata(image, "it is made of linen", "bench-staff")
            waits.clear()
            stop.clear()
            thread = threading.Thread(target=shopper, daemon=True)
            thread.start()
            t0 = time.perf_counter()
            live.undo(receipt.interaction_id, "bench-staff")
            undo_ms.append((time.perf_counter() - t0) * 1000.0)
            stop.set()
            thread.join()
            longest.append(max(waits, default=0.0))
        live.interaction_log.close()
    out = {"undo_global_ms": round(percentile(undo_ms, 50), 1), "undo_longest_search_ms": round(max(longest), 1)}
    log.info("global undo: %s", out)
    return out


UNDO_LIKE_REPEATS = 20


def measure_undo_like(engine, cfg) -> dict:
    """Undo of a like in the shared graph (``like_scope="global"``) on a live engine, while a shopper
    searches every 20 ms: ``undo_like_p50_ms`` / ``undo_like_p99_ms`` per undo (taken back out
    incrementally under the lock, :meth:`InteractionState.unapply_like`) and ``undo_like_longest_search_ms``.

    Each like is a real test query's (candidate, words) and its top 3 results; its own engine and a
    temporary log, so the model's log is untouched.
    """
    undo_ms, waits = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ecfg = EngineConfig(log_url=f"sqlite:///{Path(tmp) / 'bench.db'}", like_scope="global")
        live = Engine.load(engine.model.model_dir, cfg=ecfg)
        settle()
        cat, node = live.model.catalog, live.model.ids.index(schema.IMAGE)
        qs = [q for q in cat.queries if q.split == "test" and q.source in node] or list(cat.queries)
        rng = np.random.default_rng(cfg.seed)
        stop = threading.Event()

        def shopper() -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                live.search("summer dress", k=cfg.k)
                waits.append((time.perf_counter() - t0) * 1000.0)
                time.sleep(SHOPPER_PAUSE_S)

        def like_and_undo() -> float:
            q = qs[int(rng.integers(len(qs)))]
            liked = [r.image_id for r in live.modify(q.source, q.text, k=LIKED)]
            receipt = live.like(q.source, q.text, liked, "bench-shopper")
            t0 = time.perf_counter()
            live.undo(receipt.interaction_id, "bench-shopper")
            return (time.perf_counter() - t0) * 1000.0

        live.search("summer dress", k=cfg.k)
        like_and_undo()  # untimed: the text and query encoders load first
        thread = threading.Thread(target=shopper, daemon=True)
        thread.start()
        try:
            for _ in tqdm(range(UNDO_LIKE_REPEATS), desc="undo of a like", unit="undo", leave=False):
                undo_ms.append(like_and_undo())
        finally:
            stop.set()
            thread.join()
            live.interaction_log.close()
    out = {
        **percentiles(undo_ms, "undo_like", qs=(50, 99)),
        "undo_like_longest_search_ms": round(max(waits, default=0.0), 1),
    }
    log.info("undo of a like: %s", out)
    return out
