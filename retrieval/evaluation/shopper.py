"""What the shopper sees, for ``tailor evaluate``: satisfaction of changes and simulated sessions.

Both go through the engine calls the chat makes (``Engine.search`` / ``Engine.modify`` with the shopper's
words) and are scored against the catalog's ground truth; see :mod:`retrieval.evaluation.satisfaction`
and :mod:`retrieval.evaluation.session`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from retrieval.engine.facade import Engine
from retrieval.errors import DatasetError
from retrieval.evaluation.satisfaction import Truth, engine_modify, measure
from retrieval.evaluation.session import engine_search, run_sessions

log = logging.getLogger(__name__)

PARTS = ("retrieval", "satisfaction", "session")


def shopper_report(
    model_dir: str | Path,
    *,
    parts: tuple[str, ...] = ("satisfaction", "session"),
    per_arity: int = 300,
    sessions: int = 200,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """``{"satisfaction": {...}, "session": {...}}`` for a trained model (explanations off: they do not rank)."""
    engine = Engine.load(model_dir, replay=False)
    engine.cfg = dataclasses.replace(engine.cfg, explain=False)
    truth = Truth.from_catalog(engine.model.catalog)
    if not any(truth.attrs.values()):
        raise DatasetError(
            "the catalog has no ground-truth attributes (meta/attributes.jsonl).",
            path=str(engine.model.catalog.root),
            fix="measure on a demo catalog (`tailor catalog demo`), which writes them",
        )
    out: dict = {}
    if "satisfaction" in parts:
        out["satisfaction"] = measure(
            engine_modify(engine), truth, engine.taxonomy, per_arity=per_arity, seed=seed, progress=progress
        )
    if "session" in parts:
        out["session"] = run_sessions(
            engine_search(engine),
            engine_modify(engine),
            truth,
            engine.taxonomy,
            n=sessions,
            seed=seed,
            progress=progress,
        )
    log.info("shopper-side figures: %s", out)
    return out


def markdown(report: dict) -> str:
    """Tables of the satisfaction and session figures."""
    lines = []
    sat = report.get("satisfaction")
    if sat:
        lines += ["| changes | all asked | category kept | unmentioned kept | n |", "|---|---|---|---|---|"]
        lines += [
            f"| {a} | {v['all']:.1f} | {v['category']:.1f} | {v['kept']:.1f} | {v['n']} |" for a, v in sat.items()
        ]
    ses = report.get("session")
    if ses:
        turns = len(ses["hits@4"])
        lines += ["", "| turn | " + " | ".join(str(t + 1) for t in range(turns)) + " |", "|---" * (turns + 1) + "|"]
        for key in [k for k in ses if k.startswith("hits@")]:
            lines.append(f"| {key} | " + " | ".join(f"{x:.1f}" for x in ses[key]) + " |")
        lines.append(f"\nmean turns to see the target: {ses['mean_turns']} (n={ses['n']})")
    return "\n".join(lines)
