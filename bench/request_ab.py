"""A/B latency of ``Engine.modify`` with another version of the EI-tree request step, in one process.

``--old`` names a copy of ``retrieval/engine/request.py`` (e.g. ``git show REV:retrieval/engine/request.py``);
its ``RequestStep`` and the current one take turns on the same engine, the same ``tailor bench`` queries
(:func:`retrieval.evaluation.bench.sample_queries`) and the same minute, so machine load affects both
alike. Each turn starts with the facts' version bumped (both steps' per-version caches dropped, as after
an interaction), times ``modify`` with a cold text cache (``modify``), then with the words cached
(``modify_cached_text``), as ``tailor bench`` does. At the demo size and a synthetic scale-up
(:func:`retrieval.evaluation.bench.scaled_engine`, the bench's index), one torch / FAISS thread.

    git show 04d3bac:retrieval/engine/request.py > /tmp/old_request.py
    nice -n 10 .venv/bin/python bench/request_ab.py --model build/demo/engine --old /tmp/old_request.py --json ab.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import faiss
import torch

from retrieval.engine.facade import Engine
from retrieval.engine.request import RequestStep
from retrieval.evaluation.bench import BenchConfig, sample_queries, scaled_engine, time_calls
from retrieval.index.heap import settle
from retrieval.interactions.log import InteractionLog, LogConfig
from retrieval.interactions.records import as_url
from retrieval.metrics import percentiles

log = logging.getLogger("request_ab")


def old_step(engine: Engine, path: str) -> RequestStep:
    """A ``RequestStep`` of the module at ``path`` over ``engine``'s graph state."""
    spec = importlib.util.spec_from_file_location("old_request", path)
    assert spec is not None and spec.loader is not None
    mod = sys.modules["old_request"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
    spec.loader.exec_module(mod)
    g, it = engine.graph, engine.items
    step: RequestStep = mod.RequestStep(
        mod.Evidence(g.facts, it.categories, it.captions, g.taxonomy), g.embeddings, it.product_ids, g.taxonomy
    )
    return step


def turns(engine: Engine, steps: dict[str, RequestStep], mods: list, rounds: int, k: int) -> dict[str, dict]:
    """Per step: p50 / p99 of each round's timings pooled (cold and cached text), turns alternating."""
    times: dict[str, dict[str, list[float]]] = {name: {"modify": [], "modify_cached_text": []} for name in steps}
    for r in range(rounds):
        order = list(steps) if r % 2 == 0 else list(steps)[::-1]
        for name in order:
            engine.answer._step = steps[name]
            engine.facts.version += 1  # as an interaction does: per-version caches dropped

            def cold(i: int) -> object:
                engine.clear_text_cache()
                return engine.modify(*mods[i], k=k)

            times[name]["modify"] += time_calls(cold, len(mods), 0, f"{name} modify")
            times[name]["modify_cached_text"] += time_calls(
                lambda i: engine.modify(*mods[i], k=k), len(mods), 0, f"{name} cached"
            )
            log.info("round %d %s done (load %.1f)", r, name, os.getloadavg()[0])
    out = {}
    for name, t in times.items():
        out[name] = {**percentiles(t["modify"], "modify"), **percentiles(t["modify_cached_text"], "modify_cached_text")}
    return out


def main() -> int:
    """CLI entry point."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--old", required=True, help="the other request.py")
    p.add_argument("--size", type=int, default=200_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--json", required=True, help="where to write the report")
    args = p.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    cfg = BenchConfig(queries=args.queries)
    log_db = InteractionLog(LogConfig(url=as_url(Path(tempfile.mkdtemp(prefix="ab-")) / "log.db")))
    engine = Engine.load(args.model, log=log_db, replay=False)  # the model directory is not written
    settle()
    mods, _ = sample_queries(engine, cfg.queries, cfg.seed)
    icfg = engine.cfg.index_for(args.size)
    big = scaled_engine(
        engine, args.size, seed=cfg.seed, noise=cfg.noise, index_cfg=cfg.hnsw if icfg.kind == "hnsw" else icfg
    )
    settle()
    report = {}
    for size, eng in (("demo", engine), (str(args.size), big)):
        steps = {"old": old_step(eng, args.old), "new": eng.answer.request_step(eng.graph)}
        for _ in range(2):  # warm-up: both steps' loaded-graph work, the engines' own caches
            turns(eng, steps, mods[:20], 1, cfg.k)
        report[size] = turns(eng, steps, mods, args.rounds, cfg.k)
        log.info("%s: %s", size, json.dumps(report[size]))
    Path(args.json).write_text(json.dumps({**report, "load_avg_1m": round(os.getloadavg()[0], 2)}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
