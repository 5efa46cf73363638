"""The shopper's words as the engine sees them: :class:`QueryText` owns the online text encoder, the
LRU cache of query-text features and the lexicon of known words.

* :meth:`QueryText.text_feature`: the words' text feature through the online encoder
  (:mod:`retrieval.features.onnx_text`: ONNX Runtime, torch fallback), LRU-cached;
* :attr:`QueryText.lexicon`: the known words (:mod:`retrieval.catalog.wording`) that tell a query from
  keyboard noise.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.catalog.wording import Lexicon
from retrieval.errors import ConfigError
from retrieval.features import get_text_encoder, onnx_text
from retrieval.features.base import torch_threads
from retrieval.features.text import text_model_path
from retrieval.training.manifest import QUERY_ENCODER_DIR

UNCASED_ENCODERS = ("all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")


class QueryText:
    """Text features and known words of queries.

    Args:
        model: the trained model (its feature config, taxonomy and directory).
        runtime: "onnx" or "torch" (:data:`retrieval.features.onnx_runtime.RUNTIMES`).
        cache_size: query texts whose features are kept (LRU).
    """

    def __init__(self, model: Any, *, runtime: str = "onnx", cache_size: int = 4096) -> None:
        self._features_cfg = model.cfg.features
        self._taxonomy = model.taxonomy
        self._model_dir = Path(model.model_dir)
        self._runtime = runtime
        self._cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._encoder: Any = None
        self._lexicon: Lexicon | None = None
        self._uncased = self._features_cfg.text_encoder.lower() in UNCASED_ENCODERS

    @property
    def lexicon(self) -> Lexicon:
        """Known words of queries (:mod:`retrieval.catalog.wording`), read on first use."""
        if self._lexicon is None:
            try:
                path = text_model_path(self._features_cfg.text_encoder)
            except ConfigError:
                path = None
            self._lexicon = Lexicon.for_model(path, self._taxonomy)
        return self._lexicon

    def text_feature(self, text: str) -> np.ndarray:
        """Text feature of ``text`` with the model's encoder, LRU-cached by space-collapsed text (lower-cased
        for the bundled MiniLM, whose uncased tokenizer gives the same feature).
        """
        text = " ".join(text.split())
        if self._uncased:
            text = text.lower()
        feat = self._cache.get(text)
        if feat is None:
            with torch_threads(1):
                feat = self.query_encoder.encode_one(text)
            self._cache[text] = feat
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(text)
        return feat

    @property
    def query_encoder(self) -> Any:
        """The online text encoder (:mod:`retrieval.features.onnx_text`), made on first use."""
        if self._encoder is None:
            with torch_threads(1):
                self._encoder = onnx_text.query_encoder(
                    get_text_encoder(self._features_cfg), self._model_dir / QUERY_ENCODER_DIR, self._runtime
                )
        return self._encoder

    @property
    def cached(self) -> int:
        """Query texts whose features are cached."""
        return len(self._cache)

    def clear_cache(self) -> None:
        """Forget cached text features (benchmarks time cold queries with it)."""
        self._cache.clear()
