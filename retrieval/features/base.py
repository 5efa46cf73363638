"""Feature configuration, the encoder interface and the encoder registries."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from retrieval.errors import ConfigError
from retrieval.features.onnx_runtime import RUNTIMES

log = logging.getLogger(__name__)

MAX_TORCH_THREADS = 2
THREADS_ENV = "TAILOR_TORCH_THREADS"


@dataclass(frozen=True)
class FeatureConfig:
    """Which encoders turn images and texts into vectors.

    Attributes:
        image_encoder: a registered image encoder ("efficientnet-lite0", "resnet18").
        text_encoder: "all-MiniLM-L6-v2" (bundled) or the path of a local sentence-transformers model.
        image_size: square input size in pixels.
        batch_size: items per forward pass.
        weights_path: local weights file of the image encoder ("" = the bundled one, when there is one).
        runtime: "onnx" (batch image features through ONNX Runtime, the same values ~4x faster) or "torch".
    """

    image_encoder: str = "efficientnet-lite0"
    text_encoder: str = "all-MiniLM-L6-v2"
    image_size: int = 224
    batch_size: int = 32
    weights_path: str = ""
    runtime: str = "onnx"

    def __post_init__(self) -> None:
        if not self.image_encoder or not isinstance(self.image_encoder, str):
            raise ConfigError("FeatureConfig.image_encoder is empty.", fix=f"use one of {image_encoder_names()}")
        if self.image_encoder not in IMAGE_ENCODERS:
            raise ConfigError(
                f"Unknown image encoder {self.image_encoder!r}.",
                fix=f"use one of {image_encoder_names()} or register one with register_image_encoder()",
            )
        if not self.text_encoder or not isinstance(self.text_encoder, str):
            raise ConfigError(
                "FeatureConfig.text_encoder is empty.",
                fix="use 'all-MiniLM-L6-v2' or a local sentence-transformers folder",
            )
        if not isinstance(self.image_size, int) or not 32 <= self.image_size <= 1024:
            raise ConfigError(f"FeatureConfig.image_size must be 32..1024, got {self.image_size!r}.", fix="use 224")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"FeatureConfig.batch_size must be >= 1, got {self.batch_size!r}.", fix="use 32")
        if self.runtime not in RUNTIMES:
            raise ConfigError(
                f"FeatureConfig.runtime must be one of {RUNTIMES}, got {self.runtime!r}.", fix="use 'onnx'"
            )
        if not isinstance(self.weights_path, str):
            raise ConfigError("FeatureConfig.weights_path must be a string path.", fix="use '' for the bundled weights")


@runtime_checkable
class Encoder(Protocol):
    """Turns a batch of items (image paths/arrays, or texts) into float32 vectors [N, dim].

    ``name`` identifies the encoder and everything that changes its output (cache keys use it).
    ``n_encoded`` counts items that went through the model (cache hits do not).
    """

    name: str
    dim: int
    n_encoded: int

    def encode(self, items: list) -> np.ndarray:
        """Encode one batch; returns float32 [len(items), dim]."""
        ...


ImageEncoderFactory = Callable[[FeatureConfig], Encoder]

#: image encoder name -> factory(cfg). Filled by :mod:`retrieval.features.image`.
IMAGE_ENCODERS: dict[str, ImageEncoderFactory] = {}


def register_image_encoder(name: str) -> Callable[[ImageEncoderFactory], ImageEncoderFactory]:
    """Decorator: make ``FeatureConfig(image_encoder=name)`` build encoders with the decorated factory."""

    def deco(factory: ImageEncoderFactory) -> ImageEncoderFactory:
        IMAGE_ENCODERS[name] = factory
        return factory

    return deco


def image_encoder_names() -> list[str]:
    """Registered image encoder names."""
    return sorted(IMAGE_ENCODERS)


def encoding_threads() -> int:
    """Torch threads for batch encoding: ``$TAILOR_TORCH_THREADS``, else up to 2, or 1 when the CPU is busy.

    On this 2-core machine with other work running, 2 OpenMP threads were 1.6x (images) to 5x (texts)
    slower than 1, because the threads spin waiting for each other; so a busy CPU gets one thread.
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError as err:
            raise ConfigError(f"${THREADS_ENV}={env!r} is not an integer.", fix="set it to e.g. 1 or 2") from err
    cpus = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= cpus - 0.5
    except OSError:
        busy = False
    return 1 if busy else max(1, min(MAX_TORCH_THREADS, cpus))


@contextlib.contextmanager
def torch_threads(limit: int | None = None) -> Iterator[None]:
    """Run batch encoding with ``limit`` torch threads (default :func:`encoding_threads`), restored afterwards."""
    import torch  # heavy: torch loads in ~1 s; importing the feature configs must not load it

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, limit if limit is not None else encoding_threads()))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def blas_controller():
    """A threadpoolctl controller (None without threadpoolctl): queries run numpy BLAS on one thread, as a
    multi-threaded gemv on a busy 2-core box is ~20x slower than a single-threaded one.
    """
    try:
        from threadpoolctl import ThreadpoolController  # heavy: optional (it comes with scikit-learn)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn (flair)
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def one_thread(blas) -> Iterator[None]:
    """Numpy BLAS and torch on one thread for the duration of a query (FAISS: ``IndexConfig.threads``)."""
    with blas.limit(limits=1, user_api="blas") if blas is not None else contextlib.nullcontext(), torch_threads(1):
        yield
