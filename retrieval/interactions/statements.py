"""What a metadata statement says: "that dress is black, not red" -> ``color:black``.

Two readers, combined: the taxonomy's exact phrases and synonyms (:meth:`Taxonomy.find_mentions`,
high precision) and, when a trained tagger is available, the Flair :class:`~.tagger.MetadataTagger`
(paper 2.2.1's entity extraction), whose spans add what the taxonomy does not know: typos it
normalises ("sleevless") and new values that become new attribute nodes ("halter"). A tagger span that
overlaps a taxonomy phrase defers to it. Rules on top:

* a category span names the subject ("that DRESS is black"), not a fact: the catalog's category stands;
* words named only to drop ("not red", "instead of cotton") are not recorded;
* a tagger-only span needs ``min_score`` and a real word (not "that", "second", "neckline"...).

Without a tagger (none configured or found beside the model) the taxonomy reader works alone and a
warning is logged once per process.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from retrieval.catalog.negation import unwanted_keys
from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key, normalise_text
from retrieval.interactions.tagger import GENERIC_TAIL, MetadataTagger, model_exists

log = logging.getLogger(__name__)

TAGGER_DIR = "tagger"
MAX_VALUE_CHARS = 40
# Words a weak tagger may mark that are never a product detail.
NOT_VALUES = frozenset(
    """
a an the this that these those it its it's one ones is are was has have had with and or of in on to for
first second third fourth fifth last next other item product piece thing shirt top made very really so
too quite kind sort bit little lot looks look like please actually also just
""".split()
) | frozenset(GENERIC_TAIL)
_WORD = re.compile(r"[a-z]{3,}")
_warned = False


@dataclass(frozen=True)
class Found:
    """One attribute a statement names.

    Attributes:
        key: ``group:value`` (a new value is hyphen-joined: ``neckline:halter``).
        known: the value is in the taxonomy.
        surface: the words as written.
        source: ``taxonomy`` or ``tagger``.
    """

    key: str
    known: bool
    surface: str
    source: str


def find_tagger(model_dir: str | Path, configured: str | Path | None) -> Path | None:
    """The tagger folder to use: ``configured`` if given, else ``MODEL/tagger`` or ``MODEL/../tagger``."""
    if configured:
        return Path(configured)
    model_dir = Path(model_dir)
    for cand in (model_dir / TAGGER_DIR, model_dir.parent / TAGGER_DIR):
        if model_exists(cand):
            return cand
    return None


class StatementReader:
    """Extracts attribute keys from metadata statements.

    Args:
        taxonomy: the EI tree the graph hangs on.
        tagger: a loaded tagger, or None for the taxonomy reader alone.
        min_score: least tagger confidence of a span the taxonomy does not confirm.
    """

    def __init__(self, taxonomy: Taxonomy, tagger: MetadataTagger | None = None, min_score: float = 0.4) -> None:
        global _warned
        self.taxonomy = taxonomy
        self.tagger = tagger
        self.min_score = min_score
        if tagger is None and not _warned:
            _warned = True
            log.warning(
                "No metadata tagger model: statements are read with the taxonomy's phrases and synonyms "
                "only (train one with `tailor train-tagger --out MODEL/tagger` to read new attributes)"
            )

    @classmethod
    def load(cls, taxonomy: Taxonomy, tagger_dir: str | Path | None, min_score: float = 0.4) -> StatementReader:
        """A reader with the tagger in ``tagger_dir`` (None: taxonomy phrases only)."""
        tagger = MetadataTagger.load(tagger_dir, taxonomy) if tagger_dir is not None else None
        return cls(taxonomy, tagger, min_score)

    def read(self, statement: str) -> list[Found]:
        """Attributes ``statement`` states about its product, left to right, each once."""
        text = " ".join(statement.split())
        drop = unwanted_keys(text, self.taxonomy)
        spans: list[tuple[int, int, Found]] = []
        for m in self.taxonomy.find_mentions(text):
            spans.append((m.start, m.end, Found(m.key, True, m.surface, "taxonomy")))
        if self.tagger is not None:
            taken = [(s, e) for s, e, _ in spans]
            for x in self.tagger.extract(text):
                if any(x.start < e and s < x.end for s, e in taken) or x.score < self.min_score:
                    continue
                value = "-".join(normalise_text(x.value).split())
                if not x.known and (
                    value in NOT_VALUES
                    or not _WORD.search(value)
                    or len(value) > MAX_VALUE_CHARS
                    or x.group not in self.taxonomy.groups
                ):
                    continue
                spans.append((x.start, x.end, Found(attribute_key(x.group, value), x.known, x.surface, "tagger")))
        out: dict[str, Found] = {}
        for _, _, f in sorted(spans, key=lambda s: s[0]):
            if f.key.startswith(CATEGORY + ":") or f.key in drop:
                continue
            out.setdefault(f.key, f)
        return list(out.values())
