"""Attribute labels read from text: the caption-based source (paper A.5) and taxonomy phrase matches.

* :func:`caption_attributes`: the caption's first word and its rest (the upper-bound source).
* :func:`text_attributes`: attribute keys a text mentions (exact normalised phrase match, synonyms).
* :class:`PhraseMatcher`: which free-text labels a text contains (links captions to caption attributes).
* :func:`image_label_lists`: the attribute predictor's training labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from retrieval.catalog.records import ImageRecord
from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key, normalise_text


# -- labels from text -------------------------------------------------------------------------
def caption_attributes(caption: str) -> tuple[str, str]:
    """Split a caption into its first word and the rest, the paper's caption-based attributes (A.5).

    ``"Red long striped T-shirt"`` -> ``("red", "long striped t-shirt")``. Text is lower-cased and
    whitespace collapsed; a one-word caption gives ``(word, "")``, an empty one ``("", "")``: empty
    strings are "no attribute".
    """
    words = re.sub(r"\s+", " ", caption.lower()).strip().split(" ")
    if not words or not words[0]:
        return "", ""
    return words[0], " ".join(words[1:])


def text_attributes(text: str, taxonomy: Taxonomy) -> list[str]:
    """Attribute keys a text mentions, by exact normalised phrase match with the taxonomy's synonyms.

    Keys are ``group:value`` (``color:navy`` for "dark blue") and ``category:<name>`` for categories;
    in order of first mention, each once.
    """
    return list(dict.fromkeys(m.key for m in taxonomy.find_mentions(text)))


class PhraseMatcher:
    """Finds which of a fixed set of free-text attribute labels a text contains (caption-based source).

    Matching is exact on normalised text (:func:`retrieval.catalog.taxonomy.normalise_text`) at word
    boundaries, longest label first, so "long striped t-shirt" is found in "a long striped t-shirt
    please" and "red" is not found in "bored".
    """

    def __init__(self, labels: Iterable[str]) -> None:
        """Index ``labels`` (empty strings are ignored)."""
        self._by_norm: dict[str, str] = {}
        for label in labels:
            norm = normalise_text(label)
            if norm:
                self._by_norm.setdefault(norm, label)
        alts = sorted(self._by_norm, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<![\w-])(" + "|".join(re.escape(a) for a in alts) + r")(?![\w-])") if alts else None
        )

    def find(self, text: str) -> list[str]:
        """Labels found in ``text`` (non-overlapping, longest first, in order of appearance, each once)."""
        if self._pattern is None:
            return []
        found = (self._by_norm[m.group(1)] for m in self._pattern.finditer(normalise_text(text)))
        return list(dict.fromkeys(found))


def image_label_lists(images: Sequence[ImageRecord], taxonomy: Taxonomy) -> list[list[str]]:
    """Training labels of images: the attributes their captions mention plus ``category:<category>``."""
    out = []
    for im in images:
        keys = text_attributes(im.caption, taxonomy)
        if im.category:
            cat_key = attribute_key(CATEGORY, im.category)
            keys = [cat_key, *[k for k in keys if not k.startswith(f"{CATEGORY}:")]]
        out.append(keys)
    return out
