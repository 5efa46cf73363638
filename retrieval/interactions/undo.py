"""Undo on the live engine (issue 4): a mixin of :class:`retrieval.engine.facade.Engine` under
:mod:`retrieval.interactions.service`.

Once the log holds the ``undo`` row, the live engine must answer exactly as a fresh ``Engine.load``
replaying the log (undone rows skipped) would:

* A row whose effect is one shopper's alone (a dislike, a per-user like, a pending statement) is
  forgotten by rebuilding that shopper's :class:`~retrieval.interactions.overlay.UserState` from their remaining
  active rows, in log order: nothing in the shared graph changes.
* Any other row (a staff or accepted statement, a like in the shared graph) changed the graph, the
  index and the facts: they are rebuilt by ``Engine.load`` itself (the model reloaded from its
  directory, the log's active rows replayed, one full re-embed), and the new state is swapped into
  this engine object under its lock; the lock, the log, the configuration (so the index kind) and the
  encoder / tagger caches stay.
* A per-user row takes the second way too when re-applying the shopper's rows to today's graph could
  differ from the replay order: its statement named a still-detached attribute node (made by a
  pending statement, so a fresh load might not have it), or a later global statement touched an
  image of one of the shopper's pending statements.
"""

from __future__ import annotations

import logging
import time

from retrieval.graph import schema
from retrieval.index.heap import settle
from retrieval.interactions import log as ilog
from retrieval.interactions.apply import ApplyRowsMixin, ms
from retrieval.interactions.log import Interaction

log = logging.getLogger(__name__)

# Kept across a graph rebuild: what callers hold (lock, log), the settings, and caches that depend
# only on the model's text encoder and the taxonomy.
KEPT = frozenset({"_lock", "_rebuild_lock", "_log", "cfg", "_text_cache", "_query_encoder", "_reader", "_blas"})
USER_STATE, GRAPH_STATE = "user", "graph"


def user_only(row: Interaction) -> bool:
    """True when applying ``row`` changed its author's :class:`UserState` and nothing shared."""
    return (
        row.kind == "dislike"
        or (row.kind == "like" and row.scope == ilog.USER)
        or (row.kind == "metadata" and row.scope == ilog.PENDING)
    )


class UndoMixin(ApplyRowsMixin):
    """Forget an undone row on the live engine (needs the Engine's and InteractionsMixin's fields)."""

    def _forget(self, row: Interaction) -> str:
        """Forget ``row`` (already undone in the log): USER_STATE when its author's state was rebuilt here,
        GRAPH_STATE when the caller must now :meth:`_rebuild_all` (after releasing the engine lock)."""
        self._applied = {k for k in self._applied if k.partition("@")[0] != str(row.id)}
        if user_only(row) and self._rebuild_user(row.user, row):
            return USER_STATE
        return GRAPH_STATE

    def _rebuild_user(self, user: str, undone: Interaction | None = None) -> bool:
        """Rebuild ``user``'s state from their active per-user rows applied here; False when only a graph
        rebuild gives the replay's answer (see the module docstring)."""
        index = self.model.ids.index(schema.ATTRIBUTE)
        if (
            undone is not None
            and undone.kind == "metadata"
            and any(index.get(k) in self._detached for k in undone.payload.get("attributes", ()))
        ):
            return False
        active = self.interaction_log.list(include_undone=False)
        mine = [r for r in active if r.user == user and user_only(r) and r.key in self._applied]
        pending = [r for r in mine if r.kind == "metadata"]
        if pending:
            last_global: dict[str, int] = {}
            for r in active:
                if r.kind == "metadata" and r.scope == ilog.GLOBAL:
                    last_global[r.payload["image_id"]] = r.id
            if any(last_global.get(p.payload["image_id"], -1) > p.id for p in pending):
                return False
        self.users.pop(user, None)
        for r in mine:
            self._apply_logged(r, reembed=True)
        return True

    def _rebuild_all(self) -> None:
        """Reload the model and replay the log (``Engine.load``), then take over the new state.

        The reload runs OUTSIDE the engine lock (call this without holding it), so shoppers keep being
        answered from the old state meanwhile; only the swap, and applying the rows logged during the
        reload (:meth:`sync`), hold it. Rebuilds take turns, so a later one always loads a later log.
        """
        t0 = time.perf_counter()
        with self._rebuild_lock:
            fresh = type(self).load(
                self.model.model_dir, cfg=self.cfg, index_kind=self.index.kind, log=self.interaction_log
            )
            t1 = time.perf_counter()
            with self._lock:
                for name in set(vars(self)) - set(vars(fresh)) - KEPT:  # lazily made caches of the old state
                    delattr(self, name)
                for name, value in vars(fresh).items():
                    if name not in KEPT:
                        setattr(self, name, value)
                caught_up = self.sync()
                t2 = time.perf_counter()
        settle(collect=False)  # the new state is long-lived; the old one went with its references
        log.info(
            "graph state rebuilt from %s and %d logged interactions: reload %.0f ms outside the lock, "
            "swap + %d rows logged meanwhile %.1f ms under it",
            self.model.model_dir,
            len(self._applied),
            ms(t0, t1),
            caught_up,
            ms(t1, t2),
        )
