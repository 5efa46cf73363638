"""Which shown product a turn means: "the second one", "#3", "1 and 3", "the last one", "the black one".

Pure functions over the ``results`` slot (a list of shown-product dicts numbered 1..n on the page).
"""

from __future__ import annotations

import re
from typing import Any

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy

ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "fifth": 5, "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8,
    "ninth": 9, "9th": 9, "tenth": 10, "10th": 10,
}  # fmt: skip
CARDINALS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_NUMBERED = re.compile(r"(?:#|\bnumber\s+|\bno\.?\s*|\boption\s+|\bitem\s+|\bproduct\s+)(\d+|[a-z]+)\b")
_DIGIT = re.compile(r"(?<![\w/.#%-])(\d{1,2})(?![\w/%.-])")
_WORD = re.compile(r"[a-z0-9]+")


def numbers(text: str, count: int) -> list[int]:
    """1-based positions named in ``text``, in order, within 1..``count`` ("the last one" = ``count``)."""
    norm = re.sub(r"\s+", " ", text.lower())  # keeps "3/4" whole, unlike normalise_text
    found: list[tuple[int, int]] = []  # (offset, number)
    for m in _NUMBERED.finditer(norm):
        token = m.group(1)
        n = int(token) if token.isdigit() else CARDINALS.get(token) or ORDINALS.get(token)
        if n:
            found.append((m.start(), n))
    taken = {off for off, _ in found}
    for m in _DIGIT.finditer(norm):
        if not any(abs(m.start() - off) <= 8 for off in taken):
            found.append((m.start(), int(m.group(1))))
    for m in _WORD.finditer(norm):
        word = m.group(0)
        if word in ORDINALS:
            found.append((m.start(), ORDINALS[word]))
        elif word == "last":
            found.append((m.start(), count))
        elif word == "middle" and count:
            found.append((m.start(), (count + 1) // 2))
    out: list[int] = []
    for _, n in sorted(found):
        if 1 <= n <= count and n not in out:
            out.append(n)
    return out


def by_attributes(
    text: str, shown: list[dict[str, Any]], taxonomy: Taxonomy, groups: set[str] | None = None
) -> list[int]:
    """Positions of shown products whose caption has every taxonomy value ``text`` names ("the black one").

    ``groups`` limits which mentioned groups count (None: all). Returns [] when nothing is named or
    nothing matches.
    """
    wanted = {m.key for m in taxonomy.find_mentions(text) if groups is None or m.group in groups}
    if not wanted:
        return []
    out = []
    for item in shown:
        have = {m.key for m in taxonomy.find_mentions(item.get("caption", ""))}
        have.add(f"{CATEGORY}:{item.get('category', '')}")
        if wanted <= have:
            out.append(int(item["number"]))
    return out


def resolve(
    text: str,
    shown: list[dict[str, Any]],
    taxonomy: Taxonomy,
    *,
    product_ids: list[str] | None = None,
    attribute_groups: set[str] | None = None,
) -> list[dict[str, Any]]:
    """The shown products a turn refers to: button ids first, then numbers, then attributes.

    Args:
        text: the shopper's words.
        shown: the ``results`` slot.
        taxonomy: for "the black one".
        product_ids: ids from a button payload (``product`` entity).
        attribute_groups: groups that may identify a product (e.g. visible ones only); None = all.
    """
    if product_ids:
        index = {item["image_id"]: item for item in shown}
        return [index[i] for i in product_ids if i in index]
    picked = numbers(text, len(shown))
    if not picked:
        picked = by_attributes(text, shown, taxonomy, attribute_groups)
    by_number = {int(item["number"]): item for item in shown}
    return [by_number[n] for n in picked if n in by_number]
