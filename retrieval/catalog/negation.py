"""Words that drop a value ("without the hood", "instead of red", "lose the belt"), matched once.

The vocabulary is data (the ``negations:`` section of ``data/taxonomy.yml``, read into
:class:`~retrieval.catalog.taxonomy.NegationWords`); the dialogue actions remove a negated value from
the accumulated modifications, the engine does not count it as asked for, and metadata statements do
not state it ("linen, not cotton"). A mention is negated when one of the phrases comes right before it,
with at most one ``between`` word in between ("without the hood", "not so long"), unless the phrase
follows an ``except_after`` word ("made from silk").
"""

from __future__ import annotations

import re
from functools import lru_cache

from retrieval.catalog.taxonomy import Mention, NegationWords, Taxonomy, normalise_text


@lru_cache(maxsize=8)
def _pattern(words: NegationWords) -> re.Pattern[str]:
    """The phrases (longest first), then at most one ``between`` word, at the very end of a text."""

    def alts(items: tuple[str, ...]) -> str:
        return "|".join(r"\s+".join(map(re.escape, w.split())) for w in sorted(items, key=len, reverse=True))

    between = rf"(?:(?:{alts(words.between)})\s+)?" if words.between else ""
    return re.compile(rf"\b(?:{alts(words.phrases)})\s+{between}$")


def negation_start(norm: str, start: int, words: NegationWords) -> int | None:
    """Where the negation right before position ``start`` of ``norm`` begins; None when not negated.

    Args:
        norm: a text in :func:`~retrieval.catalog.taxonomy.normalise_text` form.
        start: where the (possibly) negated phrase begins in ``norm``.
        words: the vocabulary (``taxonomy.negations``).
    """
    found = _pattern(words).search(norm[:start])
    if found is None:
        return None
    before = norm[: found.start()].split()
    if before and before[-1] in words.except_after:
        return None
    return found.start()


def negated_mentions(text: str, taxonomy: Taxonomy) -> list[tuple[Mention, int | None]]:
    """Every taxonomy mention of ``text`` with where its negation begins (None: not negated).

    Positions are in ``normalise_text(text)``, as :meth:`Taxonomy.find_mentions` gives them.
    """
    norm = normalise_text(text)
    return [(m, negation_start(norm, m.start, taxonomy.negations)) for m in taxonomy.find_mentions(norm)]


def unwanted_keys(text: str, taxonomy: Taxonomy) -> set[str]:
    """Attribute keys the words name only to drop: "beige instead of rainbow" -> {"color:multicolor"}."""
    return {m.key for m, neg in negated_mentions(text, taxonomy) if neg is not None}
