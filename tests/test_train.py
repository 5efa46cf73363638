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

from retrieval.artifacts import load_model
from retrieval.demo.generate import generate_demo_catalog
from retrieval.features import FeatureConfig, register_image_encoder
from retrieval.train import TrainConfig, train

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
    base = dict(epochs=25, batch_size=64, patience=25, negatives=16, caption_graph=False,
                features=FeatureConfig(image_encoder=PIXELS))
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
    for name in ("config.json", "model.pt", "graph.bin", "ids.json", "train_log.json", "catalog.json",
                 "features/images.npy", "features/queries.npy", "attributes/attribute_model.npz"):
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
