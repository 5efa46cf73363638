"""The shopper's words as the engine sees them: a mixin of :class:`retrieval.engine.facade.Engine`.

* :meth:`QueryTextMixin.text_feature`: the words' text feature through the online encoder
  (:mod:`retrieval.features.onnx_text`: ONNX Runtime, torch fallback), LRU-cached;
* :attr:`QueryTextMixin.lexicon`: the known words (:mod:`retrieval.catalog.wording`) that tell a query from
  keyboard noise.

Needs the Engine's ``model``, ``cfg``, ``taxonomy``, ``_text_cache``, ``_query_encoder``, ``_lexicon``
and ``_uncased``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.catalog.wording import Lexicon
from retrieval.errors import ConfigError

QUERY_ENCODER_DIR = "query_encoder"


class QueryTextMixin:
    """Text features and known words of queries."""

    @property
    def lexicon(self) -> Lexicon:
        """Known words of queries (:mod:`retrieval.catalog.wording`), read on first use."""
        if self._lexicon is None:
            from retrieval.features.text import text_model_path

            try:
                path = text_model_path(self.model.cfg.features.text_encoder)
            except ConfigError:
                path = None
            self._lexicon = Lexicon.for_model(path, self.taxonomy)
        return self._lexicon

    def text_feature(self, text: str) -> np.ndarray:
        """Text feature of ``text`` with the model's encoder, LRU-cached by space-collapsed text (lower-cased
        for the bundled MiniLM, whose uncased tokenizer gives the same feature)."""
        text = " ".join(text.split())
        if self._uncased:
            text = text.lower()
        feat = self._text_cache.get(text)
        if feat is None:
            from retrieval.features.base import torch_threads

            with torch_threads(1):
                feat = self.query_encoder.encode_one(text)
            self._text_cache[text] = feat
            if len(self._text_cache) > self.cfg.text_cache_size:
                self._text_cache.popitem(last=False)
        else:
            self._text_cache.move_to_end(text)
        return feat

    @property
    def query_encoder(self):
        """The online text encoder (:mod:`retrieval.features.onnx_text`), made on first use."""
        if self._query_encoder is None:
            from retrieval.features import get_text_encoder
            from retrieval.features.base import torch_threads
            from retrieval.features.onnx_text import query_encoder

            with torch_threads(1):
                self._query_encoder = query_encoder(
                    get_text_encoder(self.model.cfg.features),
                    Path(self.model.model_dir) / QUERY_ENCODER_DIR,
                    self.cfg.text_runtime,
                )
        return self._query_encoder

    def clear_text_cache(self) -> None:
        """Forget cached text features (benchmarks time cold queries with it)."""
        self._text_cache.clear()
