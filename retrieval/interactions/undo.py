"""Undo on the live engine (issue 4): which state an undone row must rebuild.

Once the log holds the ``undo`` row, the live engine must answer exactly as a fresh ``Engine.load``
replaying the log (undone rows skipped) would:

* A row whose effect is one shopper's alone (a dislike, a per-user like, a pending statement) is
  forgotten by rebuilding that shopper's :class:`~retrieval.interactions.overlay.UserState` from their remaining
  active rows, in log order (:func:`rebuild_user`): nothing in the shared graph changes.
* A like in the shared graph (``like_scope="global"``) is taken back out where it was put in
  (:meth:`~retrieval.interactions.apply.InteractionState.unapply_like`): one copy of each of its
  ``liked_with`` / ``liked_for`` / ``liked_from`` edges and their reverses removed, the k-hop
  neighbourhood of their endpoints re-embedded and re-indexed (as adding it re-embedded it; a node
  whose embedding the like changed is within k hops of an endpoint without passing an edge of the
  like), and its like memory forgotten, all under the engine lock. A caption node the like created
  stays without edges, which a replay would not have made but which changes no answer.
* Any other row (a staff or accepted statement, a like whose edges are not all there) changed the
  graph, the index and the facts: :class:`~retrieval.interactions.service.InteractionService` then loads a new
  :class:`~retrieval.index.state.GraphState` from the model directory, replays the log's active rows
  into a new :class:`~retrieval.interactions.apply.InteractionState` over it (one full re-embed) and
  swaps that in with one assignment; the lock, the log, the settings and the encoder / tagger caches stay.
* A per-user row takes the graph rebuild too when re-applying the shopper's rows to today's graph could
  differ from the replay order: its statement named a still-detached attribute node (made by a
  pending statement, so a fresh load might not have it), or a later global statement touched an
  image of one of the shopper's pending statements.
"""

from __future__ import annotations

import logging

from retrieval.errors import TailorError
from retrieval.graph import schema
from retrieval.interactions import log as ilog
from retrieval.interactions.apply import InteractionState
from retrieval.interactions.log import Interaction, InteractionLog

log = logging.getLogger(__name__)

USER_STATE, EDITED, GRAPH_STATE = "user", "edited", "graph"


def user_only(row: Interaction) -> bool:
    """True when applying ``row`` changed its author's :class:`UserState` and nothing shared."""
    return (
        row.kind == "dislike"
        or (row.kind == "like" and row.scope == ilog.USER)
        or (row.kind == "metadata" and row.scope == ilog.PENDING)
    )


def forget(state: InteractionState, journal: InteractionLog, row: Interaction) -> str:
    """Forget ``row`` (already undone in the log): USER_STATE when its author's state was rebuilt here,
    EDITED when a like's edges and memory were taken out of the shared graph here, GRAPH_STATE when
    the caller must now rebuild the graph state (after releasing the engine lock).
    """
    was_applied = any(k.partition("@")[0] == str(row.id) for k in state.applied)
    state.applied = {k for k in state.applied if k.partition("@")[0] != str(row.id)}
    if user_only(row) and rebuild_user(state, journal, row.user, row):
        return USER_STATE
    if row.kind == "like" and row.scope == ilog.GLOBAL and was_applied:
        try:
            if state.unapply_like(row) is not None:
                return EDITED
        except (TailorError, KeyError, TypeError) as err:  # as applying skips a row that no longer applies
            log.warning("interaction %d could not be taken out incrementally (%s): rebuilding", row.id, err)
    return GRAPH_STATE


def rebuild_user(
    state: InteractionState, journal: InteractionLog, user: str, undone: Interaction | None = None
) -> bool:
    """Rebuild ``user``'s state from their active per-user rows applied to ``state``; False when only a
    graph rebuild gives the replay's answer (see the module docstring).
    """
    graph = state.graph
    index = graph.model.ids.index(schema.ATTRIBUTE)
    if (
        undone is not None
        and undone.kind == "metadata"
        and any(index.get(k) in graph.detached for k in undone.payload.get("attributes", ()))
    ):
        return False
    active = journal.list(include_undone=False)
    mine = [r for r in active if r.user == user and user_only(r) and r.key in state.applied]
    pending = [r for r in mine if r.kind == "metadata"]
    if pending:
        last_global: dict[str, int] = {}
        for r in active:
            if r.kind == "metadata" and r.scope == ilog.GLOBAL:
                last_global[r.payload["image_id"]] = r.id
        if any(last_global.get(p.payload["image_id"], -1) > p.id for p in pending):
            return False
    state.forget_user(user)
    for r in mine:
        state.apply_logged(r, reembed=True)
    return True


def forget_undone(state: InteractionState, journal: InteractionLog) -> bool:
    """Forget the applied rows another process undid since (a replica's undo); True when the caller must
    now rebuild the graph state (after releasing the engine lock), as after a local undo.
    """
    applied = {k.partition("@")[0] for k in state.applied}
    undone = [r for r in journal.list(include_undone=True) if r.undone_by is not None and str(r.id) in applied]
    rebuild = False
    for row in undone:
        rebuild = forget(state, journal, row) == GRAPH_STATE or rebuild
    return rebuild
