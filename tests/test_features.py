"""Feature encoders: real bundled models on tiny generated images / texts, the content cache, plug-ins."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.errors import ConfigError
from retrieval.features import (
    COLOUR_DIM,
    IMAGE_ENCODERS,
    Encoder,
    FeatureCache,
    FeatureConfig,
    colour_histograms,
    encode_images,
    encode_texts,
    get_image_encoder,
    get_text_encoder,
    register_image_encoder,
)


@pytest.fixture(scope="session")
def cfg() -> FeatureConfig:
    return FeatureConfig(batch_size=2)


@pytest.fixture(scope="session")
def image_encoder(cfg):
    return get_image_encoder(cfg)  # loaded once per process


@pytest.fixture(scope="session")
def text_encoder(cfg):
    return get_text_encoder(cfg)


@pytest.fixture()
def images(tmp_path) -> list[Path]:
    """A red square, a blue striped tall image, a transparent palette image."""
    red = Image.new("RGB", (64, 64), (200, 20, 20))
    striped = Image.new("RGB", (40, 90), (255, 255, 255))
    for y in range(0, 90, 10):
        striped.paste((20, 40, 200), (0, y, 40, y + 5))
    pal = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    pal.paste((0, 160, 0, 255), (10, 10, 40, 40))
    paths = [tmp_path / "red.jpg", tmp_path / "striped.png", tmp_path / "green.png"]
    red.save(paths[0])
    striped.save(paths[1])
    pal.convert("P").save(paths[2])
    return paths


def test_image_features_shape_determinism_and_cache(tmp_path, cfg, image_encoder, images):
    assert isinstance(image_encoder, Encoder)
    assert image_encoder.dim == 1280 and image_encoder.name.startswith("efficientnet-lite0-224-")
    feats = encode_images(images, cfg, None)
    assert feats.shape == (3, 1280) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and (np.abs(feats).sum(1) > 0).all()
    assert not np.allclose(feats[0], feats[1])
    np.testing.assert_allclose(encode_images(images, cfg, None), feats, rtol=1e-5, atol=1e-6)  # deterministic

    cache_dir = tmp_path / "cache"
    before = image_encoder.n_encoded
    cached = encode_images(images, cfg, cache_dir)  # with a cache folder: through ONNX Runtime
    assert image_encoder.n_encoded == before + 3
    assert [p.name for p in (cache_dir / "onnx").glob("*.onnx")] == [f"{image_encoder.name}.onnx"]
    np.testing.assert_allclose(cached, feats, rtol=1e-4, atol=1e-4)  # the torch values up to float rounding
    # same bytes under another name: a cache hit (content key), so nothing is encoded again
    copy = tmp_path / "renamed.jpg"
    shutil.copy(images[0], copy)
    again = encode_images([*images, copy], cfg, cache_dir)
    assert image_encoder.n_encoded == before + 3
    np.testing.assert_array_equal(again[:3], cached)
    np.testing.assert_array_equal(again[3], cached[0])
    with FeatureCache(cache_dir) as cache:
        assert len(cache) == 3


def test_missing_and_unreadable_images_give_zero_rows(tmp_path, cfg, image_encoder, images, caplog):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image at all")
    paths = [images[0], tmp_path / "does-not-exist.jpg", broken, images[1]]
    missing: list[int] = []
    with caplog.at_level("WARNING"):
        feats = encode_images(paths, cfg, tmp_path / "cache", missing=missing)
    assert missing == [1, 2]
    assert feats.shape == (4, 1280)
    assert not feats[1].any() and not feats[2].any()
    assert feats[0].any() and feats[3].any()
    assert "2 of 4 images are missing or unreadable" in caplog.text


def test_text_features_normalised_cached_and_meaningful(tmp_path, cfg, text_encoder):
    texts = ["red summer dress", "crimson dress for summer", "blue denim jeans", "red summer dress"]
    before = text_encoder.n_encoded
    vecs = encode_texts(texts, cfg, tmp_path / "cache")
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert text_encoder.n_encoded == before + 3  # the duplicate is encoded once
    np.testing.assert_array_equal(vecs[0], vecs[3])
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    again = encode_texts(texts[:2], cfg, tmp_path / "cache")
    assert text_encoder.n_encoded == before + 3  # all cache hits
    np.testing.assert_allclose(again, vecs[:2], rtol=1e-6)
    np.testing.assert_allclose(encode_texts(texts[:2], cfg, None), vecs[:2], rtol=1e-4, atol=1e-5)


def test_config_validation_and_helpful_errors(tmp_path):
    with pytest.raises(ConfigError, match="Unknown image encoder"):
        FeatureConfig(image_encoder="vit-h")
    with pytest.raises(ConfigError):
        FeatureConfig(image_size=8)
    with pytest.raises(ConfigError):
        FeatureConfig(batch_size=0)
    with pytest.raises(ConfigError, match="needs a local weights file") as err:
        get_image_encoder(FeatureConfig(image_encoder="resnet18"))
    assert "weights_path" in str(err.value)
    with pytest.raises(ConfigError, match="not a local sentence-transformers model folder"):
        encode_texts(["x"], FeatureConfig(text_encoder=str(tmp_path / "no-model")), None)


def test_resnet18_from_local_weights_without_torchvision(tmp_path, images):
    import torch

    from retrieval.features.image import _resnet_classes

    torch.manual_seed(0)
    weights = tmp_path / "resnet18.pth"
    torch.save(_resnet_classes()().state_dict(), weights)  # torchvision layout, random values
    cfg = FeatureConfig(image_encoder="resnet18", weights_path=str(weights), image_size=64)
    feats = encode_images(images[:2], cfg, None)
    assert feats.shape == (2, 512) and np.isfinite(feats).all()


def test_registry_plugs_a_custom_image_encoder(tmp_path, images):
    class MeanColour:
        name, dim, n_encoded = "mean-colour", 3, 0

        def encode(self, items: list) -> np.ndarray:
            self.n_encoded += len(items)
            return np.stack([np.asarray(im.convert("RGB"), np.float32).mean((0, 1)) for im in items])

    register_image_encoder("mean-colour")(lambda cfg: MeanColour())
    try:
        feats = encode_images(images[:1], FeatureConfig(image_encoder="mean-colour"), tmp_path / "c")
        np.testing.assert_allclose(feats[0], [200, 20, 20], atol=3)  # JPEG noise
    finally:
        IMAGE_ENCODERS.pop("mean-colour")


def test_colour_histograms_see_the_garment_colour(tmp_path, images):
    missing: list[int] = []
    hists = colour_histograms([images[0], tmp_path / "nope.jpg", images[2]], missing=missing)
    assert hists.shape == (3, COLOUR_DIM) and missing == [1]
    np.testing.assert_allclose((hists[[0, 2]] ** 2).sum(1), 1.0, rtol=1e-5)
    assert not hists[1].any()
    assert hists[0].argmax() != hists[2].argmax()  # red square vs green patch on white


@pytest.mark.engine  # trains or exports a model
def test_onnx_query_encoder_gives_the_torch_vector_and_is_exported_once(tmp_path, text_encoder, caplog):
    from retrieval.features.onnx_text import EXPORT_FILE, MODEL_FILE, OnnxQueryEncoder, query_encoder

    fast = query_encoder(text_encoder, tmp_path / "q")
    assert isinstance(fast, OnnxQueryEncoder) and (tmp_path / "q" / MODEL_FILE).is_file()
    texts = ["make it black", "Same but with LONG sleeves, please!", "a" * 3000, "linen"]
    ref = text_encoder.encode(texts)
    got = np.stack([fast.encode_one(t) for t in texts])
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-5  # even past the 256-token limit
    stamp = (tmp_path / "q" / MODEL_FILE).stat().st_mtime_ns
    again = query_encoder(text_encoder, tmp_path / "q")
    assert isinstance(again, OnnxQueryEncoder) and (tmp_path / "q" / MODEL_FILE).stat().st_mtime_ns == stamp
    (tmp_path / "q" / EXPORT_FILE).write_text('{"encoder": "another model"}')  # a stale export is redone
    query_encoder(text_encoder, tmp_path / "q")
    assert (tmp_path / "q" / MODEL_FILE).stat().st_mtime_ns != stamp


def test_query_encoder_falls_back_to_torch_and_rejects_unknown_runtimes(tmp_path, text_encoder, caplog):
    from retrieval.features.onnx_text import TorchQueryEncoder, query_encoder

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with caplog.at_level("WARNING"):
        slow = query_encoder(text_encoder, blocked / "q")
    assert isinstance(slow, TorchQueryEncoder) and "stay on torch" in caplog.text
    assert np.allclose(slow.encode_one("make it red"), text_encoder.encode(["make it red"])[0])
    assert isinstance(query_encoder(text_encoder, tmp_path, "torch"), TorchQueryEncoder)
    with pytest.raises(ConfigError, match="text runtime"):
        query_encoder(text_encoder, tmp_path, "tensorrt")


def test_image_runtime_torch_and_a_failed_export_keep_torch_values(tmp_path, cfg, image_encoder, images, caplog):
    import dataclasses

    torch_cfg = dataclasses.replace(cfg, runtime="torch")
    ref = encode_images(images, torch_cfg, None)
    np.testing.assert_array_equal(encode_images(images, torch_cfg, tmp_path / "c1"), ref)
    assert not (tmp_path / "c1" / "onnx").exists()
    (tmp_path / "c2").mkdir()
    (tmp_path / "c2" / "onnx").write_text("a file where the export folder should be")
    with caplog.at_level("WARNING"):
        got = encode_images(images, cfg, tmp_path / "c2")
    assert "stay on torch" in caplog.text
    np.testing.assert_array_equal(got, ref)
    with pytest.raises(ConfigError, match="runtime"):
        FeatureConfig(runtime="tensorrt")


@pytest.mark.engine  # trains or exports a model
def test_onnx_query_encoder_takes_the_spare_core_only_when_idle(tmp_path, text_encoder, monkeypatch):
    import os

    from retrieval.features import onnx_text
    from retrieval.features.onnx_text import OnnxQueryEncoder, query_encoder

    fast = query_encoder(text_encoder, tmp_path / "q")
    assert isinstance(fast, OnnxQueryEncoder)
    ref = text_encoder.encode(["make it navy with a v-neck"])[0]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    fast._spare_core = True
    for others, threads in ((0, 2), (1, 1), (3, 1)):
        monkeypatch.setattr(onnx_text, "other_runnable_tasks", lambda others=others: others)
        assert fast._threads() == threads
        assert np.abs(fast.encode_one("make it navy with a v-neck") - ref).max() < 1e-5
    assert set(fast._sessions) == {1, 2}


def test_other_runnable_tasks_sees_a_busy_process():
    import subprocess
    import sys
    import time

    from retrieval.features.onnx_text import other_runnable_tasks

    spinner = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdout.write('go\\n'); sys.stdout.flush()\nwhile True: pass"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert spinner.stdout.readline() == "go\n"
        time.sleep(0.05)
        assert min(other_runnable_tasks() for _ in range(5)) >= 1
    finally:
        spinner.kill()
        spinner.wait()
