"""The EI tree honoured in ``modify``: words -> :class:`Request`, then a re-ranking that keeps it.

``"like this but red, without the hood"`` on a striped hooded dress becomes: category dress (kept: no
new one named), want ``color:red`` (colour is exclusive: red replaces the candidate's colour), drop
``details:hood`` (a negation), prefer ``pattern:striped`` and the other unmentioned visible attributes.
An independent group's value is added to what the candidate has ("with pockets").

:class:`RequestRanker` re-ranks an over-fetched list (FAISS neighbours of the query vector plus the images
whose graph evidence carries every asked value): products satisfying every requirement first, ordered by
the learned R-GCN similarity (plus a small lift for kept visible attributes), then the closest ones
(most requirements met). Evidence per image comes from the graph: its ``has_attribute`` edges (predicted,
or caption-based), ``has_user_attribute`` edges (stated metadata, issue 4) and the taxonomy mentions of
its product caption (stated metadata; the only source for invisible groups such as material and fit),
minus values a statement replaced. When fewer than ``min_satisfied`` products satisfy the request, the
answer lists which asked values could not be met (:attr:`Ranked.unmet`): a request is never silently
dropped.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import numpy as np

from retrieval.api import Ranked, Result
from retrieval.catalog.negation import negated_mentions
from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key, split_key
from retrieval.graph import schema
from retrieval.graph.facts import GraphFacts


@dataclass(frozen=True)
class Request:
    """What a modification asks of the results.

    Attributes:
        category: the category the results must have (the candidate's unless a new one is named).
        want: attribute keys every result should carry (replacements and additions).
        drop: attribute keys no result should carry (negations).
        keep: the candidate's unmentioned visible attribute keys (preferred, not required).
    """

    category: str
    want: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    new_category: bool = False

    @property
    def requirements(self) -> tuple[tuple[str, bool], ...]:
        """(key, wanted) pairs, the category first."""
        cat = (attribute_key(CATEGORY, self.category), True)
        return (cat, *((k, True) for k in self.want), *((k, False) for k in self.drop))


def parse_request(text: str, category: str, cand_keys: Set[str], taxonomy: Taxonomy) -> Request:
    """The EI-tree reading of ``text`` as a change of a ``category`` product carrying ``cand_keys``."""
    want: dict[str, str] = {}  # group (exclusive) or key (independent) -> key
    drop: list[str] = []
    new_cat = None
    for m, neg in negated_mentions(text, taxonomy):
        if m.group == CATEGORY:
            if neg is None:
                new_cat = m.value
            continue
        if neg is not None:
            if m.key not in drop:
                drop.append(m.key)
            slot = m.group if taxonomy.is_exclusive(m.group) else m.key
            if want.get(slot) == m.key:  # "red ... not red": the later words win; "blue instead of red" keeps blue
                del want[slot]
            continue
        want[m.group if taxonomy.is_exclusive(m.group) else m.key] = m.key
        if m.key in drop:
            drop.remove(m.key)
    cat = new_cat or category
    applies = {g.name for g in taxonomy.groups_for(cat)} if cat in taxonomy.categories else set(taxonomy.groups)
    touched = {split_key(k)[0] for k in (*want.values(), *drop)}
    visible = {g.name for g in taxonomy.groups.values() if g.visible}
    keep = sorted(
        k
        for k in cand_keys
        if split_key(k)[0] in visible & applies and split_key(k)[0] not in touched and k not in drop
    )
    return Request(cat, tuple(want.values()), tuple(drop), tuple(keep), new_cat is not None and new_cat != category)


def member(nodes: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per entry of ``nodes``, whether it is in the sorted array ``ids`` (binary search, no sort of ``nodes``)."""
    if not len(ids):
        return np.zeros(len(nodes), dtype=bool)
    pos = np.minimum(np.searchsorted(ids, nodes), len(ids) - 1)
    found: np.ndarray = ids[pos] == nodes
    return found


class Evidence:
    """Attribute keys per image node from the graph and the stated product captions (see module doc).

    :meth:`keys` (per node) and :meth:`images_with` (per key) are cached until the facts change
    (``GraphFacts.version``, bumped by every edit). :meth:`holds` answers ``key in keys(n)`` for many
    nodes at once: for a node no edit touched, from per-key sorted node arrays of the loaded graph and
    captions (the same stated-wins rule, computed once per key and never stale); for an edited node, from
    :meth:`keys`.
    """

    rich_caption = 3

    def __init__(self, facts: GraphFacts, categories: list[str], captions: list[str], taxonomy: Taxonomy) -> None:
        self.facts = facts
        self.categories = categories
        self.taxonomy = taxonomy
        self._caption_keys: list[frozenset[str]] = [
            frozenset(m.key for m in taxonomy.find_mentions(c) if m.group != CATEGORY) for c in captions
        ]
        self._by_key: dict[str, np.ndarray] = {}
        by_key: dict[str, list[int]] = {}
        for node, keys in enumerate(self._caption_keys):
            for k in keys:
                by_key.setdefault(k, []).append(node)
        for node, cat in enumerate(categories):
            by_key.setdefault(attribute_key(CATEGORY, cat), []).append(node)
        self._by_key = {k: np.asarray(v, dtype=np.int64) for k, v in by_key.items()}
        self._attr_of = {k: i for i, k in enumerate(facts.attr_keys)}
        self._keys: dict[int, frozenset[str]] = {}
        self._images: dict[str, np.ndarray] = {}
        self._edited: np.ndarray | None = None
        self._version = facts.version
        # the loaded graph's side of the rule, for nodes no edit touched: groups each caption states
        self._static_n = min(len(captions), len(categories), facts.image_attrs.n_rows)
        groups = sorted({split_key(k)[0] for k in self._by_key} - {CATEGORY})
        self._group_col = {g: i for i, g in enumerate(groups)}
        stated = np.zeros((len(captions), len(groups)), dtype=bool)
        for key, nodes in self._by_key.items():
            col = self._group_col.get(split_key(key)[0])
            if col is not None:
                stated[nodes, col] = True
        self._stated_groups = stated
        self._rich = stated.sum(axis=1) >= self.rich_caption
        self._static: dict[str, np.ndarray] = {}

    def _check_version(self) -> None:
        if self._version != self.facts.version:
            self._keys.clear()
            self._images.clear()
            self._edited = None
            self._version = self.facts.version

    def keys(self, node: int) -> frozenset[str]:
        """The attribute keys ``node`` carries, its catalog category included.

        Stated facts win over predictions: a group the product caption or a shopper's statement names
        takes its value from there; a predicted ``has_attribute`` edge counts only for groups nothing
        stated (for independent groups, only when the caption states fewer than ``rich_caption`` groups,
        i.e. it is not the product's full description). Predicted category edges never count: the
        catalog's category is stated.
        """
        self._check_version()
        found = self._keys.get(node)
        if found is None:
            found = self._keys[node] = frozenset(self._read_keys(node))
        return found

    def _read_keys(self, node: int) -> set[str]:
        facts = self.facts
        stated = set(self._caption_keys[node]) if node < len(self._caption_keys) else set()
        gone = facts.dropped.get(node)
        if gone:
            stated -= {facts.attr_keys[a] for a in gone}
        predicted: set[str] = set()
        for a, rel in facts.attributes_of(node).items():
            key = facts.attr_keys[a]
            (stated if rel == schema.HAS_USER_ATTRIBUTE else predicted).add(key)
        groups = {split_key(k)[0] for k in stated}
        rich = len(groups) >= self.rich_caption
        for key in predicted:
            group = split_key(key)[0]
            if group == CATEGORY or group in groups or (rich and not self.taxonomy.is_exclusive(group)):
                continue
            stated.add(key)
        stated.add(attribute_key(CATEGORY, self.categories[node]))
        return stated

    def _loaded_holders(self, key: str) -> np.ndarray:
        """Nodes below ``_static_n`` whose :meth:`keys` carry ``key`` when no edit touched them (sorted)."""
        found = self._static.get(key)
        if found is not None:
            return found
        found = self._by_key.get(key, np.zeros(0, np.int64))  # stated by the caption, or the catalog category
        group = split_key(key)[0]
        a = self._attr_of.get(key)
        if group != CATEGORY and a is not None:  # predicted edges count for groups the caption does not state
            base = self.facts.base_images_with(a)
            base = base[base < self._static_n]
            col = self._group_col.get(group)
            ok = ~self._stated_groups[base, col] if col is not None else np.ones(len(base), dtype=bool)
            if not self.taxonomy.is_exclusive(group):
                ok &= ~self._rich[base]
            found = np.union1d(found, base[ok])
        found = found[found < self._static_n]
        self._static[key] = found
        return found

    def edited(self) -> np.ndarray:
        """Image nodes an edit touched (a stated or added attribute, a replaced one), sorted."""
        self._check_version()
        if self._edited is None:
            ids = set(self.facts.overlay) | set(self.facts.dropped)
            self._edited = np.asarray(sorted(ids), dtype=np.int64)
        return self._edited

    def holds(self, keys: list[str], nodes: np.ndarray) -> np.ndarray:
        """``out[i, j]`` is ``keys[j] in self.keys(nodes[i])``, vectorized (see class doc)."""
        out = np.empty((len(nodes), len(keys)), dtype=bool)
        for j, key in enumerate(keys):
            out[:, j] = member(nodes, self._loaded_holders(key))
        slow = np.flatnonzero(member(nodes, self.edited()) | (nodes >= self._static_n))
        for i in slow.tolist():
            have = self.keys(int(nodes[i]))
            out[i] = [key in have for key in keys]
        return out

    def images_with(self, key: str) -> np.ndarray:
        """Image nodes whose evidence carries ``key`` (sorted; do not modify the array)."""
        self._check_version()
        found = self._images.get(key)
        if found is not None:
            return found
        base = self._by_key.get(key, np.zeros(0, np.int64))
        a = self._attr_of.get(key)
        if a is None and key in self.facts.attr_keys:  # added by an interaction after loading
            a = self._attr_of[key] = self.facts.attr_keys.index(key)
        found = np.union1d(base, self.facts.images_with(a)) if a is not None else base
        self._images[key] = found
        return found


@dataclass(frozen=True)
class RankerConfig:
    """How :class:`RequestRanker` re-ranks.

    Attributes:
        pool: FAISS neighbours fetched per request before re-ranking.
        exact_pool: most images carrying every asked value added to the pool (nearest first).
        keep_weight: similarity lift of a result keeping all the candidate's unmentioned visible attributes.
        min_satisfied: fewer satisfying products than this make the answer report unmet values.
    """

    pool: int = 300
    exact_pool: int = 2000
    keep_weight: float = 1.0
    min_satisfied: int = 4


class RequestRanker:
    """Re-ranks candidate nodes so the request's requirements come first (see module doc)."""

    def __init__(self, evidence: Evidence, cfg: RankerConfig | None = None) -> None:
        self.evidence = evidence
        self.cfg = cfg or RankerConfig()
        self._products: list[str] | None = None
        self._codes = np.zeros(0, np.int64)

    def product_codes(self, products: list[str]) -> np.ndarray:
        """An int per node, equal for photos of one product (remade when ``products`` is another list or grew)."""
        if self._products is not products or len(self._codes) != len(products):
            index: dict[str, int] = {}
            self._codes = np.fromiter((index.setdefault(p, len(index)) for p in products), np.int64, len(products))
            self._products = products
        return self._codes

    def exact(self, req: Request) -> np.ndarray:
        """Image nodes whose evidence satisfies every requirement of ``req`` (sorted)."""
        nodes = self.evidence.images_with(attribute_key(CATEGORY, req.category))
        for k in req.want:
            nodes = nodes[member(nodes, self.evidence.images_with(k))]
        for k in req.drop:
            nodes = nodes[~member(nodes, self.evidence.images_with(k))]
        return nodes

    def rank(
        self, req: Request, nodes: np.ndarray, sims: np.ndarray, products: list[str], k: int
    ) -> tuple[list[float], list[int], tuple[str, ...], int]:
        """Order ``nodes`` (with similarities ``sims``) for ``req``; one photo per product; top ``k``.

        Returns:
            scores, nodes, unmet values (see :class:`Ranked`), and how many returned products satisfy ``req``.
        """
        reqs = req.requirements
        nodes = np.asarray(nodes, dtype=np.int64)
        have = self.evidence.holds([key for key, _ in reqs] + list(req.keep), nodes)
        met = have[:, : len(reqs)] == np.array([wanted for _, wanted in reqs])
        n_met = met.sum(axis=1)
        kept = have[:, len(reqs) :].sum(axis=1) / len(req.keep) if req.keep else 1.0
        scores = np.asarray(sims, dtype=np.float64) + self.cfg.keep_weight * kept
        order = np.lexsort((-scores, -n_met, ~met[:, 0]))  # stable: category first, most met, best score
        first = np.unique(self.product_codes(products)[nodes[order]], return_index=True)[1]  # one photo per product
        out = order[np.sort(first)[:k]]
        satisfied = int((n_met[out] == len(reqs)).sum())
        unmet: tuple[str, ...] = ()
        if satisfied < min(self.cfg.min_satisfied, k):
            missed = ~met[out[: self.cfg.min_satisfied]].all(axis=0)
            unmet = tuple(key if wanted else "-" + key for (key, wanted), m in zip(reqs, missed, strict=True) if m)
        return scores[out].tolist(), nodes[out].tolist(), unmet, satisfied


class RequestStep:
    """The engine part ``modify`` calls: parse the words, over-fetch, re-rank (see module doc).

    Args:
        evidence: attribute keys per image node.
        emb: image node embeddings (the index's vectors).
        products: product id per image node.
        taxonomy: the EI tree.
        cfg: re-ranking settings.
    """

    def __init__(self, evidence: Evidence, emb: np.ndarray, products: list[str], taxonomy: Taxonomy, cfg=None):
        self.ranker = RequestRanker(evidence, cfg)
        self.emb = emb
        self.products = products
        self.taxonomy = taxonomy

    def request(self, cand: int, text: str) -> Request | None:
        """The request ``text`` makes of candidate node ``cand`` (None: it names no taxonomy value)."""
        ev = self.ranker.evidence
        have = ev.keys(cand)
        req = parse_request(
            text, ev.categories[cand], have - {attribute_key(CATEGORY, ev.categories[cand])}, self.taxonomy
        )
        return req if (req.want or req.drop or req.new_category) else None

    def answer(self, req: Request, q: np.ndarray, k: int, skip: set[int], knn) -> Ranked[tuple[float, int]]:
        """Top ``k`` for ``req``: ``knn(n)`` gives (scores, nodes) of the n nearest allowed nodes."""
        cfg = self.ranker.cfg
        s, n = knn(max(cfg.pool, 10 * k))
        nodes, sims = np.asarray(n, dtype=np.int64), np.asarray(s, dtype=np.float64)
        exact = self.ranker.exact(req)
        if skip:
            exact = exact[~np.isin(exact, np.fromiter(skip, np.int64, len(skip)))]
        exact = exact[~np.isin(exact, nodes)]
        if len(exact):
            es = self.emb[exact] @ q
            top = np.argsort(-es, kind="stable")[: cfg.exact_pool]
            nodes, sims = np.concatenate([nodes, exact[top]]), np.concatenate([sims, es[top]])
        scores, ids, unmet, satisfied = self.ranker.rank(req, nodes, sims, self.products, k)
        out = Ranked(zip(scores, ids, strict=True))
        out.unmet, out.satisfied = unmet, satisfied
        return out


def with_unmet(results: list[Result], ranked: Ranked[tuple[float, int]] | None) -> Ranked[Result]:
    """``results`` as a :class:`~retrieval.api.Ranked` carrying ``ranked``'s unmet values (none when None)."""
    out = Ranked(results)
    if ranked is None:
        return out
    out.unmet, out.satisfied = ranked.unmet, ranked.satisfied
    return out
