"""Applying logged interactions to the graph, index and users: a mixin under :mod:`retrieval.interactions.service`.

Applying reads nothing but a log row's payload and the current graph, so replaying the log on load
(:meth:`ApplyRowsMixin.replay`: structure first, then ONE full re-embed) rebuilds the same graph,
states and rankings as the live engine had; :meth:`ApplyRowsMixin.sync` picks up rows other processes
appended. See :mod:`retrieval.interactions.service` for what each kind of row changes.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from retrieval.catalog.taxonomy import normalise_text
from retrieval.errors import InteractionError, TailorError
from retrieval.graph import schema
from retrieval.graph.build import attribute_name
from retrieval.index.editing import EditMixin
from retrieval.interactions import log as ilog
from retrieval.interactions.log import Interaction

log = logging.getLogger(__name__)

HAS_USER_ATTR = (schema.IMAGE, schema.HAS_USER_ATTRIBUTE, schema.ATTRIBUTE)
LIKED_WITH = (schema.IMAGE, schema.LIKED_WITH, schema.IMAGE)
LIKED_FOR = (schema.IMAGE, schema.LIKED_FOR, schema.CAPTION)
LIKED_FROM = (schema.IMAGE, schema.LIKED_FROM, schema.IMAGE)


def ms(t0: float, t1: float) -> float:
    """Milliseconds between two ``perf_counter`` readings, rounded to the microsecond."""
    return round((t1 - t0) * 1000.0, 3)


class ApplyRowsMixin(EditMixin):
    """Replay and apply metadata / like / dislike rows (needs the Engine's and InteractionsMixin's fields)."""

    # -- replay --------------------------------------------------------------------------
    def replay(self) -> int:
        """Apply the log's active rows not applied yet (structure first, then ONE full re-embed).

        Rows naming photos the catalog no longer has are skipped with a warning. Returns rows applied.
        """
        with self._lock:
            journal = self._open_log(create=False)
            if journal is None:
                return 0
            n = 0
            for row in journal.replay(self._applied):
                self._apply_logged(row, reembed=False)
                n += 1
            if n:
                self.full_reembed()
                log.info("replayed %d interactions from %s", n, journal.config.url)
            return n

    def sync(self) -> int:
        """Apply rows other processes appended (or accepted) since; incremental re-embeds. Returns rows applied."""
        with self._lock:
            journal = self._open_log(create=False)
            rows = list(journal.replay(self._applied)) if journal is not None else []
            for row in rows:
                self._apply_logged(row, reembed=True)
            return len(rows)

    def _apply_logged(self, row: Interaction, *, reembed: bool) -> None:
        try:
            self._apply_row(row, reembed=reembed)
        except (TailorError, KeyError, TypeError) as err:
            log.warning("interaction %d (%s by %s) skipped: %s", row.id, row.kind, row.user, err)
        self._applied.add(row.key)

    def full_reembed(self) -> float:
        """Full forward pass over the graph, every image vector re-indexed; returns milliseconds."""
        t0 = time.perf_counter()
        with self._lock:
            self.model.refresh()
            self._emb = np.asarray(self.model.image_embeddings(), dtype=np.float32)
            self.index.update(np.arange(len(self._emb), dtype=np.int64), self._emb)
        return ms(t0, time.perf_counter())

    # -- applying rows -------------------------------------------------------------------
    def _apply_row(self, row: Interaction, *, reembed: bool = True) -> tuple[dict[str, list[int]], str]:
        """Change graph / users for one logged row; returns (re-embedded nodes, message for the shopper)."""
        p = row.payload
        if row.kind == "metadata":
            return self._apply_metadata(self._node_of[p["image_id"]], list(p["attributes"]), row, reembed)
        if row.kind == "like":
            cand = self._node_of[p["candidate_id"]] if p.get("candidate_id") else None
            liked = [self._node_of[i] for i in p["liked_ids"]]
            return self._apply_like(cand, p.get("text") or "", liked, row, reembed)
        if row.kind == "dislike":
            node = self._node_of[p["image_id"]]
            state = self._user(row.user)
            state.hidden.add(node)
            if node not in state.penalised:
                state.penalised.append(node)
            return {}, "hidden for you"
        raise InteractionError(f"Cannot apply a {row.kind} row.", fix="replay metadata / like / dislike rows only")

    def _attribute_node(self, key: str, detached: bool, reembed: bool) -> int:
        """Node of attribute ``key``, created if new (detached: no is_a edge, for pending statements)."""
        index = self.model.ids.index(schema.ATTRIBUTE)
        node = index.get(key)
        if node is None:
            node = len(self.model.ids.attributes)
            self._apply_edit(
                nodes={schema.ATTRIBUTE: [(key, self.text_feature(attribute_name(key)))]},
                link_concepts=not detached,
                reembed=reembed,
            )
            if detached:
                self._detached.add(node)
        elif node in self._detached and not detached:
            self._link_attribute(node, reembed)
        return node

    def _apply_metadata(
        self, image: int, keys: list[str], row: Interaction, reembed: bool
    ) -> tuple[dict[str, list[int]], str]:
        pending = row.scope == ilog.PENDING
        nodes = {k: self._attribute_node(k, pending, reembed) for k in keys}
        phrases = self._user(row.user).phrases if pending else self._phrases
        for k, a in nodes.items():
            if a in self._detached or k not in self.model.mention_finder(attribute_name(k)):
                phrases.setdefault(normalise_text(attribute_name(k)), a)
        facts = self._user(row.user).explainer(self.facts).facts if pending else self.facts
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
            state = self._user(row.user)
            for old, _ in drop:
                state.drop_fact(image, old)
            for a in add:
                state.add_fact(image, a, schema.HAS_USER_ATTRIBUTE)
            return {}, message + " (for you until staff accept it)"
        remove: dict[schema.CanonicalEtype, list[tuple[int, int]]] = {}
        for old, rel in drop:
            remove.setdefault((schema.IMAGE, rel, schema.ATTRIBUTE), []).append((image, old))
        changed = self._apply_edit(edges={HAS_USER_ATTR: [(image, a) for a in add]}, remove=remove, reembed=reembed)
        who = row.user if row.accepted_by is None else f"a shopper, accepted by {row.accepted_by}"
        for a in add:
            self.facts.record_statement(image, a, who)
        return changed, message

    def _apply_like(
        self, cand: int | None, text: str, liked: list[int], row: Interaction, reembed: bool
    ) -> tuple[dict[str, list[int]], str]:
        feat = self.text_feature(text) if text else None
        if row.scope == ilog.USER:
            state = self._user(row.user)
            state.liked.extend(n for n in liked if n not in state.liked)
            state.likes.add(cand, feat, tuple(liked))
            return {}, "remembered for you"
        nodes: dict[str, list[tuple[str, np.ndarray]]] = {}
        edges: dict[schema.CanonicalEtype, list[tuple[int, int]]] = {
            LIKED_WITH: [(a, b) for i, a in enumerate(liked) for b in liked[i + 1 :]]
        }
        if feat is not None:
            cap = self.model.ids.index(schema.CAPTION).get(text)
            if cap is None:
                cap = len(self.model.ids.captions)
                nodes[schema.CAPTION] = [(text, feat)]
            edges[LIKED_FOR] = [(n, cap) for n in liked]
        if cand is not None:
            edges[LIKED_FROM] = [(n, cand) for n in liked]
        changed = self._apply_edit(nodes=nodes, edges=edges, reembed=reembed)
        self._likes.add(cand, feat, tuple(liked))
        return changed, "remembered"
