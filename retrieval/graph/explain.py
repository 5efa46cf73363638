"""Explanations from the information graph: which nodes and edges tie a result to the pick and the words.

:class:`GraphFacts` precomputes, once per loaded graph, the adjacency an explanation needs as flat
arrays: each image's attribute nodes (``has_attribute`` and issue 4's ``has_user_attribute``), each
attribute's EI-tree path (``is_a`` edges up to the root), the captions that modify each image and
the attributes they mention. :class:`Explainer` then explains one result in O(attributes of the
two images): no graph query per call.

For a result ``R``, a candidate ``C`` (None on a first search) and the attributes ``M`` the text
mentions:

* ``shared``: attributes both images have (two ``has_attribute`` edges), except those the text changes;
* ``matched``: attributes of ``M`` the result has;
* ``replaced``: ``(old, new)`` when ``new`` is in ``M``, its group is exclusive
  (:meth:`Taxonomy.is_exclusive`), the candidate has ``old`` of that group and the result has ``new``;
* ``missing``: attributes of ``M`` the result lacks;
* ``concepts``: EI-tree concepts both images reach through ``is_a`` edges (just the result's on a search);
* ``path``: the result's EI-tree path, root first, down to its category ("clothing > full-body > dress"),
  from the category's ``is_a`` edges;
* ``edges``: every graph edge behind the statements, plus a training caption that modified the
  candidate and mentions what was asked for, when there is one;
* ``stated``: who stated each credited attribute that comes from a ``has_user_attribute`` edge (a
  person's statement, not the catalog); the text says so: "has linen (stated by staff) as you
  asked", or "(as you told me)" for the viewing shopper's own pending statement.

The text names every asked-for value the result has and every one it lacks, first ("is a dress and has
black and long-sleeve as you asked, but lacks pockets"), then replacements, what it shares with the
pick, its EI path and a caption, in that order for every result.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from retrieval.api import Explanation, GraphEdge, GraphNode
from retrieval.catalog.taxonomy import CATEGORY
from retrieval.graph import schema
from retrieval.graph.facts import Csr, GraphFacts  # noqa: F401 - re-exported for callers

MAX_LISTED = 4  # values named per clause of the shopper text
CACHE_LIMIT = 200_000  # cached node / edge objects before the caches are emptied
GROUP_WORDS = {"category": "category", "sleeve": "sleeve type", "details": "detail"}


def _unique(edges: list[GraphEdge]) -> tuple[GraphEdge, ...]:
    """Edges in first-seen order, each once (cached edge objects: identity is equality)."""
    return tuple({id(e): e for e in edges}.values())


def human_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` (at most MAX_LISTED named, then "N more")."""
    items = list(items)
    if len(items) > MAX_LISTED:
        items = [*items[: MAX_LISTED - 1], f"{len(items) - MAX_LISTED + 1} more"]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def full_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: every item named (what the shopper asked for is never cut)."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _a(noun: str) -> str:
    """``a dress``, ``an overcoat``, ``jeans`` (plural nouns take no article)."""
    if noun.endswith("s") and not noun.endswith("ss"):
        return noun
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def plural(word: str) -> str:
    """Rough English plural of a category or group name."""
    if word.endswith("ss"):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word if word.endswith("s") else word + "s"


@dataclass(frozen=True)
class _Query:
    """The candidate's side of one query's explanations (see :meth:`Explainer.explain_many`)."""

    candidate: int | None
    cand: dict[int, str]
    cand_concepts: dict[int, int]
    wanted: list[int]
    wanted_set: set[int]
    groups: set[str]
    captions: dict[tuple[int, ...], tuple[int, int] | None]


