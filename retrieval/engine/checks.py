"""Validation of query arguments: :func:`check_text` and :func:`check_k` raise InvalidQueryError saying how to fix."""

from __future__ import annotations

from typing import Any

import numpy as np

from retrieval.catalog.wording import Lexicon
from retrieval.errors import InvalidQueryError


def check_text(text: Any, *, max_chars: int, lexicon: Lexicon | None) -> str:
    """The stripped query text; ``lexicon`` given: at least one of its words must be known."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidQueryError(
            "The query text is empty.",
            fix='say what you want, e.g. "red summer dresses" or "like this but in black"',
        )
    if len(text) > max_chars:
        raise InvalidQueryError(
            f"The query text has {len(text)} characters; the limit is {max_chars}.",
            fix="shorten it to a sentence or two",
        )
    if lexicon is not None and not lexicon.known(text):
        raise InvalidQueryError(
            f"I don't recognise any word in {text.strip()[:60]!r}.",
            fix='describe the product in words, e.g. "a red summer dress" or "make it black"',
        )
    return text.strip()


def check_k(k: Any, max_k: int) -> int:
    """``k`` as an int in ``1..max_k``."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise InvalidQueryError(f"k must be a whole number of results, got {k!r}.", fix="pass k >= 1, e.g. 10")
    if k <= 0:
        raise InvalidQueryError(f"k={k} asks for no results.", fix="ask for at least one result (k >= 1)")
    if k > max_k:
        raise InvalidQueryError(
            f"k={k} is more than the {max_k} results one query may return.",
            fix=f"ask for at most {max_k}; page on by passing shown ids as exclude",
        )
    return int(k)
