"""Tokens and BIO tags of the metadata tagger: one label per taxonomy group, plus ``CATEGORY``.

Each sentence is tokenised with :func:`tokenize` and BIO-tagged by group: one label per taxonomy
group, upper-cased (``COLOR``, ``MATERIAL``...), plus ``CATEGORY``. The generated training sentences
(:mod:`retrieval.interactions.tagger_sentences`) and the hand-labelled fixture follow the same
tagging guidelines:

- Tag words that name a value of the garment: colour (with its shade: ``light blue``), pattern,
  sleeve (with the word sleeve(s)/straps: ``long sleeves``, ``no sleeves``, ``spaghetti straps``),
  length of the garment (``long``, ``maxi``, ``knee length``), neckline (``v-neck``, ``collar``,
  ``halter neckline``), material, fit (``fitted``, ``flowy``), details (``pockets``, ``bow``) and
  garment nouns (``dress``, ``t-shirt``, ``top``).
- Comparatives and relative changes are not values: ``darker``, ``longer sleeves``, ``tighter``,
  ``higher neckline`` are O. After ``more`` a value word is tagged (``more fitted``); after ``less`` it
  is O (``less patterned`` is a reduction, not a value).
- Negated values are O (``not striped``, ``no collar``) except ``no sleeves`` / ``without sleeves``,
  which name a value (sleeveless).
- Generic nouns after a value stay out of the span: ``floral`` in ``floral pattern``, ``blue``
  in ``blue colored``; multi-colour phrases are one span per colour (``black`` and ``white``).
- Style words (casual, sexy, revealing, shiny, sheer) are O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy

TOKEN_RE = re.compile(r"\w+(?:[-'\u2019/]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class TaggedSentence:
    """Tokens with one BIO tag each (``B-COLOR``, ``I-COLOR``, ``O``)."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def text(self) -> str:
        """The tokens joined by spaces."""
        return " ".join(self.tokens)


def tokenize(text: str) -> list[tuple[int, int, str]]:
    """Split ``text`` into ``(start, end, word)``: words keep inner hyphens, slashes, apostrophes."""
    return [(m.start(), m.end(), m.group(0)) for m in TOKEN_RE.finditer(text)]


def label_of(group: str) -> str:
    """The tag label of a taxonomy group (``color`` -> ``COLOR``)."""
    return group.upper()


def labels_for(taxonomy: Taxonomy) -> tuple[str, ...]:
    """Every label of ``taxonomy``: its groups upper-cased, then ``CATEGORY``."""
    return (*(label_of(g) for g in taxonomy.groups), label_of(CATEGORY))


def spans_to_tags(text: str, spans: list[dict]) -> TaggedSentence:
    """Turn character spans (``start``, ``end``, ``label``) into a BIO-tagged token sequence.

    Raises:
        ValueError: a span does not start and end on token boundaries.
    """
    toks = tokenize(text)
    tags = ["O"] * len(toks)
    for span in spans:
        inside = [i for i, (s, e, _) in enumerate(toks) if s >= span["start"] and e <= span["end"]]
        if not inside or toks[inside[0]][0] != span["start"] or toks[inside[-1]][1] != span["end"]:
            raise ValueError(f"span {span} of {text!r} does not fall on token boundaries")
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + span["label"]
    return TaggedSentence(tuple(t for _, _, t in toks), tuple(tags))
