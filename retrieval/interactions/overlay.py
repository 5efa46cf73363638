"""Per-shopper state the interactions of issue 4 leave behind, and the like memory ranking reads.

* :class:`UserState`: one shopper's node of the per-user graph, kept out of the shared DGL graph
  so it never reaches message passing: their ``dislikes`` edges (``hidden`` / ``penalised``), their
  per-user ``likes`` edges (``liked``, plus the memories of a :class:`LikeBook`), and their pending
  metadata (image -> attribute facts an untrusted shopper stated, ``added`` / ``dropped``), which
  only their own searches see.
* :class:`UserFacts`: :class:`~retrieval.graph.explain.GraphFacts` as one shopper sees it (the shared facts
  plus their pending overlay), for their search tiers and explanations (a fact of the overlay is
  stated by the shopper themself: "as you told me").
* :class:`LikeBook`: "I like that" memories (candidate, caption text feature, liked images); a query
  with a similar caption for the same (or a near-identical) candidate lifts the liked images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrieval.graph.explain import Explainer, GraphFacts


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1 (zeros stay zeros)."""
    v = np.asarray(v, dtype=np.float32).reshape(-1)
    return v / max(float(np.linalg.norm(v)), 1e-12)


@dataclass
class LikeBook:
    """Like memories: ``candidates[i]`` (-1: a first search), unit caption feature ``texts[i]``, ``liked[i]``."""

    candidates: list[int] = field(default_factory=list)
    texts: list[np.ndarray | None] = field(default_factory=list)
    liked: list[tuple[int, ...]] = field(default_factory=list)
    _matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.liked)

    def add(self, candidate: int | None, text_feature: np.ndarray | None, liked: tuple[int, ...]) -> None:
        """Remember one like (``text_feature`` None: liked without words)."""
        self.candidates.append(-1 if candidate is None else int(candidate))
        self.texts.append(None if text_feature is None else unit(text_feature))
        self.liked.append(tuple(int(n) for n in liked))
        self._matrix = None

    def remove(self, candidate: int | None, text_feature: np.ndarray | None, liked: tuple[int, ...]) -> bool:
        """Forget one memory equal to (``candidate``, ``text_feature``, ``liked``), as :meth:`add` stored it.

        Equal memories lift alike (boosts take the maximum), so which copy goes does not matter.
        Returns False when there is none.
        """
        cand = -1 if candidate is None else int(candidate)
        nodes = tuple(int(n) for n in liked)
        text = None if text_feature is None else unit(text_feature)
        for i in range(len(self.liked) - 1, -1, -1):
            mine = self.texts[i]
            same_text = mine is None if text is None else mine is not None and np.array_equal(mine, text)
            if self.candidates[i] == cand and self.liked[i] == nodes and same_text:
                del self.candidates[i], self.texts[i], self.liked[i]
                self._matrix = None
                return True
        return False

    def boosts(
        self,
        candidate: int | None,
        text_feature: np.ndarray,
        emb: np.ndarray,
        *,
        weight: float,
        text_min: float,
        candidate_min: float,
        out: dict[int, float],
    ) -> None:
        """Raise ``out[node]`` to ``weight x text similarity x candidate similarity`` for liked nodes.

        A memory counts when its caption's similarity to the query's is at least ``text_min`` (a memory
        without words: 1) and its candidate is the query's, or (both having one) their embeddings'
        similarity is at least ``candidate_min``.
        """
        if not self.liked:
            return
        if self._matrix is None:
            dim = len(text_feature)
            self._matrix = np.stack([t if t is not None else np.zeros(dim, np.float32) for t in self.texts])
        no_text = np.array([t is None for t in self.texts])
        sims = np.where(no_text, 1.0, self._matrix @ unit(text_feature))
        cands = np.asarray(self.candidates)
        if candidate is None:
            cand_sims = np.where(cands < 0, 1.0, 0.0)
        else:
            safe = np.maximum(cands, 0)
            cand_sims = np.where(cands == candidate, 1.0, np.where(cands < 0, 0.0, emb[safe] @ emb[candidate]))
            cand_sims = np.where((cands != candidate) & (cand_sims < candidate_min), 0.0, cand_sims)
        w = np.where(sims >= text_min, sims, 0.0) * cand_sims
        for i in np.flatnonzero(w > 0):
            value = weight * float(w[i])
            for n in self.liked[i]:
                if value > out.get(n, 0.0):
                    out[n] = value


