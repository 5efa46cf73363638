"""Everyday words for attribute changes, as a shopper types them (used by the shopper-side measurements).

A change is ``(key, wanted)``: ``("color:red", True)`` asks for red, ``("details:hood", False)`` drops the
hood. Each value is phrased with its name or one of the taxonomy's synonyms that maps back to it alone;
the clauses are joined by one of :data:`TEMPLATES` ("like this but {}", "can I get it {}", ...), and a
negation uses the taxonomy's own words ("without the hood", "not striped", "no pockets").
"""

from __future__ import annotations

import random
from functools import lru_cache

from retrieval.catalog.negation import negated_mentions
from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key, split_key

TEMPLATES: tuple[str, ...] = (
    "like this but {}",
    "can I get it {}",
    "same but {}",
    "I'd prefer it {}",
    "show me this {}",
    "something like this, {}",
    "do you have it {}",
    "similar, {}",
    "{} please",
    "make it {}",
    "I want one {}",
    "any like this {}",
)
_ADD = {  # how a wanted value of a group reads, by group
    "color": ("in {}", "{}", "in {} instead"),
    "pattern": ("{}", "in {}", "with a {} pattern"),
    "sleeve": ("with {}", "{}"),
    "length": ("{}", "in {}"),
    "neckline": ("with a {}", "{}"),
    "material": ("in {}", "made of {}", "{}"),
    "fit": ("{}", "with a {} fit"),
    "details": ("with {}", "with a {}", "{}"),
    CATEGORY: ("as a {}", "but a {}", "in a {}"),
}
_DROP = ("without the {}", "no {}", "not {}", "without {}", "lose the {}")


@lru_cache(maxsize=4)
def _surfaces(taxonomy: Taxonomy) -> dict[str, tuple[str, ...]]:
    """Attribute key -> phrases (name, synonyms) whose only mention is that key."""
    out: dict[str, list[str]] = {}
    names = [(CATEGORY, c.name, c.synonyms) for c in taxonomy.categories.values()]
    names += [(g.name, v, syns) for g in taxonomy.groups.values() for v, syns in g.values.items()]
    for group, value, syns in names:
        key = attribute_key(group, value)
        for phrase in (value.replace("-", " "), value, *syns):
            found = taxonomy.find_mentions(phrase)
            if len(found) == 1 and found[0].key == key and phrase not in out.setdefault(key, []):
                out[key].append(phrase)
    return {k: tuple(v) for k, v in out.items()}


def value_words(key: str, taxonomy: Taxonomy, rng: random.Random) -> str:
    """One surface form of ``key`` ("color:navy" -> "dark blue")."""
    forms = _surfaces(taxonomy).get(key) or (split_key(key)[1].replace("-", " "),)
    return rng.choice(forms)


NEGATABLE = frozenset(t for t in TEMPLATES if not t.startswith(("can I", "I'd", "make it", "I want", "do you")))


def clause(key: str, wanted: bool, taxonomy: Taxonomy, rng: random.Random) -> str:
    """Words for one change ("in scarlet", "without the hood")."""
    group = split_key(key)[0]
    words = value_words(key, taxonomy, rng)
    forms = _ADD.get(group, ("{}",)) if wanted else _DROP
    usable = [f for f in forms if not (" a {}" in f and words.startswith("a ")) and not ("fit" in f and "fit" in words)]
    return rng.choice(usable or ["{}"]).format(words)


def phrase_changes(changes: list[tuple[str, bool]], taxonomy: Taxonomy, rng: random.Random) -> str:
    """A whole turn asking for ``changes`` ("like this but in red, with long sleeves and no pockets").

    Falls back to plain forms until the taxonomy reads the words back as exactly ``changes``.
    """
    for attempt in range(8):
        parts = [clause(k, w, taxonomy, rng) for k, w in changes]
        body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        templates = TEMPLATES if changes[0][1] else sorted(NEGATABLE)  # not "make it without the hood"
        text = rng.choice(templates).format(body)
        if reads_as(text, taxonomy) == set(changes) or attempt == 7:
            return text
    return text  # pragma: no cover


def reads_as(text: str, taxonomy: Taxonomy) -> set[tuple[str, bool]]:
    """The changes the taxonomy and its negation words find in ``text``."""
    return {(m.key, neg is None) for m, neg in negated_mentions(text, taxonomy)}
