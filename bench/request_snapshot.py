"""Snapshot of ``Engine.modify``'s EI-tree answers, to prove a rewrite of the request step changes none.

Records (``--record``) or compares with (``--check``) the answers of satisfaction-style requests (1-3
changes, negations included; :func:`retrieval.evaluation.satisfaction.make_requests`) on the demo engine,
then after a staff statement and a like (the facts edited between calls), and on a synthetic scale-up
(:func:`retrieval.evaluation.bench.scaled_engine`). Each answer: image ids in order, scores, unmet values
and how many satisfy. A check passes when ids, order, unmet and satisfied are equal and scores are within
``--tol``. The interaction log is a temporary file: the engine directory is not written.

    .venv/bin/python bench/request_snapshot.py --model build/demo/engine --record /tmp/snap.json
    .venv/bin/python bench/request_snapshot.py --model build/demo/engine --check /tmp/snap.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import faiss
import torch

from retrieval.engine.facade import Engine
from retrieval.evaluation.bench import scaled_engine
from retrieval.evaluation.satisfaction import Truth, make_requests
from retrieval.interactions.log import InteractionLog, LogConfig
from retrieval.interactions.records import as_url

log = logging.getLogger("request_snapshot")
STAFF = "staff:snapshot"


def answers(engine: Engine, queries: list, k: int) -> list[dict]:
    """One record per query: ids, scores, unmet, satisfied."""
    out = []
    for cand, text in queries:
        r = engine.modify(cand, text, k=k)
        out.append(
            {
                "ids": [x.image_id for x in r],
                "scores": [x.score for x in r],
                "unmet": list(r.unmet),
                "satisfied": r.satisfied,
            }
        )
    return out


def snapshot(model: str, per_arity: int, size: int, k: int, queries: list | None = None) -> dict[str, list]:
    """Every phase's answers (see module doc); ``queries``: a recorded snapshot's (the requests' wording
    depends on set order, i.e. on the process's hash seed).
    """
    tmp = Path(tempfile.mkdtemp(prefix="snap-"))
    lg = InteractionLog(LogConfig(url=as_url(tmp / "log.db"), trusted_senders=(STAFF,)))
    engine = Engine.load(model, log=lg, replay=False)
    if queries is None:
        truth = Truth.from_catalog(engine.model.catalog)
        reqs = [r for a in (1, 2, 3) for r in make_requests(truth, engine.taxonomy, a, per_arity, seed=0)]
        queries = [[r.candidate, r.text] for r in reqs if engine.graph.has_image(r.candidate)]
    log.info("%d queries", len(queries))
    t0 = time.perf_counter()
    out: dict[str, list] = {"queries": queries, "demo": answers(engine, queries, k)}
    log.info("demo: %.1f s", time.perf_counter() - t0)
    # edits between calls: a staff statement on the first answers, then a like of the first's top 3
    first = out["demo"][0]["ids"]
    engine.add_metadata(first[0], "that one is linen", STAFF)
    engine.add_metadata(first[1], "it is red", STAFF)
    out["after_statement"] = answers(engine, queries[:60], k)
    engine.like(queries[0][0], queries[0][1], first[:3], STAFF)
    out["after_like"] = answers(engine, queries[:60], k)
    big = scaled_engine(engine, size, seed=0)
    t0 = time.perf_counter()
    out[str(size)] = answers(big, queries, k)
    log.info("%d: %.1f s", size, time.perf_counter() - t0)
    return out


def compare(old: dict[str, list[dict]], new: dict[str, list[dict]], tol: float) -> int:
    """Number of differing answers (each logged)."""
    bad = 0
    for phase, rows in old.items():
        if phase == "queries":
            continue
        for i, (a, b) in enumerate(zip(rows, new[phase], strict=True)):
            same = a["ids"] == b["ids"] and a["unmet"] == b["unmet"] and a["satisfied"] == b["satisfied"]
            same = same and all(abs(x - y) <= tol for x, y in zip(a["scores"], b["scores"], strict=True))
            if not same:
                bad += 1
                log.error("%s #%d differs: %s != %s", phase, i, a, b)
        log.info("%s: %d answers compared", phase, len(rows))
    return bad


def main() -> int:
    """CLI entry point."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--record")
    p.add_argument("--check")
    p.add_argument("--per-arity", type=int, default=100)
    p.add_argument("--size", type=int, default=200_000)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--tol", type=float, default=1e-9)
    args = p.parse_args()
    torch.set_num_threads(1)  # as tailor bench: a multi-threaded HNSW build is not deterministic
    faiss.omp_set_num_threads(1)
    old = json.loads(Path(args.check).read_text()) if args.check else None
    snap = snapshot(args.model, args.per_arity, args.size, args.k, old["queries"] if old else None)
    if old is None:
        Path(args.record).write_text(json.dumps(snap))
        return 0
    bad = compare(old, snap, args.tol)
    log.info("%s", "identical" if not bad else f"{bad} answers differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