@dataclass
class UserState:
    """Per-user shaping of results.

    Attributes:
        user: the shopper's id (who stated the pending facts of ``added``).
        hidden: image nodes the shopper disliked (never shown to them again, with their products).
        penalised: disliked image nodes whose look lowers similar results (``dislike_penalty``).
        liked: image nodes liked in the per-user scope (similar results are lifted, ``user_like_boost``).
        likes: the shopper's per-user like memories.
        added: pending metadata: image -> {attribute: relation} only this shopper sees.
        dropped: pending metadata: image -> attributes this shopper's statements replaced.
        phrases: normalised phrase -> attribute node, new attributes named in pending statements.
    """

    user: str = ""
    hidden: set[int] = field(default_factory=set)
    penalised: list[int] = field(default_factory=list)
    liked: list[int] = field(default_factory=list)
    likes: LikeBook = field(default_factory=LikeBook)
    added: dict[int, dict[int, str]] = field(default_factory=dict)
    dropped: dict[int, set[int]] = field(default_factory=dict)
    phrases: dict[str, int] = field(default_factory=dict)
    _by_attr: dict[int, set[int]] = field(default_factory=dict)
    _dropped_by_attr: dict[int, set[int]] = field(default_factory=dict)
    _explainer: Any = None

    @property
    def has_facts(self) -> bool:
        """True when the shopper has pending metadata of their own."""
        return bool(self.added or self.dropped)

    def add_fact(self, image: int, attr: int, relation: str) -> None:
        """This shopper now sees ``image -relation-> attr``."""
        self.added.setdefault(image, {})[attr] = relation
        self._by_attr.setdefault(attr, set()).add(image)
        if attr in self.dropped.get(image, ()):
            self.dropped[image].discard(attr)
            self._dropped_by_attr[attr].discard(image)
        self._explainer = None

    def drop_fact(self, image: int, attr: int) -> None:
        """This shopper no longer sees ``image -> attr`` (a value of an exclusive group they replaced)."""
        if self.added.get(image, {}).pop(attr, None) is not None:
            self._by_attr[attr].discard(image)
        self.dropped.setdefault(image, set()).add(attr)
        self._dropped_by_attr.setdefault(attr, set()).add(image)
        self._explainer = None

    def images_stated(self, attr: int) -> set[int]:
        """Images this shopper stated have ``attr``."""
        return self._by_attr.get(attr, set())

    def images_denied(self, attr: int) -> set[int]:
        """Images whose ``attr`` this shopper's statements replaced."""
        return self._dropped_by_attr.get(attr, set())

    def explainer(self, facts: GraphFacts) -> Explainer:
        """An explainer over :class:`UserFacts` (cached until the overlay changes)."""
        if self._explainer is None or self._explainer.facts.base is not facts:
            self._explainer = Explainer(UserFacts(facts, self))  # type: ignore[arg-type]
        return self._explainer


class UserFacts:
    """The shared :class:`GraphFacts` plus one shopper's pending overlay (everything else delegates)."""

    def __init__(self, base: GraphFacts, state: UserState) -> None:
        self.base = base
        self.state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    @property
    def viewer(self) -> str:
        """The shopper whose view this is."""
        return self.state.user

    def stated_by(self, image: int, attr: int) -> str | None:
        """Who stated ``image -> attr``: this shopper for their pending facts, else the shared facts' answer."""
        if attr in self.state.added.get(image, {}):
            return self.state.user
        if attr in self.state.dropped.get(image, ()):
            return None
        return self.base.stated_by(image, attr)

    def attributes_of(self, image: int) -> dict[int, str]:
        """Attribute node -> relation of one image, as this shopper sees it."""
        out = self.base.attributes_of(image)
        for a in self.state.dropped.get(image, ()):
            out.pop(a, None)
        for a, rel in self.state.added.get(image, {}).items():
            out.setdefault(a, rel)
        return out

    def images_with(self, attr: int) -> np.ndarray:
        """Image nodes with ``attr``, as this shopper sees it."""
        base = self.base.images_with(attr)
        gone, extra = self.state.images_denied(attr), self.state.images_stated(attr)
        if gone:
            base = np.setdiff1d(base, np.fromiter(gone, dtype=np.int64))
        if extra:
            base = np.union1d(base, np.fromiter(extra, dtype=np.int64))
        return base

    def match_counts(self, attrs: dict[int, float], n_images: int) -> np.ndarray:
        """:meth:`GraphFacts.match_counts` over this shopper's view."""
        return GraphFacts.match_counts(self, attrs, n_images)  # type: ignore[arg-type]
