"""Interactions without retraining (paper 2.2, issue 4): :class:`InteractionService` owns the log, applies
its rows (:class:`~retrieval.interactions.apply.InteractionState`), undo and accept, and the user overlays.

Every interaction runs validate -> log -> apply. Validation (:mod:`retrieval.interactions.validation`)
raises a typed error (UnknownItemError, InteractionError) before anything is written; the row is
then committed to the :class:`~retrieval.interactions.log.InteractionLog` (its id is the receipt's
``interaction_id``) and only then applied. Applying reads nothing but the row's payload and the current graph, so
``Engine.load`` replaying the log (undone rows skipped) rebuilds the same graph, states and rankings.

* **More metadata** (``add_metadata``): the statement's attributes (:mod:`retrieval.interactions.statements`: the
  Flair tagger plus the taxonomy's phrases) are stored in the row. From a trusted sender (or once a
  staff member accepts it) each becomes an ``image -has_user_attribute-> attribute`` edge through
  :meth:`~retrieval.index.state.GraphState.apply_edit` (a new attribute node first, its feature from the model's text
  encoder, hung on its group concept); in an exclusive group the stated value replaces the image's
  others ("that dress is black" removes its ``color:red`` edge). The search tiers and explanations read
  the edge at once (:class:`~retrieval.graph.explain.GraphFacts`); the k-hop neighbourhood is re-embedded.
  From anyone else the statement is *pending*: an overlay of that shopper's
  :class:`~retrieval.interactions.overlay.UserState` (their search tiers, explanations and modify re-ranking see
  it) and nothing in the shared graph that could move another shopper's results (a brand-new
  attribute node is added detached: no edges, not matched in other shoppers' words).
* **I like that** (``like``), ``like_scope="global"`` (the paper's experiments): edges between all
  liked images (``liked_with``), each liked image to a caption node of the words (``liked_for``,
  created if new) and to the candidate (``liked_from``); re-embedded like metadata. Because an R-GCN
  not trained with interaction edges (A.3) gives these relations untrained weights, the ranking also
  reads the like directly: a later query with similar words (``like_text_min``) for the same or a
  near-identical candidate (``like_candidate_min``) lifts the liked images by up to ``like_boost``.
  ``like_scope="user"``: the shopper's USER node and its ``likes`` edges live in their
  :class:`~retrieval.interactions.overlay.UserState` (``liked``), NOT in the shared DGL graph: no message passing,
  full or incremental, can carry them into the embeddings other shoppers rank by. That shopper's
  results near the liked images are lifted (``user_like_boost``) and the like memory applies to them alone.
* **Dislike** (``dislike``): likewise a per-user ``dislikes`` edge (``UserState.hidden`` /
  ``penalised``): the image and its product are hidden from that shopper and similar images lowered
  for them (``dislike_penalty``); others see no change.

Undo and accept are log rows that act on the live engine at once: ``accept`` applies the statement
globally (its author's overlay no longer holds it); ``undo`` (:mod:`retrieval.interactions.undo`) leaves the engine
answering exactly as a fresh load replaying the log would: rebuilding only the shopper's state for a
per-user row, taking a like in the shared graph back out incrementally (its edges, the re-embedded k-hop
neighbourhood, its memory) under the lock, and rebuilding the graph state for a global statement.
Statements credited in explanations name who made them (:meth:`~retrieval.graph.explain.GraphFacts.stated_by`).
:attr:`InteractionService.last_interaction` times the last interaction's steps and
:meth:`InteractionService.full_reembed` times a full forward pass (for the benchmark).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.api import InteractionReceipt
from retrieval.errors import InteractionError
from retrieval.graph import schema
from retrieval.graph.build import attribute_name
from retrieval.index.heap import settle
from retrieval.index.state import GraphState
from retrieval.interactions import log as ilog
from retrieval.interactions import query_effects
from retrieval.interactions.apply import InteractionState, ms
from retrieval.interactions.log import Interaction, InteractionLog, LogConfig
from retrieval.interactions.overlay import UserState
from retrieval.interactions.settings import InteractionSettings, check_like_scope
from retrieval.interactions.statements import StatementReader, find_tagger
from retrieval.interactions.undo import GRAPH_STATE, forget, forget_undone, rebuild_user
from retrieval.interactions.validation import check_found, check_user, check_words, liked_photos

log = logging.getLogger(__name__)

LOG_FILE = "interactions.db"


@dataclass(frozen=True)
class InteractionTiming:
    """How long the last interaction took, in milliseconds, and how many nodes it re-embedded."""

    kind: str
    validate_ms: float
    log_ms: float
    apply_ms: float
    total_ms: float
    reembedded: int


def _image_ids(payload: dict[str, Any]) -> tuple[str, ...]:
    return (payload["image_id"],) if "image_id" in payload else tuple(payload["liked_ids"])


def _receipt(row: Interaction, message: str, new: tuple[str, ...] = ()) -> InteractionReceipt:
    """The receipt of a logged row: its id, kind, author, scope, photos and attributes."""
    p = row.payload
    return InteractionReceipt(
        row.id, row.kind, row.user, row.scope, _image_ids(p), tuple(p.get("attributes", ())), new, message
    )


class InteractionService:
    """``add_metadata`` / ``like`` / ``dislike`` / ``undo`` / ``accept`` on an :class:`InteractionState`.

    Args:
        state: the graph state and what the applied rows made (replaced whole by a graph rebuild).
        cfg: the settings.
        text_feature: text feature of words.
        load_graph: a fresh graph state from the model directory (for a graph rebuild).
        log: the interaction log (default: ``cfg.log_url``, else ``MODEL/interactions.db``).
        lock: the engine's lock (queries and interactions take turns under it).
    """

    def __init__(
        self,
        state: InteractionState,
        cfg: InteractionSettings,
        *,
        text_feature: Callable[[str], np.ndarray],
        load_graph: Callable[[], GraphState],
        log: InteractionLog | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        check_like_scope(cfg.like_scope)
        self.cfg = cfg
        self._state = state
        self._text_feature = text_feature
        self._load_graph = load_graph
        self._log = log
        self._lock = lock if lock is not None else threading.RLock()
        self._model_dir = Path(state.graph.model.model_dir)
        self._reader: StatementReader | None = None
        self.last_interaction: InteractionTiming | None = None
        self._rebuild_lock = threading.Lock()  # graph rebuilds (undo, accept) one at a time, in log order

    @property
    def state(self) -> InteractionState:
        """The current graph state and applied rows (a graph rebuild replaces it with one assignment)."""
        return self._state

    @property
    def graph(self) -> GraphState:
        """The current graph state."""
        return self._state.graph

    @property
    def applied(self) -> frozenset[str]:
        """Keys (``id@version``) of the log rows applied."""
        return frozenset(self._state.applied)

    def user_state(self, user: str | None, *, create: bool = False) -> UserState | None:
        """``user``'s state (None when they have none, unless ``create``)."""
        if create and user:
            return self._state.user(user)
        return self._state.user_state(user)

    @property
    def interaction_log(self) -> InteractionLog:
        """The log interactions are written to (opened, and created, on first use)."""
        journal = self._open_log(create=True)
        assert journal is not None
        return journal

    def _open_log(self, create: bool) -> InteractionLog | None:
        if self._log is None:
            url = self.cfg.log_url or "sqlite:///" + str((self._model_dir / LOG_FILE).resolve())
            path = None if ilog.is_postgres(url) else ilog.sqlite_path(url)
            if not create and path is not None and path != ":memory:" and not Path(path).is_file():
                return None
            self._log = InteractionLog(LogConfig(url, trusted_senders=tuple(self.cfg.trusted)))
        return self._log

    @property
    def reader(self) -> StatementReader:
        """The statement reader (the tagger is loaded on first use)."""
        if self._reader is None:
            path = find_tagger(self._model_dir, self.cfg.tagger_dir)
            self._reader = StatementReader.load(self.graph.taxonomy, path, self.cfg.tagger_min_score)
        return self._reader

    @reader.setter
    def reader(self, reader: StatementReader) -> None:
        self._reader = reader

    # -- replay --------------------------------------------------------------------------
    def replay(self) -> int:
        """Apply the log's active rows not applied yet (structure first, then ONE full re-embed); rows applied."""
        with self._lock:
            return self._state.replay(self._open_log(create=False))

    def sync(self) -> int:
        """Apply rows other processes appended, accepted or undone since (a replica's, issue 16); incremental
        re-embeds, a graph rebuild outside the lock when an undo needs one. Returns rows applied.
        """
        with self._lock:
            journal = self._open_log(create=False)
            n = self._state.sync(journal)
            rebuild = journal is not None and forget_undone(self._state, journal)
        if rebuild:
            self._rebuild_all()
        return n

    def full_reembed(self) -> float:
        """Full forward pass over the graph, every image vector re-indexed; returns milliseconds."""
        t0 = time.perf_counter()
        with self._lock:
            self.graph.full_reembed()
        return ms(t0, time.perf_counter())

    # -- the interactions ----------------------------------------------------------------
    def add_metadata(self, image_id: str, statement: str, user: str) -> InteractionReceipt:
        """Record the attributes a person states about ``image_id`` ("that shirt is linen").

        Raises:
            UnknownItemError: no such photo.
            InteractionError: bad user, empty / too long statement, or one that names no attribute.
        """
        t0 = time.perf_counter()
        with self._lock:
            self.graph.node(image_id)
            user = check_user(user)
            statement = check_words(statement, "metadata statement", required=True, max_chars=self.cfg.max_text_chars)
            found = self.reader.read(statement)
            check_found(found, statement)
            for f in found:  # warm the text cache: applying cannot fail on the encoder after logging
                self._text_feature(attribute_name(f.key))
            payload = {
                "image_id": image_id,
                "statement": statement,
                "attributes": [f.key for f in found],
                "sources": [f.source for f in found],
            }
            index = self.graph.model.ids.index(schema.ATTRIBUTE)
            new = tuple(f.key for f in found if f.key not in index or index[f.key] in self.graph.detached)
            return self._record("metadata", user, payload, ilog.GLOBAL, t0, new)

    def like(self, candidate_id: str | None, text: str, liked_ids: list[str], user: str) -> InteractionReceipt:
        """The shopper liked ``liked_ids`` among the results of (``candidate_id``, ``text``): "I like that".

        Raises:
            UnknownItemError: an unknown candidate or liked id.
            InteractionError: bad user, no liked images (the candidate itself does not count), too long text.
        """
        t0 = time.perf_counter()
        with self._lock:
            user = check_user(user)
            if candidate_id is not None:
                self.graph.node(candidate_id)
            liked = liked_photos(liked_ids, candidate_id, self.graph.node)
            text = check_words(text, "liked query's text", required=False, max_chars=self.cfg.max_text_chars)
            if text:
                self._text_feature(text)
            payload = {"candidate_id": candidate_id, "text": text, "liked_ids": liked}
            return self._record("like", user, payload, self.cfg.like_scope, t0)

    def dislike(self, image_id: str, user: str) -> InteractionReceipt:
        """Hide ``image_id`` (and its product) from ``user`` and lower similar ones for them ("not this one").

        Raises:
            UnknownItemError: no such photo.
            InteractionError: bad user.
        """
        t0 = time.perf_counter()
        with self._lock:
            self.graph.node(image_id)
            user = check_user(user)
            return self._record("dislike", user, {"image_id": image_id}, ilog.USER, t0)

    def accept(self, interaction_id: int, staff_user: str) -> InteractionReceipt:
        """A trusted sender accepts a pending statement: logged, then applied for everyone now.

        Raises:
            PermissionDeniedError: ``staff_user`` is not trusted.
            InteractionError: unknown, undone or not pending.
        """
        with self._lock:
            self.interaction_log.accept(interaction_id, staff_user)
            self.sync()
            row = self.interaction_log.get(interaction_id)
            rebuild = not rebuild_user(
                self._state, self.interaction_log, row.user
            )  # the statement left the author's overlay, as on a replay
        if rebuild:
            self._rebuild_all()
        return _receipt(row, f"accepted by {staff_user}")

    def undo(self, interaction_id: int, user: str) -> InteractionReceipt:
        """Cancel an interaction ("undo that"); the engine then answers as a fresh load replaying the log.

        ``user`` may undo their own interactions, a trusted sender anyone's. The receipt describes the
        interaction undone (its id, kind, author, scope, photos and attributes).

        Raises:
            PermissionDeniedError: someone else's interaction and ``user`` is not trusted.
            InteractionError: bad user, unknown id, a control row, or an interaction already undone.
        """
        t0 = time.perf_counter()
        with self._lock:
            user = check_user(user)
            journal = self.interaction_log
            row = journal.get(interaction_id)
            t1 = time.perf_counter()
            try:
                journal.undo(row.id, user)
            except ilog.STORE_ERRORS as err:
                raise InteractionError(
                    f"The undo could not be saved ({err}); nothing was changed.",
                    fix=f"check that {journal.config.url} is writable and has space",
                ) from err
            t2 = time.perf_counter()
            rebuilt = forget(self._state, journal, row)
        if rebuilt == GRAPH_STATE:  # outside the lock: other shoppers are answered while it reloads
            self._rebuild_all()
        with self._lock:
            t3 = time.perf_counter()
            self.last_interaction = InteractionTiming(
                "undo", ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t0, t3), len(self.graph) if rebuilt == GRAPH_STATE else 0
            )
            log.info(
                "interaction %d (%s by %s) undone by %s (%s state) in %.1f ms",
                row.id,
                row.kind,
                row.user,
                user,
                rebuilt,
                ms(t2, t3),
            )
            return _receipt(row, f"undone by {user}")

    def _record(
        self, kind: str, user: str, payload: dict[str, Any], scope: str, t0: float, new: tuple[str, ...] = ()
    ) -> InteractionReceipt:
        """Append (committed) then apply one validated interaction; time the steps."""
        t1 = time.perf_counter()
        journal = self.interaction_log
        scope = journal.effective_scope(kind, user, scope)
        try:
            rid = journal.append(kind, user, payload, ilog.GLOBAL if scope == ilog.PENDING else scope)
        except ilog.STORE_ERRORS as err:
            raise InteractionError(
                f"The interaction could not be saved ({err}); nothing was changed.",
                fix=f"check that {journal.config.url} is writable and the disk has space",
            ) from err
        t2 = time.perf_counter()
        row = Interaction(rid, time.time(), kind, user, scope, payload)
        changed, message = self._state.apply_row(row)
        self._state.applied.add(row.key)
        t3 = time.perf_counter()
        self.last_interaction = InteractionTiming(
            kind, ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t0, t3), sum(len(v) for v in changed.values())
        )
        return _receipt(row, message, new)

    def _rebuild_all(self) -> None:
        """Load a new graph state, replay the log into a new InteractionState, swap it in.

        The reload runs OUTSIDE the engine lock (call this without holding it), so shoppers keep being
        answered from the old state meanwhile; only the swap, and applying the rows logged during the
        reload (:meth:`sync`), hold it. Rebuilds take turns, so a later one always loads a later log.
        """
        t0 = time.perf_counter()
        with self._rebuild_lock:
            journal = self.interaction_log
            fresh = InteractionState(self._load_graph(), self._text_feature)
            fresh.replay(journal)
            t1 = time.perf_counter()
            with self._lock:
                self._state = fresh
                caught_up = fresh.sync(journal)
                t2 = time.perf_counter()
        settle(collect=False)  # the new state is long-lived; the old one went with its references
        log.info(
            "graph state rebuilt from %s and %d logged interactions: reload %.0f ms outside the lock, "
            "swap + %d rows logged meanwhile %.1f ms under it",
            self._model_dir,
            len(fresh.applied),
            ms(t0, t1),
            caught_up,
            ms(t1, t2),
        )

    # -- what queries read (:mod:`retrieval.interactions.query_effects`) -----------------
    def new_mentions(self, text: str, user: str | None) -> list[int]:
        """Attribute nodes added by interactions whose names the words contain (the user's pending ones too)."""
        return query_effects.new_mentions(self._state, text, user)

    def boosts(self, candidate: int | None, text: str, asked: list[int], user: str | None) -> dict[int, float] | None:
        """Per-node score lifts of one query: similar earlier likes, the user's pending metadata."""
        return query_effects.boosts(
            self._state, candidate, text, asked, user, cfg=self.cfg, text_feature=self._text_feature
        )

    def facts_for(self, user: str | None) -> Any:
        """The graph facts ``user`` sees (shared facts plus their pending overlay)."""
        return query_effects.facts_for(self._state, user)

    def explainer_for(self, user: str | None) -> Any:
        """The explainer of the graph as ``user`` sees it."""
        return query_effects.explainer_for(self._state, user)
