"""Is there a word in it? Telling a shopper's words from keyboard noise ("asdkjh qwe").

A query is answered when at least one of its words is known: a whole word of the text encoder's
vocabulary (``vocab.txt`` of a BERT-style model: ~22,500 English words for all-MiniLM-L6-v2), a word
of a taxonomy phrase ("a-line", "v-neck"), or a number. Typos next to real words pass ("make it
blck"); only input with no known word at all is refused, with a typed error that says what to type.
A text encoder without a vocabulary file knows every word (nothing is refused).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from retrieval.catalog.taxonomy import Taxonomy

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[a-z]+(?:-[a-z]+)*|\d+")


class Lexicon:
    """The known words: the encoder's vocabulary plus the taxonomy's phrase words."""

    def __init__(self, words: set[str] | None) -> None:
        self.words = words  # None: every word is known

    @classmethod
    def for_model(cls, text_model: Path | None, taxonomy: Taxonomy) -> Lexicon:
        """The lexicon of a text model folder (its ``vocab.txt``) and a taxonomy."""
        vocab = text_model / "vocab.txt" if text_model is not None else None
        if vocab is None or not vocab.is_file():
            return cls(None)
        words = {w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha()}
        for phrase in taxonomy.phrases:
            words.update(_TOKEN.findall(phrase.lower()))
            words.update(phrase.lower().replace("-", " ").split())
        return cls(words)

    def known(self, text: str) -> list[str]:
        """The known words of ``text`` (numbers count as known)."""
        tokens = _TOKEN.findall(text.lower())
        if self.words is None:
            return tokens
        return [t for t in tokens if t.isdigit() or t in self.words or all(part in self.words for part in t.split("-"))]
