"""The EI tree: concepts (general -> specific), leaf categories and attribute groups.

The taxonomy is data (``data/taxonomy.yml``); the demo generator, the engine and the dialogue
vocabulary all read it through :class:`Taxonomy`. Siblings of a concept are exclusive (a garment
has one category); an attribute group is ``exclusive`` (a new value replaces the old one) or
``independent`` (values co-occur). Its ``negations`` are the words that drop the value after them
("without the hood"); :mod:`retrieval.catalog.negation` matches them for the actions and the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import yaml

from retrieval.errors import TaxonomyError

CATEGORY = "category"
EXCLUSIVE = "exclusive"
INDEPENDENT = "independent"
DEFAULT_TAXONOMY = Path(__file__).resolve().parents[2] / "data" / "taxonomy.yml"


@dataclass(frozen=True)
class Concept:
    """An inner node of the EI tree (``top``, ``bottom``...)."""

    name: str
    parent: str | None
    children: tuple[str, ...]
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    """A leaf category (``dress``); ``parent`` is its concept."""

    name: str
    parent: str
    folder: str
    silhouette: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    """An attribute group (``color``) with its values and their synonyms."""

    name: str
    relation: str
    visible: bool
    values: dict[str, tuple[str, ...]] = field(hash=False)
    applies_to: tuple[str, ...] | None = None

    @property
    def exclusive(self) -> bool:
        """True when one value replaces another."""
        return self.relation == EXCLUSIVE


@dataclass(frozen=True)
class NegationWords:
    """The ``negations:`` section: words that drop the value after them (matched by :mod:`.negation`)."""

    phrases: tuple[str, ...]
    between: tuple[str, ...] = ()
    except_after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mention:
    """A phrase of a text that names a taxonomy value (``group`` is ``category`` for categories)."""

    group: str
    value: str
    start: int
    end: int
    surface: str

    @property
    def key(self) -> str:
        """``group:value``, the attribute's id."""
        return attribute_key(self.group, self.value)


def attribute_key(group: str, value: str) -> str:
    """Return the id ``group:value`` of an attribute."""
    return f"{group}:{value}"


def split_key(key: str) -> tuple[str, str]:
    """Inverse of :func:`attribute_key`."""
    group, _, value = key.partition(":")
    return group, value


