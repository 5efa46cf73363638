"""How the engine ranks: :class:`Ranker` (nearest neighbours with one photo per product and per-user
penalties, and the attribute tiers of a first-turn text search) over a
:class:`~retrieval.index.state.GraphState` it is handed on each call; it owns no state but its settings.

* :meth:`Ranker.knn`: top-k of the vector index; with ``one_photo_per_product`` only a product's best photo is
  kept (the index is asked for more until k products are found); the user's adjustments re-rank
  (dislike penalties, per-user like lifts, and a per-query ``boost`` of nodes, e.g. liked images of a
  similar earlier query, which are scored even when the index missed them).
* :meth:`Ranker.text_search`: tiers of images by the summed weight of the mentioned attribute nodes linked to
  them (A.2's X set is the top tier); inside a tier, similarity of the learned image embedding to the
  tier's centroid; the index fills what the tiers leave.

Mentions the words ask to drop ("instead of red", "without a hood") never reach the tiers:
:mod:`retrieval.engine.answer` removes them (:func:`retrieval.catalog.negation.unwanted_keys`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from retrieval.catalog.taxonomy import CATEGORY, attribute_key
from retrieval.errors import InvalidQueryError
from retrieval.graph import schema
from retrieval.index.state import GraphState
from retrieval.interactions.overlay import UserState

PRODUCT_OVERFETCH = 3  # neighbours fetched per wanted product before widening


class Ranker:
    """Ranking over a :class:`GraphState` (see the module docstring).

    Args:
        cfg: the engine's settings (``one_photo_per_product``, ``overfetch``, ``dislike_penalty``,
            ``user_like_boost``, ``category_weight``, ``tier_index_min``, ``prototype_images``,
            ``soft_attributes``).
        text_feature: the query words' text feature (for a search naming no attribute).
    """

    def __init__(self, cfg: Any, text_feature: Callable[[str], np.ndarray]) -> None:
        self.cfg = cfg
        self._text_feature = text_feature

    # -- products --------------------------------------------------------------------------
    def with_products(self, g: GraphState, nodes: set[int]) -> set[int]:
        """``nodes`` plus the other photos of their products (when one photo per product is shown)."""
        return g.with_products(nodes) if self.cfg.one_photo_per_product else nodes

    def _dedupe(self, g: GraphState, scores: Any, ids: Any, taken: set[str]) -> tuple[list[float], list[int]]:
        """Best photo per product, products in ``taken`` dropped (``taken`` is not changed)."""
        if not self.cfg.one_photo_per_product:
            return list(map(float, scores)), list(map(int, ids))
        seen, out_s, out_n = set(taken), [], []
        pids = g.items.product_ids
        for s, n in zip(scores, ids, strict=True):
            pid = pids[int(n)]
            if pid not in seen:
                seen.add(pid)
                out_s.append(float(s))
                out_n.append(int(n))
        return out_s, out_n

    @staticmethod
    def _take(g: GraphState, s: list[float], n: list[int], want: int, taken: set[str]) -> tuple[list[float], list[int]]:
        taken.update(g.items.product_ids[i] for i in n[:want])
        return s[:want], n[:want]

    # -- nearest neighbours ----------------------------------------------------------------
    def knn(
        self,
        g: GraphState,
        q: np.ndarray,
        k: int,
        skip: set[int],
        state: UserState | None,
        taken: set[str] | None = None,
        boost: dict[int, float] | None = None,
    ) -> tuple[list[float], list[int]]:
        """Top-k image nodes by inner product: ``skip`` never returned, one photo per product, adjustments applied."""
        taken = set() if taken is None else taken
        adjusted = self._adjusted(state, boost)
        fetch = (
            k * (self.cfg.overfetch if adjusted else 1) * (PRODUCT_OVERFETCH if self.cfg.one_photo_per_product else 1)
        )
        emb = g.embeddings
        avail = max(len(g.index) - len(skip), 0)
        extra = np.fromiter((n for n in boost if n not in skip), np.int64) if boost else np.zeros(0, np.int64)
        while True:
            scores, ids = g.index.search(q[None], max(1, min(fetch, avail)), exclude=skip)
            keep = ids[0] >= 0
            scores, ids = scores[0][keep], ids[0][keep]
            new = extra[~np.isin(extra, ids)]
            if len(new):
                ids, scores = np.concatenate([ids, new]), np.concatenate([scores, emb[new] @ q])
            if adjusted and len(ids):
                scores = scores + self._adjust(g, ids, state, boost)
                order = np.argsort(-scores, kind="stable")
                scores, ids = scores[order], ids[order]
            s, n = self._dedupe(g, scores, ids, taken)
            if len(n) >= k or fetch >= avail:
                return self._take(g, s, n, k, taken)
            fetch *= 4

    @staticmethod
    def _adjusted(state: UserState | None, boost: dict[int, float] | None) -> bool:
        """True when the user's ``state`` or a ``boost`` changes scores."""
        return bool(boost) or bool(state and (state.penalised or state.liked))

    def _adjust(
        self, g: GraphState, nodes: np.ndarray, state: UserState | None, boost: dict[int, float] | None
    ) -> np.ndarray | float:
        """Score change of ``nodes`` for a user: minus dislike penalties, plus per-user like lifts and ``boost``."""
        emb = g.embeddings
        out = -self._penalty(g, nodes, state)
        liked = state.liked if state else None
        if liked and len(nodes):
            sim = emb[nodes] @ emb[np.asarray(liked)].T
            out = out + self.cfg.user_like_boost * np.maximum(sim.max(1), 0.0)
        if boost and len(nodes):
            out = out + np.fromiter((boost.get(int(n), 0.0) for n in nodes), np.float64, len(nodes))
        return out

    def _penalty(self, g: GraphState, nodes: np.ndarray, state: UserState | None) -> np.ndarray | float:
        """Per-user lowering of images that look like ones the user disliked (``UserState.penalised``)."""
        if not state or not state.penalised or not len(nodes):
            return 0.0
        emb = g.embeddings
        sim = emb[nodes] @ emb[np.asarray(state.penalised)].T
        return self.cfg.dislike_penalty * np.maximum(sim.max(1), 0.0)

    # -- filters ---------------------------------------------------------------------------
    def filter_nodes(self, g: GraphState, filters: dict[str, Any], facts: Any) -> np.ndarray:
        """Image nodes passing ``filters`` (group -> value or list of values; AND over groups, OR within),
        as ``facts`` (a user's view of the graph facts) see them.
        """
        if not isinstance(filters, dict):
            raise InvalidQueryError(
                f"filters must be a mapping, got {type(filters).__name__}.",
                fix='pass e.g. {"category": "dress", "color": "red"}',
            )
        taxonomy = g.taxonomy
        index = g.model.ids.index(schema.ATTRIBUTE)
        groups = [CATEGORY, *taxonomy.groups]
        allowed: np.ndarray | None = None
        for group, values in filters.items():
            if group not in groups:
                raise InvalidQueryError(f"Unknown filter {group!r}.", fix=f"filter on one of: {', '.join(groups)}")
            values = [values] if isinstance(values, str) else list(values)
            nodes = []
            for value in values:
                hit = taxonomy.normalise(str(value))
                key = attribute_key(group, hit[1] if hit and hit[0] == group else str(value).strip().lower())
                if key not in index:
                    known = sorted(k.partition(":")[2] for k in index if k.startswith(group + ":"))
                    raise InvalidQueryError(
                        f"This catalog has no {group} {value!r}.",
                        fix=f"use one of: {', '.join(known) or '(none indexed)'}",
                    )
                nodes.append(facts.images_with(index[key]))
            group_nodes = np.unique(np.concatenate(nodes)) if nodes else np.zeros(0, np.int64)
            allowed = group_nodes if allowed is None else np.intersect1d(allowed, group_nodes)
        return allowed if allowed is not None else np.arange(len(g.items.image_ids), dtype=np.int64)

    # -- first-turn text search ------------------------------------------------------------
    def text_search(
        self,
        g: GraphState,
        text: str,
        mentioned: list[int],
        k: int,
        skip: set[int],
        allowed: np.ndarray | None,
        state: UserState | None,
        boost: dict[int, float] | None = None,
        facts: Any = None,
    ) -> tuple[list[float], list[int]]:
        """Attribute tiers, then the index (score = tier weight + similarity to the tier centroid).

        ``facts``: the user's view of the graph facts (default the shared ones); ``boost``: per-node lifts.
        """
        n = len(g.items.image_ids)
        facts = g.facts if facts is None else facts
        weights = {a: self.cfg.category_weight if facts.group(a) == CATEGORY else 1.0 for a in mentioned}
        counts = facts.match_counts(weights, n)
        if allowed is not None:
            mask = np.zeros(n, dtype=bool)
            mask[allowed] = True
            counts[~mask] = 0
        if skip:
            counts[np.fromiter(skip, dtype=np.int64)] = 0
        out_s: list[float] = []
        out_n: list[int] = []
        taken: set[str] = set()
        q = None
        for level in np.unique(counts[counts > 0])[::-1]:
            in_tier = counts == level
            nodes = np.flatnonzero(in_tier)
            tier_q = self.centroid(g, nodes)
            q = tier_q if q is None else q
            want = k - len(out_n)
            fetch = min(len(nodes), want * (PRODUCT_OVERFETCH if self.cfg.one_photo_per_product else 1))
            while True:
                tier_s, tier_n = self._tier_top(g, nodes, in_tier, tier_q, fetch, skip, state, boost)
                s, top = self._dedupe(g, float(level) + tier_s, tier_n, taken)
                if len(top) >= want or fetch >= len(nodes):
                    break
                fetch = len(nodes)
            s, top = self._take(g, s, top, want, taken)
            out_s += s
            out_n += top
            if len(out_n) >= k:
                return out_s, out_n
        q = self.soft_query(g, text) if q is None else q
        seen = skip | set(out_n)
        if allowed is not None:
            rest = np.setdiff1d(allowed, np.fromiter(seen, dtype=np.int64))
            s = g.embeddings[rest] @ q + self._adjust(g, rest, state, boost)
            order = np.argsort(-s, kind="stable")
            s2, n2 = self._dedupe(g, s[order], rest[order], taken)
            s2, n2 = self._take(g, s2, n2, k - len(out_n), taken)
        else:
            s2, n2 = self.knn(g, q, k - len(out_n), seen, state, taken, boost)
        return out_s + s2, out_n + n2

    def _tier_top(
        self,
        g: GraphState,
        nodes: np.ndarray,
        in_tier: np.ndarray,
        q: np.ndarray,
        want: int,
        skip: set[int],
        state: UserState | None,
        boost: dict[int, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``want`` tier members most similar to ``q``, best first.

        A large tier is ranked through the index: if the index's top ``8 * want`` hold ``want``
        members, they are the tier's best (exactly so for a flat index); otherwise every member is scored.
        """
        if self.cfg.tier_index_min < len(nodes) and 8 * want < len(in_tier) and state is None and not boost:
            scores, ids = g.index.search(q[None], 8 * want + len(skip), exclude=skip)
            keep = (ids[0] >= 0) & in_tier[np.maximum(ids[0], 0)]
            if keep.sum() >= want:
                return scores[0][keep][:want], ids[0][keep][:want]
        s = g.embeddings[nodes] @ q + self._adjust(g, nodes, state, boost)
        top = np.argpartition(-s, want - 1)[:want] if want < len(s) else np.arange(len(s))
        top = top[np.argsort(-s[top], kind="stable")]
        return s[top], nodes[top]

    def centroid(self, g: GraphState, nodes: np.ndarray) -> np.ndarray:
        """Normalised mean embedding of (an evenly spaced sample of) ``nodes``."""
        step = max(1, len(nodes) // self.cfg.prototype_images)
        v = g.embeddings[nodes[::step][: self.cfg.prototype_images]].mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def soft_query(self, g: GraphState, text: str) -> np.ndarray:
        """Words naming no attribute: centroid of the images of the attribute nodes whose text features
        (the graph's ``feat``) are nearest the words' feature, weighted by that similarity.
        """
        sims = g.attribute_features() @ self._text_feature(text)
        emb = g.embeddings
        v = np.zeros(emb.shape[1], dtype=np.float32)
        used = 0
        for a in np.argsort(-sims):
            nodes = g.facts.images_with(int(a))
            if len(nodes):
                v += max(float(sims[a]), 1e-3) * self.centroid(g, nodes)
                used += 1
                if used >= self.cfg.soft_attributes:
                    break
        if not v.any():
            v = emb.mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-12)
