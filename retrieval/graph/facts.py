"""The graph adjacency that explanations and text search read, as flat arrays (no graph query per call).

:class:`GraphFacts` is built once per loaded graph: each image's attribute nodes (``has_attribute`` and
the interactions' ``has_user_attribute``), each attribute's EI-tree path (``is_a`` up to the root), the
captions that modify each image and the attributes they mention; interactions update it in place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, split_key
from retrieval.graph import schema


@dataclass
class Csr:
    """Rows of int ids (compressed sparse rows): ``row(i)`` is a view, no copy."""

    ptr: np.ndarray
    idx: np.ndarray

    @classmethod
    def from_pairs(cls, rows: np.ndarray, cols: np.ndarray, n_rows: int) -> Csr:
        """Rows ``rows[e]`` get ``cols[e]`` (stable: edge order kept within a row)."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        ptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=ptr[1:])
        return cls(ptr, np.asarray(cols, dtype=np.int64)[order])

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.ptr) - 1

    def row(self, i: int) -> np.ndarray:
        """Ids of row ``i``."""
        return self.idx[self.ptr[i] : self.ptr[i + 1]]

    def gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(position in ids, id)`` of every entry of rows ``ids`` (each < ``n_rows``), row by row."""
        if len(ids) <= 4:  # a few rows (a touched hub, a new caption, liked photos): slices
            if not len(ids):
                return np.zeros(0, np.int64), np.zeros(0, np.int64)
            bounds = [(int(self.ptr[i]), int(self.ptr[i + 1])) for i in ids.tolist()]
            if len(ids) == 1:
                return np.zeros(bounds[0][1] - bounds[0][0], np.int64), self.idx[bounds[0][0] : bounds[0][1]]
            pos = np.repeat(np.arange(len(ids)), [b - a for a, b in bounds])
            return pos, np.concatenate([self.idx[a:b] for a, b in bounds])
        start = self.ptr[ids]
        counts = self.ptr[ids + 1] - start
        total = int(counts.sum())
        if not total:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.repeat(np.arange(len(ids)), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return pos, self.idx[np.repeat(start, counts) + offsets]

    def transpose(self, n_cols: int) -> Csr:
        """Column -> rows."""
        rows = np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.ptr))
        return Csr.from_pairs(self.idx, rows, n_cols)


def _edges(g, etype) -> tuple[np.ndarray, np.ndarray]:
    if etype not in g.canonical_etypes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    src, dst = g.edges(etype=etype)
    return src.numpy().astype(np.int64), dst.numpy().astype(np.int64)


@dataclass
class GraphFacts:
    """The graph adjacency explanations and text search read, as arrays aligned with node ids.

    Edits (issue 4) go through :meth:`add_attribute` / :meth:`add_image_attribute`, which keep an
    overlay so the base arrays never need rebuilding; :meth:`record_statement` remembers who stated
    a ``has_user_attribute`` edge (read back by :meth:`stated_by` for explanations).
    """

    viewer: ClassVar[str | None] = None  # the shopper whose view this is (None: the shared facts)

    image_names: list[str]
    attr_keys: list[str]
    concept_names: list[str]
    caption_texts: list[str]
    image_attrs: Csr  # image -> attribute (has_attribute)
    attr_concept: np.ndarray  # attribute -> its is_a concept (-1: none)
    concept_parent: np.ndarray  # concept -> parent concept (-1: root)
    image_captions: Csr  # image -> captions that modify it
    caption_attrs: Csr  # caption -> attributes it mentions
    exclusive_groups: frozenset[str] = frozenset()
    overlay: dict[int, dict[int, str]] = field(default_factory=dict)  # image -> {attr: relation} added later
    dropped: dict[int, set[int]] = field(default_factory=dict)  # image -> base attrs a statement replaced
    stated: dict[tuple[int, int], str] = field(default_factory=dict)  # (image, attr) -> who stated the edge
    version: int = 0  # bumped by every edit: readers that cache per-image facts compare it
    _attr_images: Csr | None = None
    _overlay_by_attr: dict[int, set[int]] = field(default_factory=dict)
    _split: dict[int, tuple[str, str]] = field(default_factory=dict)
    _chains: dict[int, tuple[int, ...]] = field(default_factory=dict)
    _tree: dict[int, bool] = field(default_factory=dict)

    @classmethod
    def from_graph(cls, g, ids, taxonomy: Taxonomy) -> GraphFacts:
        """Read the adjacency of a built DGL graph ``g`` with id maps ``ids``."""
        n_img, n_attr, n_con = g.num_nodes(schema.IMAGE), g.num_nodes(schema.ATTRIBUTE), g.num_nodes(schema.CONCEPT)
        src, dst = _edges(g, schema.IMAGE_HAS_ATTRIBUTE)
        attr_concept = np.full(n_attr, -1, dtype=np.int64)
        a, c = _edges(g, schema.ATTRIBUTE_IS_A)
        attr_concept[a] = c
        concept_parent = np.full(n_con, -1, dtype=np.int64)
        c1, c2 = _edges(g, schema.CONCEPT_IS_A)
        concept_parent[c1] = c2
        cap, img = _edges(g, schema.CAPTION_MODIFIES)
        m_cap, m_attr = _edges(g, schema.CAPTION_MENTIONS)
        groups = {g_.name for g_ in taxonomy.groups.values() if g_.exclusive} | {CATEGORY}
        facts = cls(
            image_names=ids.images,
            attr_keys=ids.attributes,
            concept_names=ids.concepts,
            caption_texts=ids.captions,
            image_attrs=Csr.from_pairs(src, dst, n_img),
            attr_concept=attr_concept,
            concept_parent=concept_parent,
            image_captions=Csr.from_pairs(img, cap, n_img),
            caption_attrs=Csr.from_pairs(m_cap, m_attr, g.num_nodes(schema.CAPTION)),
            exclusive_groups=frozenset(groups),
        )
        u_src, u_dst = _edges(g, schema.IMAGE_HAS_USER_ATTRIBUTE)
        for i, j in zip(u_src.tolist(), u_dst.tolist(), strict=True):
            facts.add_image_attribute(i, j, schema.HAS_USER_ATTRIBUTE)
        return facts

    # -- reads ---------------------------------------------------------------------------
    def attributes_of(self, image: int) -> dict[int, str]:
        """Attribute node -> relation name (``has_attribute`` / ``has_user_attribute``) of one image."""
        base = self.image_attrs.row(image).tolist() if image < self.image_attrs.n_rows else []
        out = dict.fromkeys(base, schema.HAS_ATTRIBUTE)
        for a in self.dropped.get(image, ()):
            out.pop(a, None)
        extra = self.overlay.get(image)
        if extra:
            for a, rel in extra.items():
                out.setdefault(a, rel)
        return out

    def base_images_with(self, attr: int) -> np.ndarray:
        """Image nodes of the loaded graph's ``has_attribute`` edges to ``attr``, sorted (no edit applied;
        inverted list, built on first use; do not modify the array).
        """
        if self._attr_images is None:
            self._attr_images = self.image_attrs.transpose(len(self.attr_keys))
        return self._attr_images.row(attr) if attr < self._attr_images.n_rows else np.zeros(0, np.int64)

    def images_with(self, attr: int) -> np.ndarray:
        """Image nodes that have attribute ``attr`` (the loaded edges with every edit applied)."""
        base = self.base_images_with(attr)
        gone = [i for i in base.tolist() if attr in self.dropped.get(i, ())] if self.dropped else []
        if gone:
            base = np.setdiff1d(base, np.asarray(gone, dtype=np.int64))
        extra = self._overlay_by_attr.get(attr)
        if extra:
            return np.union1d(base, np.fromiter(extra, dtype=np.int64))
        return base

    def match_counts(self, attrs: dict[int, float], n_images: int) -> np.ndarray:
        """Per image node, the summed weights of the attribute nodes of ``attrs`` it links to (A.2's X set
        is the top level).
        """
        lists = [self.images_with(int(a)) for a in attrs]
        if not lists:
            return np.zeros(n_images, dtype=np.float64)
        weights = np.concatenate([np.full(len(x), float(w)) for x, w in zip(lists, attrs.values(), strict=True)])
        return np.bincount(np.concatenate(lists), weights=weights, minlength=n_images)[:n_images]

    def stated_by(self, image: int, attr: int) -> str | None:
        """Who stated ``image -has_user_attribute-> attr`` (None: a catalog attribute, or no such edge)."""
        if self.overlay.get(int(image), {}).get(int(attr)) != schema.HAS_USER_ATTRIBUTE:
            return None
        return self.stated.get((int(image), int(attr)))

    def _parts(self, attr: int) -> tuple[str, str]:
        parts = self._split.get(attr)
        if parts is None:
            group, value = split_key(self.attr_keys[attr])
            parts = self._split[attr] = (group, value or self.attr_keys[attr])
        return parts

    def group(self, attr: int) -> str:
        """Group of an attribute node (``color`` for ``color:red``)."""
        return self._parts(attr)[0]

    def value(self, attr: int) -> str:
        """Value of an attribute node (``red`` for ``color:red``)."""
        return self._parts(attr)[1]

    def is_exclusive(self, attr: int) -> bool:
        """True when a value of this attribute's group replaces the others."""
        return self.group(attr) in self.exclusive_groups

    def concept_chain(self, attr: int) -> tuple[int, ...]:
        """Concept nodes from the attribute's is_a parent up to the root."""
        chain = self._chains.get(attr)
        if chain is None:
            out: list[int] = []
            c = int(self.attr_concept[attr]) if attr < len(self.attr_concept) else -1
            while c >= 0 and c not in out:
                out.append(c)
                c = int(self.concept_parent[c])
            chain = self._chains[attr] = tuple(out)
        return chain

    def is_tree_concept(self, concept: int) -> bool:
        """An EI-tree concept worth naming (not a group concept like ``group:color``, not the root)."""
        tree = self._tree.get(concept)
        if tree is None:
            name = self.concept_names[concept]
            tree = self._tree[concept] = (
                not name.startswith(schema.GROUP_CONCEPT_PREFIX) and int(self.concept_parent[concept]) >= 0
            )
        return tree

    # -- edits (issue 4) -----------------------------------------------------------------
    def add_attribute(self, key: str, concept: int) -> int:
        """Register a new attribute node (already added to the graph) under ``concept``; returns its id.

        ``attr_keys`` is the graph's id list itself, so a key already appended there is not added twice.
        """
        if len(self.attr_keys) == len(self.attr_concept):
            self.attr_keys.append(key)
        self.attr_concept = np.append(self.attr_concept, np.int64(concept))
        self._attr_images = None
        self._chains.clear()
        self.version += 1
        return len(self.attr_concept) - 1

    def link_attribute(self, attr: int, concept: int) -> None:
        """Hang an attribute node created without a concept (a pending statement's) on ``concept``."""
        self.attr_concept[int(attr)] = int(concept)
        self._chains.clear()
        self.version += 1

    def add_image_attribute(self, image: int, attr: int, relation: str = schema.HAS_USER_ATTRIBUTE) -> None:
        """Record a new image -> attribute edge (already added to the graph)."""
        self.overlay.setdefault(int(image), {})[int(attr)] = relation
        self._overlay_by_attr.setdefault(int(attr), set()).add(int(image))
        self.version += 1

    def record_statement(self, image: int, attr: int, who: str) -> None:
        """Remember that ``who`` stated the (already added) ``image -has_user_attribute-> attr`` edge."""
        self.stated[(int(image), int(attr))] = who

    def drop_image_attribute(self, image: int, attr: int) -> None:
        """Forget an image -> attribute edge (already removed from the graph): an exclusive value replaced."""
        image, attr = int(image), int(attr)
        if self.overlay.get(image, {}).pop(attr, None) is not None:
            self._overlay_by_attr.get(attr, set()).discard(image)
        if image < self.image_attrs.n_rows and attr in self.image_attrs.row(image):
            self.dropped.setdefault(image, set()).add(attr)
        self.version += 1