class Explainer:
    """Builds :class:`Explanation` objects from :class:`GraphFacts`."""

    def __init__(self, facts: GraphFacts) -> None:
        self.facts = facts
        self._nodes: dict[tuple[str, int], GraphNode] = {}
        self._edges: dict[tuple[str, int, str, str, int], GraphEdge] = {}
        self._paths: dict[int, tuple[tuple[str, ...], list[GraphEdge]]] = {}

    def _node(self, ntype: str, node: int) -> GraphNode:
        out = self._nodes.get((ntype, node))
        if out is None:
            f = self.facts
            names = {
                schema.IMAGE: f.image_names,
                schema.ATTRIBUTE: f.attr_keys,
                schema.CONCEPT: f.concept_names,
                schema.CAPTION: f.caption_texts,
            }[ntype]
            out = self._nodes[(ntype, node)] = GraphNode(ntype, int(node), names[node])
        return out

    def _edge(self, st: str, src: int, rel: str, dt: str, dst: int) -> GraphEdge:
        """The (cached, so deduplicated by identity) edge object."""
        key = (st, src, rel, dt, dst)
        out = self._edges.get(key)
        if out is None:
            out = self._edges[key] = GraphEdge(self._node(st, src), rel, self._node(dt, dst))
        return out

    def _has(self, image: int, attr: int, rel: str) -> GraphEdge:
        return self._edge(schema.IMAGE, image, rel, schema.ATTRIBUTE, attr)

    def _is_a_path(self, attr: int, upto: int) -> list[GraphEdge]:
        """``attr is_a c1 is_a c2 ... upto`` edges."""
        chain = self.facts.concept_chain(attr)
        if upto not in chain:
            return []
        out = [self._edge(schema.ATTRIBUTE, attr, schema.IS_A, schema.CONCEPT, chain[0])]
        for a, b in itertools.pairwise(chain[: chain.index(upto) + 1]):
            out.append(self._edge(schema.CONCEPT, a, schema.IS_A, schema.CONCEPT, b))
        return out

    def _trim_caches(self) -> None:
        if len(self._edges) > CACHE_LIMIT or len(self._nodes) > CACHE_LIMIT:
            self._edges.clear()
            self._nodes.clear()
            self._paths.clear()

    def _path(self, attrs: Iterable[int]) -> tuple[tuple[str, ...], list[GraphEdge]]:
        """The EI-tree path of an image with attributes ``attrs``: concept names root first, then its
        category value, and the ``is_a`` edges from the category up to the root (cached per category).
        """
        f = self.facts
        cat = next((a for a in attrs if f.group(a) == CATEGORY), None)
        if cat is None:
            return (), []
        out = self._paths.get(cat)
        if out is None:
            chain = f.concept_chain(cat)
            edges = self._is_a_path(cat, chain[-1]) if chain else []
            names = tuple(
                f.concept_names[c]
                for c in reversed(chain)
                if not f.concept_names[c].startswith(schema.GROUP_CONCEPT_PREFIX)
            )
            out = self._paths[cat] = ((*names, f.value(cat)), edges)
        return out

    def _stated(self, image: int, attrs: Iterable[int]) -> dict[int, str]:
        """Attribute -> who stated it, for the attributes of ``image`` that come from a statement."""
        out: dict[int, str] = {}
        for a in attrs:
            who = self.facts.stated_by(image, a)
            if who is not None:
                out[a] = who
        return out

    def _value(self, attr: int, stated: dict[int, str]) -> str:
        """The attribute's value for the shopper, with who stated it when a person did."""
        who = stated.get(attr)
        if who is None:
            return self.facts.value(attr)
        if who == self.facts.viewer:
            return f"{self.facts.value(attr)} (as you told me)"
        return f"{self.facts.value(attr)} (stated by {who})"

    def _concepts(self, attrs: Iterable[int]) -> dict[int, int]:
        """EI-tree concept -> the attribute it is reached from (nearest first)."""
        out: dict[int, int] = {}
        for a in attrs:
            for c in self.facts.concept_chain(a):
                if self.facts.is_tree_concept(c):
                    out.setdefault(c, a)
        return out

    def explain(self, candidate: int | None, mentioned: Sequence[int], result: int) -> Explanation:
        """Explain ``result`` for a query (``candidate`` None: a first search from words only)."""
        return self.explain_many(candidate, mentioned, [result])[0]

    def explain_many(
        self, candidate: int | None, mentioned: Sequence[int], results: Iterable[int]
    ) -> list[Explanation]:
        """Explain several results of one query: the candidate's side is worked out once."""
        self._trim_caches()
        f = self.facts
        cand = f.attributes_of(candidate) if candidate is not None else {}
        wanted = list(dict.fromkeys(int(a) for a in mentioned))
        ctx = _Query(
            candidate,
            cand,
            self._concepts(cand) if candidate is not None else {},
            wanted,
            set(wanted),
            {f.group(a) for a in wanted if f.is_exclusive(a)},
            {},
        )
        return [self._explain(ctx, int(r)) for r in results]

    def _explain(self, q: _Query, result: int) -> Explanation:
        f = self.facts
        candidate, cand, wanted, wanted_set, changed_groups = q.candidate, q.cand, q.wanted, q.wanted_set, q.groups
        res = f.attributes_of(result)
        edges: list[GraphEdge] = []
        matched = [a for a in wanted if a in res]
        missing = [a for a in wanted if a not in res]
        replaced: list[tuple[int, int]] = []
        for new in matched:
            if f.is_exclusive(new):
                for old in cand:
                    if old != new and f.group(old) == f.group(new):
                        replaced.append((old, new))
        shared = sorted(a for a in res if a in cand and a not in wanted_set and f.group(a) not in changed_groups)
        for a in shared:
            assert candidate is not None  # shared attributes come from cand, empty without a candidate
            edges += [self._has(candidate, a, cand[a]), self._has(result, a, res[a])]
        for a in matched:
            edges.append(self._has(result, a, res[a]))
        for old, new in replaced:
            assert candidate is not None  # replaced values come from cand, empty without a candidate
            edges.append(self._has(candidate, old, cand[old]))
            group_concept = f.concept_chain(new)[:1]
            if group_concept and group_concept == f.concept_chain(old)[:1]:
                edges += self._is_a_path(old, group_concept[0]) + self._is_a_path(new, group_concept[0])
        res_concepts = self._concepts(res)
        if candidate is not None:
            cand_concepts = q.cand_concepts
            concept_ids = [c for c in res_concepts if c in cand_concepts]
            for c in concept_ids:
                for side, attrs, via in ((candidate, cand, cand_concepts[c]), (result, res, res_concepts[c])):
                    edges += [self._has(side, via, attrs[via]), *self._is_a_path(via, c)]
        else:
            concept_ids = list(res_concepts)
            for c in concept_ids:
                via = res_concepts[c]
                edges += [self._has(result, via, res[via]), *self._is_a_path(via, c)]
        asked = tuple(n for _, n in replaced) or tuple(matched)
        if asked not in q.captions:
            q.captions[asked] = self._caption_evidence(candidate, asked)
        caption = q.captions[asked]
        if caption is not None:
            assert candidate is not None  # _caption_evidence finds none without a candidate
            cap, attr = caption
            edges += [
                self._edge(schema.CAPTION, cap, schema.MODIFIES, schema.IMAGE, candidate),
                self._edge(schema.CAPTION, cap, schema.MENTIONS, schema.ATTRIBUTE, attr),
            ]
        path, path_edges = self._path(res)
        edges += path_edges
        key = f.attr_keys.__getitem__
        stated = self._stated(result, [*shared, *matched])
        text = self._text(candidate, res, cand, shared, matched, replaced, missing, concept_ids, caption, stated, path)
        return Explanation(
            shared=tuple(map(key, shared)),
            matched=tuple(map(key, matched)),
            replaced=tuple((key(o), key(n)) for o, n in replaced),
            missing=tuple(map(key, missing)),
            concepts=tuple(f.concept_names[c] for c in concept_ids),
            edges=_unique(edges),
            text=text,
            stated=tuple((key(a), who) for a, who in stated.items()),
            path=path,
        )

    def _caption_evidence(self, candidate: int | None, asked: Sequence[int]) -> tuple[int, int] | None:
        """A training caption that modified the candidate and mentions one of ``asked``."""
        if candidate is None or not asked:
            return None
        f = self.facts
        asked_set = set(asked)
        for cap in f.image_captions.row(candidate).tolist() if candidate < f.image_captions.n_rows else ():
            for a in f.caption_attrs.row(cap).tolist():
                if a in asked_set:
                    return cap, a
        return None

    def _asked(self, matched: Sequence[int], missing: Sequence[int], stated: dict[int, str]) -> str:
        """The asked-for values the result has and those it lacks, each named ("" if nothing was asked)."""
        f = self.facts
        has, lacks = [], []
        cats = [f.value(a) for a in matched if f.group(a) == CATEGORY]
        if cats:
            has.append(f"is {_a(cats[0])}")
        words = [self._value(a, stated) for a in matched if f.group(a) != CATEGORY]
        if words:
            has.append(f"has {full_list(words)}")
        cats = [f.value(a) for a in missing if f.group(a) == CATEGORY]
        if cats:
            lacks.append(f"is not {_a(full_list(cats))}" if len(cats) == 1 else f"is none of {full_list(cats)}")
        words = [f.value(a) for a in missing if f.group(a) != CATEGORY]
        if words:
            lacks.append(f"lacks {full_list(words)}")
        if has and lacks:
            return f"{' and '.join(has)} as you asked, but {' and '.join(lacks)}"
        if has:
            return f"{' and '.join(has)} as you asked"
        return f"{' and '.join(lacks)}, which you asked for" if lacks else ""

    def _text(
        self, candidate, res, cand, shared, matched, replaced, missing, concept_ids, caption, stated, path
    ) -> str:
        f = self.facts
        val = f.value
        parts: list[str] = []
        asked = self._asked(matched, missing, stated)
        if asked:
            parts.append(asked)
        for old, new in replaced:
            word = GROUP_WORDS.get(f.group(new), f.group(new).replace("-", " "))
            parts.append(f"{val(new)} replaces {val(old)} of your pick since {plural(word)} are exclusive")
        shared_words = [self._value(a, stated) for a in shared if f.group(a) != CATEGORY]  # category: the path
        if shared_words:
            parts.append(f"shares {human_list(shared_words)} with your pick")
        linked = bool(parts) or caption is not None  # an attribute or caption edge, not just the tree
        if path:
            where = "EI path " + " > ".join(path)
            c_cat = [val(a) for a in cand if f.group(a) == CATEGORY]
            if candidate is not None and c_cat and c_cat[0] == path[-1]:
                where += f" (both are {plural(path[-1])})"
            elif candidate is not None and concept_ids:
                pick = f"your pick, {_a(c_cat[0])}," if c_cat else "your pick"
                where += f" ({pick} is under {f.concept_names[concept_ids[0]]} too)"
            parts.append(where)
        elif concept_ids:
            parts.append(f"both are {f.concept_names[concept_ids[0]]} pieces")
        if caption is not None:
            cap_text = f.caption_texts[caption[0]]
            cap_text = cap_text if len(cap_text) <= 60 else cap_text[:57] + "..."
            parts.append(f'shoppers asked "{cap_text}" of your pick before')
        if not linked:
            close = (
                "close to your pick in the learned graph embedding; no attribute links it directly"
                if candidate is not None
                else "close to your words in the learned graph embedding"
            )
            parts.insert(0, close)
        sentence = "; ".join(parts) + "."
        return sentence[0].upper() + sentence[1:]

    def describe(self, image: int) -> Explanation:
        """An image's own attributes (as ``shared``), EI-tree concepts and edges."""
        self._trim_caches()
        f = self.facts
        attrs = f.attributes_of(image)
        concepts = self._concepts(attrs)
        edges = [self._has(image, a, rel) for a, rel in attrs.items()]
        for c, via in concepts.items():
            edges += self._is_a_path(via, c)
        stated = self._stated(image, attrs)
        order = sorted(attrs, key=lambda a: a not in stated)  # what people stated first: the list may be cut
        values = [self._value(a, stated) for a in order if f.group(a) != CATEGORY]
        cats = [f.value(a) for a in attrs if f.group(a) == CATEGORY]
        head = _a(cats[0]).capitalize() if cats else "A piece"
        path, path_edges = self._path(attrs)
        edges += path_edges
        if path:
            head += f" ({' > '.join(path)})"
        elif concepts:
            head += f" ({f.concept_names[next(iter(concepts))]})"
        text = head + (f" with {human_list(values)}." if values else ".")
        return Explanation(
            path=path,
            shared=tuple(f.attr_keys[a] for a in attrs),
            concepts=tuple(f.concept_names[c] for c in concepts),
            edges=_unique(edges),
            text=text,
            stated=tuple((f.attr_keys[a], who) for a, who in stated.items()),
        )
