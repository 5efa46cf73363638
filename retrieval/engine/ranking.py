"""How the engine ranks: nearest neighbours with one photo per product and per-user penalties, and the
attribute tiers of a first-turn text search. A mixin of :class:`retrieval.engine.facade.Engine`.

* ``_knn``: top-k of the vector index; with ``one_photo_per_product`` only a product's best photo is
  kept (the index is asked for more until k products are found); the user's adjustments re-rank
  (:meth:`RankingMixin._adjust`: dislike penalties, per-user like lifts, and a per-query ``boost`` of
  nodes, e.g. liked images of a similar earlier query, which are scored even when the index missed them).
* ``_text_search``: tiers of images by the summed weight of the mentioned attribute nodes linked to
  them (A.2's X set is the top tier); inside a tier, similarity of the learned image embedding to the
  tier's centroid; the index fills what the tiers leave.
* :func:`retrieval.catalog.negation.unwanted_keys`: mentions the words ask to drop ("instead of red",
  "without a hood"), so explanations and tiers do not count them as asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from retrieval.catalog.negation import unwanted_keys  # noqa: F401 (defined there; facade imports it from here)
from retrieval.catalog.taxonomy import CATEGORY, attribute_key
from retrieval.errors import InvalidQueryError
from retrieval.graph import schema

PRODUCT_OVERFETCH = 3  # neighbours fetched per wanted product before widening


class RankingMixin:
    """Ranking over ``self.index`` / ``self._emb`` (see the module docstring); needs the Engine's fields."""

    # -- products --------------------------------------------------------------------------
    def _init_products(self) -> None:
        self._product_nodes: dict[str, list[int]] = {}
        for node, pid in enumerate(self.items.product_ids):
            self._product_nodes.setdefault(pid, []).append(node)

    def _with_products(self, nodes: set[int]) -> set[int]:
        """``nodes`` plus the other photos of their products (when one photo per product is shown)."""
        if not self.cfg.one_photo_per_product:
            return nodes
        out = set(nodes)
        for n in nodes:
            out.update(self._product_nodes.get(self.items.product_ids[n], ()))
        return out

    def _dedupe(self, scores, ids, taken: set[str]) -> tuple[list[float], list[int]]:
        """Best photo per product, products in ``taken`` dropped (``taken`` is not changed)."""
        if not self.cfg.one_photo_per_product:
            return list(map(float, scores)), list(map(int, ids))
        seen, out_s, out_n = set(taken), [], []
        pids = self.items.product_ids
        for s, n in zip(scores, ids, strict=True):
            pid = pids[int(n)]
            if pid not in seen:
                seen.add(pid)
                out_s.append(float(s))
                out_n.append(int(n))
        return out_s, out_n

    def _take(self, s: list[float], n: list[int], want: int, taken: set[str]) -> tuple[list[float], list[int]]:
        taken.update(self.items.product_ids[i] for i in n[:want])
        return s[:want], n[:want]

    # -- nearest neighbours ----------------------------------------------------------------
    def _knn(
        self,
        q: np.ndarray,
        k: int,
        skip: set[int],
        user: str | None,
        taken: set[str] | None = None,
        boost: dict[int, float] | None = None,
    ) -> tuple[list[float], list[int]]:
        """Top-k image nodes by inner product: ``skip`` never returned, one photo per product, adjustments applied."""
        taken = set() if taken is None else taken
        adjusted = self._adjusted(user, boost)
        fetch = (
            k * (self.cfg.overfetch if adjusted else 1) * (PRODUCT_OVERFETCH if self.cfg.one_photo_per_product else 1)
        )
        avail = max(len(self.index) - len(skip), 0)
        extra = np.fromiter((n for n in boost if n not in skip), np.int64) if boost else np.zeros(0, np.int64)
        while True:
            scores, ids = self.index.search(q[None], max(1, min(fetch, avail)), exclude=skip)
            keep = ids[0] >= 0
            scores, ids = scores[0][keep], ids[0][keep]
            new = extra[~np.isin(extra, ids)]
            if len(new):
                ids, scores = np.concatenate([ids, new]), np.concatenate([scores, self._emb[new] @ q])
            if adjusted and len(ids):
                scores = scores + self._adjust(ids, user, boost)
                order = np.argsort(-scores, kind="stable")
                scores, ids = scores[order], ids[order]
            s, n = self._dedupe(scores, ids, taken)
            if len(n) >= k or fetch >= avail:
                return self._take(s, n, k, taken)
            fetch *= 4

    def _adjusted(self, user: str | None, boost: dict[int, float] | None) -> bool:
        """True when ``user``'s state or a ``boost`` changes scores."""
        state = self.users.get(user) if user else None
        return bool(boost) or bool(state and (state.penalised or getattr(state, "liked", None)))

    def _adjust(self, nodes: np.ndarray, user: str | None, boost: dict[int, float] | None) -> np.ndarray | float:
        """Score change of ``nodes`` for ``user``: minus dislike penalties, plus per-user like lifts and ``boost``."""
        out = -self._penalty(nodes, user)
        state = self.users.get(user) if user else None
        liked = getattr(state, "liked", None)
        if liked and len(nodes):
            sim = self._emb[nodes] @ self._emb[np.asarray(liked)].T
            out = out + self.cfg.user_like_boost * np.maximum(sim.max(1), 0.0)
        if boost and len(nodes):
            out = out + np.fromiter((boost.get(int(n), 0.0) for n in nodes), np.float64, len(nodes))
        return out

    def _penalty(self, nodes: np.ndarray, user: str | None) -> np.ndarray | float:
        """Per-user lowering of images that look like ones the user disliked (issue 4 fills ``penalised``)."""
        state = self.users.get(user) if user else None
        if not state or not state.penalised or not len(nodes):
            return 0.0
        sim = self._emb[nodes] @ self._emb[np.asarray(state.penalised)].T
        return self.cfg.dislike_penalty * np.maximum(sim.max(1), 0.0)

    # -- filters ---------------------------------------------------------------------------
    def filter_nodes(self, filters: dict[str, Any], *, user: str | None = None) -> np.ndarray:
        """Image nodes passing ``filters`` (group -> value or list of values; AND over groups, OR within)."""
        if not isinstance(filters, dict):
            raise InvalidQueryError(
                f"filters must be a mapping, got {type(filters).__name__}.",
                fix='pass e.g. {"category": "dress", "color": "red"}',
            )
        index = self.model.ids.index(schema.ATTRIBUTE)
        groups = [CATEGORY, *self.taxonomy.groups]
        allowed: np.ndarray | None = None
        for group, values in filters.items():
            if group not in groups:
                raise InvalidQueryError(f"Unknown filter {group!r}.", fix=f"filter on one of: {', '.join(groups)}")
            values = [values] if isinstance(values, str) else list(values)
            nodes = []
            for value in values:
                hit = self.taxonomy.normalise(str(value))
                key = attribute_key(group, hit[1] if hit and hit[0] == group else str(value).strip().lower())
                if key not in index:
                    known = sorted(k.partition(":")[2] for k in index if k.startswith(group + ":"))
                    raise InvalidQueryError(
                        f"This catalog has no {group} {value!r}.",
                        fix=f"use one of: {', '.join(known) or '(none indexed)'}",
                    )
                nodes.append(self._facts_for(user).images_with(index[key]))
            group_nodes = np.unique(np.concatenate(nodes)) if nodes else np.zeros(0, np.int64)
            allowed = group_nodes if allowed is None else np.intersect1d(allowed, group_nodes)
        return allowed if allowed is not None else np.arange(len(self.items.image_ids), dtype=np.int64)

    # -- first-turn text search ------------------------------------------------------------
    def _text_search(
        self,
        text: str,
        mentioned: list[int],
        k: int,
        skip: set[int],
        allowed: np.ndarray | None,
        user: str | None,
        boost: dict[int, float] | None = None,
        facts=None,
    ) -> tuple[list[float], list[int]]:
        """Attribute tiers, then the index (score = tier weight + similarity to the tier centroid).

        ``facts``: the user's view of the graph facts (default the shared ones); ``boost``: per-node lifts.
        """
        n = len(self.items.image_ids)
        facts = self.facts if facts is None else facts
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
            tier_q = self._centroid(nodes)
            q = tier_q if q is None else q
            want = k - len(out_n)
            fetch = min(len(nodes), want * (PRODUCT_OVERFETCH if self.cfg.one_photo_per_product else 1))
            while True:
                s, top = self._tier_top(nodes, in_tier, tier_q, fetch, skip, user, boost)
                s, top = self._dedupe(float(level) + s, top, taken)
                if len(top) >= want or fetch >= len(nodes):
                    break
                fetch = len(nodes)
            s, top = self._take(s, top, want, taken)
            out_s += s
            out_n += top
            if len(out_n) >= k:
                return out_s, out_n
        q = self._soft_query(text) if q is None else q
        seen = skip | set(out_n)
        if allowed is not None:
            rest = np.setdiff1d(allowed, np.fromiter(seen, dtype=np.int64))
            s = self._emb[rest] @ q + self._adjust(rest, user, boost)
            order = np.argsort(-s, kind="stable")
            s2, n2 = self._dedupe(s[order], rest[order], taken)
            s2, n2 = self._take(s2, n2, k - len(out_n), taken)
        else:
            s2, n2 = self._knn(q, k - len(out_n), seen, user, taken, boost)
        return out_s + s2, out_n + n2

    def _tier_top(
        self,
        nodes: np.ndarray,
        in_tier: np.ndarray,
        q: np.ndarray,
        want: int,
        skip: set[int],
        user: str | None,
        boost: dict[int, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``want`` tier members most similar to ``q``, best first.

        A large tier is ranked through the index: if the index's top ``8 * want`` hold ``want``
        members, they are the tier's best (exactly so for a flat index); otherwise every member is scored.
        """
        if (
            self.cfg.tier_index_min < len(nodes)
            and 8 * want < len(in_tier)
            and not (user and user in self.users)
            and not boost
        ):
            scores, ids = self.index.search(q[None], 8 * want + len(skip), exclude=skip)
            keep = (ids[0] >= 0) & in_tier[np.maximum(ids[0], 0)]
            if keep.sum() >= want:
                return scores[0][keep][:want], ids[0][keep][:want]
        s = self._emb[nodes] @ q + self._adjust(nodes, user, boost)
        top = np.argpartition(-s, want - 1)[:want] if want < len(s) else np.arange(len(s))
        top = top[np.argsort(-s[top], kind="stable")]
        return s[top], nodes[top]

    def _centroid(self, nodes: np.ndarray) -> np.ndarray:
        """Normalised mean embedding of (an evenly spaced sample of) ``nodes``."""
        step = max(1, len(nodes) // self.cfg.prototype_images)
        v = self._emb[nodes[::step][: self.cfg.prototype_images]].mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    def _soft_query(self, text: str) -> np.ndarray:
        """Words naming no attribute: centroid of the images of the attribute nodes whose text features
        (the graph's ``feat``) are nearest the words' feature, weighted by that similarity."""
        if self._attr_feats is None:
            feats = self.model.buffer.features(schema.ATTRIBUTE).numpy()
            self._attr_feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        sims = self._attr_feats @ self.text_feature(text)
        v = np.zeros(self._emb.shape[1], dtype=np.float32)
        used = 0
        for a in np.argsort(-sims):
            nodes = self.facts.images_with(int(a))
            if len(nodes):
                v += max(float(sims[a]), 1e-3) * self._centroid(nodes)
                used += 1
                if used >= self.cfg.soft_attributes:
                    break
        if not v.any():
            v = self._emb.mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-12)