def normalise_text(text: str) -> str:
    """Lower-case, unify dashes and spaces: the form phrases are matched in."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[_/]+", " ", text)
    text = re.sub(r"\s+", " ", text)
    return text.strip()


class Taxonomy:
    """A loaded, validated taxonomy file."""

    def __init__(self, data: dict[str, Any], source: str = "<dict>") -> None:
        self.source = source
        self.name = str(data.get("name", "taxonomy"))
        self.concepts: dict[str, Concept] = {}
        self.categories: dict[str, Category] = {}
        self.groups: dict[str, Group] = {}
        self._parse(data)
        self.negations = self._negations(data.get("negations")) if "negations" in data else default_negations()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Taxonomy:
        """Load and validate a taxonomy YAML file (the project's own by default)."""
        path = Path(path) if path else DEFAULT_TAXONOMY
        if not path.is_file():
            raise TaxonomyError(f"Taxonomy file {path} does not exist.", fix="pass --taxonomy FILE")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise TaxonomyError(f"{path} is not valid YAML: {err}", fix="correct the YAML") from err
        if not isinstance(data, dict):
            raise TaxonomyError(f"{path} must hold a mapping.", fix="see data/taxonomy.yml")
        return cls(data, source=str(path))

    # -- parsing -------------------------------------------------------------------------
    def _need(self, cond: bool, msg: str) -> None:
        if not cond:
            raise TaxonomyError(f"{self.source}: {msg}", fix="compare with data/taxonomy.yml")

    def _parse(self, data: dict[str, Any]) -> None:
        concepts = data.get("concepts") or {}
        categories = data.get("categories") or {}
        groups = data.get("groups") or {}
        self._need(isinstance(concepts, dict) and bool(concepts), "'concepts' must be a non-empty mapping")
        self._need(isinstance(categories, dict) and bool(categories), "'categories' must be a non-empty mapping")
        self._need(isinstance(groups, dict) and bool(groups), "'groups' must be a non-empty mapping")
        parent_of: dict[str, str] = {}
        for name, spec in concepts.items():
            self._need(isinstance(spec, dict) and bool(spec.get("children")), f"concept {name!r} needs children")
            for child in spec["children"]:
                self._need(child not in parent_of, f"{child!r} has two parents")
                parent_of[child] = name
        for name, spec in concepts.items():
            self.concepts[name] = Concept(
                name=name,
                parent=parent_of.get(name),
                children=tuple(spec["children"]),
                synonyms=tuple(_low(spec.get("synonyms", []))),
            )
        roots = [c for c in self.concepts.values() if c.parent is None]
        self._need(len(roots) == 1, f"exactly one root concept expected, found {[c.name for c in roots]}")
        self.root = roots[0].name
        for name, spec in categories.items():
            spec = spec or {}
            self._need(name in parent_of, f"category {name!r} is no concept's child")
            self._need(name not in self.concepts, f"{name!r} is both a concept and a category")
            self.categories[name] = Category(
                name=name,
                parent=parent_of[name],
                folder=str(spec.get("folder", name)),
                silhouette=str(spec.get("silhouette", name)),
                synonyms=tuple(_low(spec.get("synonyms", []))),
            )
        for child, parent in parent_of.items():
            self._need(child in self.concepts or child in self.categories, f"{child!r} (under {parent!r}) is undefined")
        for name, spec in groups.items():
            self._need(isinstance(spec, dict), f"group {name!r} must be a mapping")
            relation = spec.get("relation")
            self._need(
                relation in (EXCLUSIVE, INDEPENDENT), f"group {name!r}: relation must be exclusive or independent"
            )
            values = spec.get("values") or {}
            self._need(isinstance(values, dict) and bool(values), f"group {name!r} needs values")
            applies = spec.get("applies_to")
            if applies is not None:
                for cat in applies:
                    self._need(cat in self.categories, f"group {name!r} applies to unknown category {cat!r}")
            self.groups[name] = Group(
                name=name,
                relation=relation,
                visible=bool(spec.get("visible", True)),
                values={str(v).lower(): tuple(_low(s or [])) for v, s in values.items()},
                applies_to=tuple(applies) if applies is not None else None,
            )
        self._need(CATEGORY not in self.groups, "'category' is reserved and cannot be a group name")

    def _negations(self, spec: Any) -> NegationWords:
        self._need(isinstance(spec, dict) and bool(spec.get("phrases")), "'negations' needs a non-empty 'phrases' list")
        lists = {}
        for name in ("phrases", "between", "except_after"):
            items = spec.get(name) or []
            self._need(
                isinstance(items, list) and all(isinstance(w, str) and w.strip() for w in items),
                f"negations.{name} must be a list of words (quote 'no': YAML reads it as false)",
            )
            lists[name] = tuple(normalise_text(w) for w in items)
        return NegationWords(**lists)

    # -- queries -------------------------------------------------------------------------
    def groups_for(self, category: str) -> list[Group]:
        """Attribute groups that apply to ``category``."""
        return [g for g in self.groups.values() if g.applies_to is None or category in g.applies_to]

    def path(self, category: str) -> list[str]:
        """Concepts from the root down to ``category`` (inclusive)."""
        if category not in self.categories:
            raise TaxonomyError(f"Unknown category {category!r}.", fix=f"use one of {sorted(self.categories)}")
        out = [category]
        node: str | None = self.categories[category].parent
        while node is not None:
            out.append(node)
            node = self.concepts[node].parent
        return out[::-1]

    def attributes(self) -> list[str]:
        """Every attribute key ``group:value`` (categories excluded)."""
        return [attribute_key(g.name, v) for g in self.groups.values() for v in g.values]

    def is_exclusive(self, group: str) -> bool:
        """True when values of ``group`` replace each other (categories are exclusive)."""
        return group == CATEGORY or (group in self.groups and self.groups[group].exclusive)

    @cached_property
    def phrases(self) -> dict[str, tuple[str, str]]:
        """Normalised surface phrase -> (group, value), values and synonyms alike."""
        table: dict[str, tuple[str, str]] = {}
        for cat in self.categories.values():
            for p in (cat.name, *cat.synonyms):
                table.setdefault(normalise_text(p), (CATEGORY, cat.name))
        for g in self.groups.values():
            for v, syns in g.values.items():
                table.setdefault(normalise_text(v), (g.name, v))
                table.setdefault(normalise_text(v.replace("-", " ")), (g.name, v))
                for s in syns:
                    table.setdefault(normalise_text(s), (g.name, v))
        for cat in self.categories.values():
            table.setdefault(normalise_text(cat.name.replace("-", " ")), (CATEGORY, cat.name))
        return table

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        alts = sorted(self.phrases, key=len, reverse=True)
        return re.compile(r"(?<![\w-])(" + "|".join(re.escape(a) for a in alts) + r")(?![\w-])")

    def normalise(self, phrase: str) -> tuple[str, str] | None:
        """Map a phrase ("dark blue") to ``(group, value)`` ("color", "navy"), or None."""
        return self.phrases.get(normalise_text(phrase))

    def find_mentions(self, text: str) -> list[Mention]:
        """All taxonomy phrases in ``text``, longest match first, left to right."""
        norm = normalise_text(text)
        out = []
        for m in self._pattern.finditer(norm):
            group, value = self.phrases[m.group(1)]
            out.append(Mention(group, value, m.start(1), m.end(1), m.group(1)))
        return out


@lru_cache(maxsize=1)
def default_negations() -> NegationWords:
    """The negation words of the project's taxonomy (``data/taxonomy.yml``), for taxonomies without their own."""
    data = yaml.safe_load(DEFAULT_TAXONOMY.read_text()) if DEFAULT_TAXONOMY.is_file() else None
    if not isinstance(data, dict) or "negations" not in data:
        raise TaxonomyError(f"{DEFAULT_TAXONOMY} has no 'negations' section.", fix="restore it from git")
    return Taxonomy(data, source=str(DEFAULT_TAXONOMY)).negations


def _low(items: Any) -> list[str]:
    return [str(x).lower() for x in items]
