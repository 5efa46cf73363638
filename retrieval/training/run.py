"""``tailor train``: prepare a catalog, fit the graph model (and its graph-caption variant), write the model.

The chain: :func:`~retrieval.training.prepare.build_setup` -> :func:`~retrieval.training.loop.fit_setup`
-> :func:`~retrieval.training.artifacts.save_model`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from retrieval.training.artifacts import save_model
from retrieval.training.config import TrainConfig
from retrieval.training.loop import CAPTION_VARIANT_DIR, fit_setup
from retrieval.training.prepare import build_setup

log = logging.getLogger(__name__)


def with_source(cfg: TrainConfig, source: str) -> TrainConfig:
    """``cfg`` for another attribute source (the graph-caption variant trains no second variant)."""
    return dataclasses.replace(cfg, attribute_source=source, caption_graph=False)


def train(
    catalog_dir: str | Path,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Train the engine on a catalog folder and write the model directory.

    Args:
        catalog_dir: a catalog folder (demo, Fashion200K or FashionIQ layout).
        out_dir: the model directory to write (config.json, model.pt, graph.bin, ids.json, ...).
        cfg: training configuration (defaults: the paper's).
        cache_dir: feature cache folder (default ``<out_dir>/feature-cache``).
        progress: show progress bars.

    Returns:
        Metrics: best validation R@10, epochs, training seconds, graph size; with
        ``cfg.caption_graph`` also the ``graph-caption`` variant's under ``"graph-caption"``.
    """
    cfg = cfg or TrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else out_dir / "feature-cache"
    t0 = time.perf_counter()
    setup = build_setup(catalog_dir, cfg, cache_dir=cache_dir, progress=progress)
    prep_seconds = time.perf_counter() - t0
    fitted, warm = fit_setup(setup, cfg, progress=progress, desc=f"train graph-{cfg.attribute_source}")
    metrics = save_model(out_dir, cfg, setup, fitted, prep_seconds=prep_seconds, extra=warm)
    if cfg.caption_graph and cfg.attribute_source != "caption":
        sub = with_source(cfg, "caption")
        t1 = time.perf_counter()
        csetup = build_setup(catalog_dir, sub, cache_dir=cache_dir, progress=progress, base=setup)
        cfit, cwarm = fit_setup(csetup, sub, progress=progress, desc="train graph-caption")
        metrics[CAPTION_VARIANT_DIR] = save_model(
            out_dir / CAPTION_VARIANT_DIR,
            sub,
            csetup,
            cfit,
            prep_seconds=max(0.0, time.perf_counter() - t1 - cfit.seconds),
            extra=cwarm,
        )
    metrics["total_seconds"] = round(time.perf_counter() - t0, 2)
    log.info("trained in %.1f s: %s", metrics["total_seconds"], metrics)
    return metrics
