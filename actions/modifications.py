"""Accumulating modifications turn by turn with the EI tree's rules (pure functions, no Rasa).

"in black", then "longer", then "in red": the colour group is exclusive, so red replaces black while
"longer" stays; independent groups (details) add up; "without pockets" removes (the negation words
are the taxonomy's, matched by :mod:`retrieval.catalog.negation` as the engine matches them). The state
is two lists kept in slots: attribute keys (``color:black``) and notes (words that name no taxonomy value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.catalog.negation import negated_mentions
from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, normalise_text, split_key

FILLER = frozenset(
    """a an the i i'm im am me my show some find looking look for want need would like to see this that it
    its it's one but in with and is are be make made please same similar can could you do have got any
    just also instead version style now change let's lets give get of as so than rather""".split()
)
_WORD = re.compile(r"[a-z0-9'-]+")


@dataclass(frozen=True)
class ModState:
    """Accumulated modifications: attribute keys in order, and free-text notes."""

    keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def leftover(text: str, taxonomy: Taxonomy) -> str:
    """The words of ``text`` outside taxonomy mentions (and their negations), filler removed ("shiny")."""
    norm = normalise_text(text)
    kept, pos = [], 0
    for m, negation in negated_mentions(norm, taxonomy):
        kept.append(norm[pos : max(pos, m.start if negation is None else negation)])
        pos = m.end
    kept.append(norm[pos:])
    words = [w for w in _WORD.findall(" ".join(kept)) if w not in FILLER]
    return " ".join(words)


def merge(state: ModState, text: str, taxonomy: Taxonomy, max_notes: int = 3) -> ModState:
    """Apply one turn's words to ``state``: exclusive groups replace, independent add, negations remove."""
    keys = list(state.keys)
    for m, negation in negated_mentions(text, taxonomy):
        if negation is not None:
            keys = [k for k in keys if k != m.key]
            continue
        if taxonomy.is_exclusive(m.group):
            keys = [k for k in keys if split_key(k)[0] != m.group]
        if m.key not in keys:
            keys.append(m.key)
    notes = list(state.notes)
    rest = leftover(text, taxonomy)
    if rest and rest not in notes:
        notes.append(rest)
    return ModState(tuple(keys), tuple(notes[-max_notes:]))


def from_text(text: str, taxonomy: Taxonomy) -> ModState:
    """The state a search text stands for ("red summer dresses" -> color:red, category:dress + "summer")."""
    return merge(ModState(), text, taxonomy)


def phrase(key: str) -> str:
    """Words for an attribute key that the taxonomy maps back to it ("long-sleeve" -> "long sleeve")."""
    return split_key(key)[1].replace("-", " ")


def unmet_phrase(unmet: tuple[str, ...] | list[str]) -> str:
    """Words for the values an answer could not meet ("red, a skirt and without hood")."""
    words = []
    for value in unmet:
        key = value.removeprefix("-")
        group = split_key(key)[0]
        word = f"a {phrase(key)}" if group == CATEGORY else phrase(key)
        words.append(f"without {word}" if value.startswith("-") else word)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def carried(before: ModState, after: ModState, text: str, taxonomy: Taxonomy) -> list[str]:
    """Phrases from earlier turns still in force after ``text`` (not replaced, not in ``text`` itself)."""
    own = {m.key for m in taxonomy.find_mentions(text)}
    own_rest = leftover(text, taxonomy)
    out = [phrase(k) for k in after.keys if k in before.keys and k not in own]
    out += [n for n in after.notes if n in before.notes and n != own_rest]
    return out


def query_text(before: ModState, after: ModState, text: str, taxonomy: Taxonomy) -> str:
    """The words sent to the engine: this turn verbatim, then what earlier turns still ask for."""
    return ", ".join([text.strip(), *carried(before, after, text, taxonomy)])
