"""``tailor train``: prepare a catalog, fit the graph model (and its graph-caption variant), write the model.

The chain: :func:`~retrieval.training.prepare.build_setup` -> :func:`~retrieval.training.loop.fit_setup`
-> :func:`~retrieval.training.artifacts.save_model`, then the ONNX query encoder exported into
``MODEL/query_encoder`` and, last, the checksum manifests (:mod:`retrieval.training.manifest`).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

from retrieval.catalog.datasets import detect_format
from retrieval.catalog.datasets.options import DatasetOptions
from retrieval.features import get_text_encoder, onnx_text
from retrieval.training.config import TrainConfig
from retrieval.training.loop import CAPTION_VARIANT_DIR, fit_setup
from retrieval.training.manifest import QUERY_ENCODER_DIR, remove_manifest, write_manifest
from retrieval.training.prepare import build_setup
from retrieval.training.save import save_model

log = logging.getLogger(__name__)


def with_source(cfg: TrainConfig, source: str) -> TrainConfig:
    """``cfg`` for another attribute source (the graph-caption variant trains no second variant)."""
    return dataclasses.replace(cfg, attribute_source=source, caption_graph=False)


def export_query_encoder(cfg: TrainConfig, folder: Path) -> bool:
    """Export the online query text encoder into ``folder`` afresh (checked against torch by
    :func:`~retrieval.features.onnx_text.query_encoder`); False, and no folder, when it stays on torch.
    """
    shutil.rmtree(folder, ignore_errors=True)  # never sign an export this run did not write and check
    if onnx_text.query_encoder(get_text_encoder(cfg.features), folder, "onnx").runtime == "onnx":
        return True
    shutil.rmtree(folder, ignore_errors=True)
    log.warning("no ONNX query encoder in %s: the engine exports one at first use or stays on torch", folder.parent)
    return False


def train(
    catalog_dir: str | Path,
    out_dir: str | Path,
    cfg: TrainConfig | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    dataset: DatasetOptions | None = None,
) -> dict:
    """Train the engine on a catalog folder and write the model directory.

    Args:
        catalog_dir: a catalog folder (demo, Fashion200K or FashionIQ layout).
        out_dir: the model directory to write (config.json, model.pt, graph.bin, ids.json, ...,
            manifest.json last).
        cfg: training configuration (default: tailor's ``TrainConfig()``; the paper's model is ``config.PAPER``).
        cache_dir: feature cache folder (default ``<out_dir>/feature-cache``).
        progress: show progress bars.
        dataset: how the folder is read (layout, query texts, image folder; saved as ``dataset.json``).

    Returns:
        Metrics: best validation R@10, epochs, training seconds, graph size; with
        ``cfg.caption_graph`` also the ``graph-caption`` variant's under ``"graph-caption"``.
    """
    cfg = cfg or TrainConfig()
    if (dataset or DatasetOptions()).format == "auto" or not Path(catalog_dir).is_dir():
        detect_format(catalog_dir)  # a missing or unknown --data fails here, before a model in out_dir is unsigned
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else out_dir / "feature-cache"
    remove_manifest(out_dir)  # until the last step, the directory loads as unsigned, never half-old
    remove_manifest(out_dir / CAPTION_VARIANT_DIR)
    t0 = time.perf_counter()
    setup = build_setup(catalog_dir, cfg, cache_dir=cache_dir, progress=progress, dataset=dataset)
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
        write_manifest(out_dir / CAPTION_VARIANT_DIR)
    metrics["query_encoder"] = "onnx" if export_query_encoder(cfg, out_dir / QUERY_ENCODER_DIR) else "torch"
    write_manifest(out_dir)
    metrics["total_seconds"] = round(time.perf_counter() - t0, 2)
    log.info("trained in %.1f s: %s", metrics["total_seconds"], metrics)
    return metrics
