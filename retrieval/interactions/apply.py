"""Applying logged interactions: :class:`InteractionState` owns what the log's rows left behind.

One InteractionState holds a :class:`~retrieval.index.state.GraphState` (edited only through its
``apply_edit``) and the per-shopper overlays (:class:`~retrieval.interactions.overlay.UserState`), the
shared like memory, the phrases of new attribute nodes and the keys of the rows applied. Applying reads
nothing but a log row's payload and the current graph, so replaying the log on load
(:meth:`InteractionState.replay`: structure first, then ONE full re-embed) rebuilds the same graph,
states and rankings as the live engine had; :meth:`InteractionState.sync` picks up rows other processes
appended. Undoing a like in the shared graph takes its edges and memory back out
(:meth:`InteractionState.unapply_like`); undoing a global statement replays the log into a new
InteractionState over a new GraphState and swaps it in (:mod:`retrieval.interactions.undo`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from retrieval.catalog.taxonomy import normalise_text
from retrieval.errors import InteractionError, TailorError
from retrieval.graph import schema
from retrieval.graph.build import attribute_name
from retrieval.index.state import GraphState
from retrieval.interactions import log as ilog
from retrieval.interactions.log import Interaction, InteractionLog
from retrieval.interactions.overlay import LikeBook, UserState

log = logging.getLogger(__name__)

# relation name -> canonical relation, for the ``(attribute, relation)`` pairs GraphFacts.attributes_of gives
IMAGE_ATTRIBUTE_ETYPE: dict[str, schema.CanonicalEtype] = {e[1]: e for e in schema.IMAGE_ATTRIBUTE_RELATIONS}


def ms(t0: float, t1: float) -> float:
    """Milliseconds between two ``perf_counter`` readings, rounded to the microsecond."""
    return round((t1 - t0) * 1000.0, 3)


def like_edges(
    cand: int | None, caption: int | None, liked: list[int]
) -> dict[schema.CanonicalEtype, list[tuple[int, int]]]:
    """The shared-graph edges of one like: liked images pairwise, each to the caption and the candidate."""
    edges: dict[schema.CanonicalEtype, list[tuple[int, int]]] = {
        schema.IMAGE_LIKED_WITH: [(a, b) for i, a in enumerate(liked) for b in liked[i + 1 :]]
    }
    if caption is not None:
        edges[schema.IMAGE_LIKED_FOR] = [(n, caption) for n in liked]
    if cand is not None:
        edges[schema.IMAGE_LIKED_FROM] = [(n, cand) for n in liked]
    return edges


class InteractionState:
    """The graph state and the per-user state the applied rows of the log made.

    Args:
        graph: the graph, facts, embeddings and index the rows edit.
        text_feature: text feature of words (new attribute and caption nodes get one).
    """

    def __init__(self, graph: GraphState, text_feature: Callable[[str], np.ndarray]) -> None:
        self.graph = graph
        self._text_feature = text_feature
        self.users: dict[str, UserState] = {}
        self.likes = LikeBook()
        self.phrases: dict[str, int] = {}  # new attribute phrase -> node (matched in everyone's words)
        self.applied: set[str] = set()

    def user(self, user: str) -> UserState:
        """``user``'s state, made empty if they have none."""
        state = self.users.get(user)
        if state is None:
            state = self.users[user] = UserState(user=user)
        return state

    def user_state(self, user: str | None) -> UserState | None:
        """``user``'s state, None when they have none (or no user)."""
        return self.users.get(user) if user else None

    def forget_user(self, user: str) -> None:
        """Drop ``user``'s state (to rebuild it from their rows)."""
        self.users.pop(user, None)

    # -- replay --------------------------------------------------------------------------
    def replay(self, journal: InteractionLog | None) -> int:
        """Apply the log's active rows not applied yet (structure first, then ONE full re-embed).

        Rows naming photos the catalog no longer has are skipped with a warning. Returns rows applied.
        """
        if journal is None:
            return 0
        n = 0
        for row in journal.replay(self.applied):
            self.apply_logged(row, reembed=False)
            n += 1
        if n:
            self.graph.full_reembed()
            log.info("replayed %d interactions from %s", n, journal.config.url)
        return n

    def sync(self, journal: InteractionLog | None) -> int:
        """Apply rows other processes appended (or accepted) since; incremental re-embeds. Returns rows applied."""
        rows = list(journal.replay(self.applied)) if journal is not None else []
        for row in rows:
            self.apply_logged(row, reembed=True)
        return len(rows)

    def apply_logged(self, row: Interaction, *, reembed: bool) -> None:
        """Apply one logged row (a row that no longer applies is skipped with a warning) and mark it applied."""
        try:
            self.apply_row(row, reembed=reembed)
        except (TailorError, KeyError, TypeError) as err:
            log.warning("interaction %d (%s by %s) skipped: %s", row.id, row.kind, row.user, err)
        self.applied.add(row.key)

    # -- applying rows -------------------------------------------------------------------
    def apply_row(self, row: Interaction, *, reembed: bool = True) -> tuple[dict[str, list[int]], str]:
        """Change graph / users for one logged row; returns (re-embedded nodes, message for the shopper)."""
        p = row.payload
        node = self.graph.node
        if row.kind == "metadata":
            return self._apply_metadata(node(p["image_id"]), list(p["attributes"]), row, reembed)
        if row.kind == "like":
            cand = node(p["candidate_id"]) if p.get("candidate_id") else None
            liked = [node(i) for i in p["liked_ids"]]
            return self._apply_like(cand, p.get("text") or "", liked, row, reembed)
        if row.kind == "dislike":
            image = node(p["image_id"])
            state = self.user(row.user)
            state.hidden.add(image)
            if image not in state.penalised:
                state.penalised.append(image)
            return {}, "hidden for you"
        raise InteractionError(f"Cannot apply a {row.kind} row.", fix="replay metadata / like / dislike rows only")

    def _attribute_node(self, key: str, detached: bool, reembed: bool) -> int:
        """Node of attribute ``key``, created if new (detached: no is_a edge, for pending statements)."""
        feature = None
        if key not in self.graph.model.ids.index(schema.ATTRIBUTE):
            feature = self._text_feature(attribute_name(key))
        return self.graph.add_attribute(key, feature, detached=detached, reembed=reembed)

    def _apply_metadata(
        self, image: int, keys: list[str], row: Interaction, reembed: bool
    ) -> tuple[dict[str, list[int]], str]:
        g = self.graph
        pending = row.scope == ilog.PENDING
        nodes = {k: self._attribute_node(k, pending, reembed) for k in keys}
        phrases = self.user(row.user).phrases if pending else self.phrases
        for k, a in nodes.items():
            if a in g.detached or k not in g.model.mention_finder(attribute_name(k)):
                phrases.setdefault(normalise_text(attribute_name(k)), a)
        facts = self.user(row.user).explainer(g.facts).facts if pending else g.facts
        current = facts.attributes_of(image)
        stated = set(nodes.values())
        drop = [
            (old, rel)
            for old, rel in current.items()
            if old not in stated and any(facts.group(old) == facts.group(a) and facts.is_exclusive(a) for a in stated)
        ]
        add = [a for a in nodes.values() if a not in current]
        words = [f"{facts.value(a)} replaces {facts.value(o)}" for o, _ in drop]
        message = ("; ".join(words) or "recorded") if add or drop else "already known"
        if pending:
            state = self.user(row.user)
            for old, _ in drop:
                state.drop_fact(image, old)
            for a in add:
                state.add_fact(image, a, schema.HAS_USER_ATTRIBUTE)
            return {}, message + " (for you until staff accept it)"
        remove: dict[schema.CanonicalEtype, list[tuple[int, int]]] = {}
        for old, rel in drop:
            remove.setdefault(IMAGE_ATTRIBUTE_ETYPE[rel], []).append((image, old))
        changed = g.apply_edit(
            edges={schema.IMAGE_HAS_USER_ATTRIBUTE: [(image, a) for a in add]}, remove=remove, reembed=reembed
        )
        who = row.user if row.accepted_by is None else f"a shopper, accepted by {row.accepted_by}"
        for a in add:
            g.facts.record_statement(image, a, who)
        return changed, message

    def _apply_like(
        self, cand: int | None, text: str, liked: list[int], row: Interaction, reembed: bool
    ) -> tuple[dict[str, list[int]], str]:
        feat = self._text_feature(text) if text else None
        if row.scope == ilog.USER:
            state = self.user(row.user)
            state.liked.extend(n for n in liked if n not in state.liked)
            state.likes.add(cand, feat, tuple(liked))
            return {}, "remembered for you"
        ids = self.graph.model.ids
        nodes: dict[str, list[tuple[str, np.ndarray]]] = {}
        cap = ids.index(schema.CAPTION).get(text) if feat is not None else None
        if feat is not None and cap is None:
            cap = len(ids.captions)
            nodes[schema.CAPTION] = [(text, feat)]
        edges = like_edges(cand, cap, liked)
        changed = self.graph.apply_edit(nodes=nodes, edges=edges, reembed=reembed)
        self.likes.add(cand, feat, tuple(liked))
        return changed, "remembered"

    def unapply_like(self, row: Interaction) -> dict[str, list[int]] | None:
        """Take one applied like in the shared graph back out, incrementally; returns the re-embedded nodes.

        The inverse of :meth:`_apply_like`: one copy of each of its edges goes (an equal like of
        another shopper keeps its own), the touched k-hop neighbourhood is re-embedded and the like
        memory forgotten. A caption node the like created stays, without edges: nothing reaches it or
        comes from it, so the answers are those of a replay without the like. None (nothing changed)
        when the row's edges or memory are not all there, e.g. it was skipped when applied.
        """
        p = row.payload
        node = self.graph.node
        cand = node(p["candidate_id"]) if p.get("candidate_id") else None
        liked = [node(i) for i in p["liked_ids"]]
        text = p.get("text") or ""
        feat = self._text_feature(text) if text else None
        cap = self.graph.model.ids.index(schema.CAPTION).get(text) if text else None
        if (text and cap is None) or not self.likes.remove(cand, feat, tuple(liked)):
            return None
        return self.graph.apply_edit(unlink=like_edges(cand, cap, liked), reembed=True)
