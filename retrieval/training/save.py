"""Writing a trained model directory in the layout :mod:`retrieval.training.artifacts` reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from retrieval.catalog.datasets.options import OPTIONS_FILE
from retrieval.config import save_config
from retrieval.training.artifacts import (
    ATTRIBUTES_DIR,
    CATALOG_FILE,
    CONFIG_FILE,
    FEATURES_DIR,
    LOG_FILE,
    METRICS_FILE,
    SPLITS_FILE,
    WEIGHTS_FILE,
)
from retrieval.training.config import TrainConfig
from retrieval.training.loop import (
    Fitted,
)


def save_model(
    out_dir: str | Path,
    cfg: TrainConfig,
    setup,
    fitted: Fitted,
    *,
    prep_seconds: float = 0.0,
    extra: dict | None = None,
) -> dict:
    """Write a model directory from a training run and return its metrics (``extra`` merged in)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / CONFIG_FILE)
    in_dims = {nt: int(x.shape[1]) for nt, x in setup.node_features().items()}
    torch.save(
        {
            "rgcn": fitted.rgcn.state_dict(),
            "head": fitted.head.state_dict(),
            "norm": fitted.norm.state_dict(),
            "in_dims": in_dims,
        },
        out / WEIGHTS_FILE,
    )
    setup.info.save(out)
    if setup.predictor is not None:
        setup.predictor.save(out / ATTRIBUTES_DIR)
    (out / FEATURES_DIR).mkdir(exist_ok=True)
    np.save(out / FEATURES_DIR / "images.npy", setup.image_feats.astype(np.float32))
    np.save(out / FEATURES_DIR / "queries.npy", setup.query_feats.astype(np.float32))
    cat = setup.catalog
    where = {"path": str(Path(setup.catalog_dir).resolve()), "format": cat.source_format}
    sizes = {"images": len(cat.images), "queries": len(cat.queries), "taxonomy": setup.taxonomy.source}
    skipped = {"skipped_image_ids": setup.skipped.get("skipped_image_ids", [])}
    (out / CATALOG_FILE).write_text(json.dumps({**where, **sizes, **skipped}, indent=1))
    save_config(setup.dataset, out / OPTIONS_FILE)
    (out / SPLITS_FILE).write_text(json.dumps({"train": setup.train_q, "val": setup.val_q, "test": setup.test_q}))
    g = setup.info.graph
    metrics = {
        "attribute_source": cfg.attribute_source,
        "best_val_R@10": round(fitted.best_val, 2),
        "best_epoch": fitted.best_epoch,
        "epochs_run": len(fitted.log),
        "train_seconds": round(fitted.seconds, 2),
        "prep_seconds": round(prep_seconds, 2),
        "train_queries": len(setup.train_q),
        "val_queries": len(setup.val_q),
        "test_queries": len(setup.test_q),
        **{k: v for k, v in setup.skipped.items() if k != "skipped_image_ids"},
        "nodes": {nt: int(g.num_nodes(nt)) for nt in g.ntypes},
        "edges": int(g.num_edges()),
        **(extra or {}),
    }
    (out / LOG_FILE).write_text(json.dumps({"epochs": fitted.log, **metrics}, indent=1))
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    return metrics
