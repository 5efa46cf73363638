"""Training on a small generated demo catalog: the loss falls, it beats random, save / load is identical.

Images are encoded with a tiny registered pixel encoder (8x8 colour thumbnails) so the test stays
fast on 2 cores; the real EfficientNet is tested with the features. Everything else is real: the
demo generator, MiniLM text features, the attribute classifier, DGL, the R-GCN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.catalog.demo.generate import generate_demo_catalog
from retrieval.features import FeatureConfig, register_image_encoder
from retrieval.training.artifacts import load_model
from retrieval.training.config import TrainConfig
from retrieval.training.run import train

pytestmark = pytest.mark.engine  # every test here trains a model

PIXELS = "test-pixels-8x8"


class PixelEncoder:
    """8x8 RGB thumbnail plus a 4x4x4 colour histogram: 256-d, deterministic, instant."""

    name = PIXELS
    dim = 8 * 8 * 3 + 64
    n_encoded = 0

    def encode(self, items: list) -> np.ndarray:
        out = []
        for img in items:
            img = img if isinstance(img, Image.Image) else Image.open(img)
            small = np.asarray(img.convert("RGB").resize((8, 8)), np.float32).reshape(-1) / 255.0
            q = (np.asarray(img.convert("RGB").resize((32, 32))) // 64).reshape(-1, 3)
            hist = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64) / len(q)
            out.append(np.concatenate([small, hist]).astype(np.float32))
        self.n_encoded += len(items)
        return np.stack(out)


register_image_encoder(PIXELS)(lambda cfg: PixelEncoder())


def small_config(**kw) -> TrainConfig:
    """A fast configuration for ~100-product catalogs."""
    base = {
        "epochs": 25,
        "batch_size": 64,
        "patience": 25,
        "negatives": 16,
        "caption_graph": False,
        "features": FeatureConfig(image_encoder=PIXELS),
    }
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "catalog"
    generate_demo_catalog(out, 150, 3, workers=1)
    return out


@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("model") / "engine"
    metrics = train(demo, out, small_config(), cache_dir=tmp_path_factory.mktemp("cache"), progress=False)
    return out, metrics


def test_model_dir_layout(trained):
    out, metrics = trained
    for name in (
        "config.json",
        "model.pt",
        "graph.bin",
        "ids.json",
        "train_log.json",
        "catalog.json",
        "features/images.npy",
        "features/queries.npy",
        "attributes/attribute_model.npz",
    ):
        assert (out / name).is_file(), name
    assert metrics["train_queries"] > 50 and metrics["epochs_run"] >= 1


def test_loss_falls_and_beats_random(trained):
    out, metrics = trained
    import json

    epochs = json.loads((out / "train_log.json").read_text())["epochs"]
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    tm = load_model(out)
    cat = tm.catalog
    val = [cat.queries[i] for i in tm.splits["val"]]
    pool = sorted({tm.image_node(im.image_id) for im in cat.images if im.split == "train"})
    random_r10 = 100.0 * 10 / len(pool)
    assert metrics["best_val_R@10"] > 2 * random_r10, (metrics, random_r10, len(val))


def test_save_load_gives_identical_rankings(trained):
    out, _ = trained
    a, b = load_model(out), load_model(out)
    np.testing.assert_array_equal(a.image_embeddings(), b.image_embeddings())
    q = a.catalog.queries[a.splits["test"][0]]
    feat = a.query_features[a.splits["test"][0]]
    cand = a.image_node(q.source)
    qa = a.compose(cand, a.embed_new_caption(feat, cand, a.mentions(q.text)))
    qb = b.compose(cand, b.embed_new_caption(feat, cand, b.mentions(q.text)))
    np.testing.assert_allclose(qa, qb, atol=1e-6)
    ra, rb = np.argsort(-(a.image_embeddings() @ qa))[:20], np.argsort(-(b.image_embeddings() @ qb))[:20]
    assert ra.tolist() == rb.tolist()
    # the batched path used by evaluation agrees with the single-query path
    batched = a.embed_queries(feat[None], [cand], [a.mentions(q.text)])[0]
    np.testing.assert_allclose(batched, qa, atol=1e-5)


def test_relations_warmup_trains_only_the_interaction_relations(demo, tmp_path):
    import dataclasses

    import torch

    from retrieval.graph import schema
    from retrieval.training.loop import fit, tune_interaction_relations
    from retrieval.training.prepare import build_setup
    from retrieval.training.sim_edits import warmup_graph

    cfg = small_config(epochs=3, warmup_epochs=2)
    setup = build_setup(demo, cfg, cache_dir=tmp_path / "cache", progress=False)
    g = setup.info.graph
    feats = {nt: g.nodes[nt].data["feat"] for nt in g.ntypes}
    fitted = fit(
        g, feats, setup.train_caption_nodes, setup.train_set, setup.val_set, setup.val_pool, cfg, progress=False
    )
    before = {k: v.clone() for k, v in fitted.rgcn.state_dict().items()}
    with torch.no_grad():
        emb = fitted.rgcn.readout(fitted.rgcn(g, feats, all_layers=True), schema.IMAGE)
    warm, summary = warmup_graph(setup, cfg)
    assert summary["metadata_edges"] > 0 and summary["like_edges"] > 0
    logs = tune_interaction_relations(
        fitted,
        warm,
        {nt: warm.nodes[nt].data["feat"] for nt in warm.ntypes},
        setup.train_caption_nodes,
        setup.train_set,
        cfg,
        progress=False,
    )
    assert len(logs) == 2 and all(np.isfinite(x["loss"]) for x in logs)
    after = fitted.rgcn.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.endswith("basis.coeff") for k in changed)
    lay = fitted.rgcn.layers[0]
    rows = {lay.rel_index[r] for e in schema.RESERVED_RELATIONS for r in (e, schema.reverse(e)) if r in lay.rel_index}
    key = next(k for k in changed if k.startswith("layers.0."))
    moved = {int(i) for i in torch.nonzero((before[key] != after[key]).any(1)).flatten()}
    assert moved and moved <= rows  # only interaction relations' coefficients moved
    with torch.no_grad():  # the catalog graph (no interaction edges) embeds exactly as before
        again = fitted.rgcn.readout(fitted.rgcn(g, feats, all_layers=True), schema.IMAGE)
    assert torch.equal(emb, again)
    assert all(p.requires_grad for p in fitted.rgcn.parameters())  # restored for whoever trains next
    with pytest.raises(Exception, match="warmup_mode"):
        dataclasses.replace(cfg, warmup_mode="sometimes")
