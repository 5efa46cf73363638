"""The engine façade the actions use: ``search``, ``modify``, ``explain``, ``describe`` on a trained model.

>>> engine = Engine.load("build/demo/engine")
>>> first = engine.search("red summer dresses", k=10)
>>> better = engine.modify(first[0].image_id, "like this but black with long sleeves", k=10)
>>> better[0].explanation.text
'Shares a-line and knee-length with your pick; has black, which replaces red since colors are exclusive; ...'

* ``modify`` (paper 2.1): the words become a NEW caption node, embedded as a sink from the candidate
  image and the attribute nodes the words mention (cached per-layer states, no graph pass), composed
  with the candidate into a query vector and searched in the FAISS index, candidate excluded.
* ``search`` (first turn, no candidate): the attribute nodes the words mention (taxonomy phrases and
  synonyms; when none, the attribute nodes whose text features are nearest the words) select the
  images linked to them (A.2's X set, most mentioned attributes first); within a tier, images are
  ranked by similarity of their learned graph embedding to the tier's centroid; FAISS fills the rest.
* Every result carries an :class:`~retrieval.api.Explanation` built from graph nodes and edges
  (:mod:`retrieval.graph.explain`) in O(attributes of two images); words that drop a value ("instead of
  red") do not count as asked for.
* One photo per product (its best) by default; picking or excluding a photo excludes its product.
  The ranking itself lives in :mod:`retrieval.engine.ranking`.
* Online: one FAISS / torch thread per query; HNSW replaces the exact index above
  ``EngineConfig.hnsw_above`` images; query-text features are LRU-cached.

Limits: text is 1..``max_text_chars`` characters; ``1 <= k <= max_k`` (a larger k is an
InvalidQueryError; fewer results come back when the catalog, filters and exclusions leave fewer).
Unknown ids in ``exclude`` are ignored (they cannot be shown anyway); an unknown candidate raises
UnknownItemError. Interactions (``add_metadata``, ``like``, ``dislike``; issue 4) live in
:mod:`retrieval.interactions.service`: logged durably, applied without retraining, replayed by ``load``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.api import Explanation, InteractionReceipt, Ranked, Result
from retrieval.config import load_config
from retrieval.engine.answer import Answerer
from retrieval.engine.config import ENGINE_CONFIG_FILE, EngineConfig
from retrieval.engine.query_text import QueryText
from retrieval.engine.request import with_unmet
from retrieval.features.base import blas_controller, one_thread
from retrieval.graph.explain import Explainer, GraphFacts
from retrieval.index.state import GraphState, Items, load_graph
from retrieval.interactions.apply import InteractionState
from retrieval.interactions.log import InteractionLog
from retrieval.interactions.overlay import UserState
from retrieval.interactions.service import InteractionService, InteractionTiming
from retrieval.interactions.statements import StatementReader
from retrieval.training.artifacts import load_model

logger = logging.getLogger(__name__)


class Engine:
    """Graph retrieval behind :class:`retrieval.api.EngineAPI`, composed of parts that own their state.

    * :class:`~retrieval.index.state.GraphState` (graph, facts, embeddings, index, items), replaced whole
      by a global undo / accept, so it is always read through :attr:`graph`;
    * :class:`~retrieval.engine.ranking.Ranker` (how results are ranked);
    * :class:`~retrieval.engine.query_text.QueryText` (query text features, lexicon);
    * :class:`~retrieval.interactions.service.InteractionService` (log, applying rows, undo, overlays).

    Args:
        graph: the graph state to answer from.
        cfg: answering settings.
        text: the query-text part (default: a new one for the graph's model; share one to share its cache).
        log: the interaction log (default: ``cfg.log_url``; see :mod:`retrieval.interactions.service`).
        load_graph: a fresh graph state for a graph rebuild (default: the model reloaded from its directory).
    """

    def __init__(
        self,
        graph: GraphState,
        cfg: EngineConfig | None = None,
        *,
        text: QueryText | None = None,
        log: InteractionLog | None = None,
        load_graph: Callable[[], GraphState] | None = None,
    ) -> None:
        self.cfg = cfg or EngineConfig()
        if self.cfg.reembed_tol is not None:
            graph.model.reembed_tol = float(self.cfg.reembed_tol)
        self.text = text or QueryText(graph.model, runtime=self.cfg.text_runtime, cache_size=self.cfg.text_cache_size)
        self._lock = threading.RLock()
        self._blas = blas_controller()  # type: ignore[no-untyped-call]  # features/base.py is not typed yet
        self.interactions = InteractionService(
            InteractionState(graph, self.text.text_feature),
            self.cfg,
            text_feature=self.text.text_feature,
            load_graph=load_graph or self._reload_graph,
            log=log,
            lock=self._lock,
        )
        self.answer = Answerer(self.cfg, self.text, self.interactions)

    def _reload_graph(self) -> GraphState:
        g = self.graph
        return load_graph(
            g.model.model_dir, dataclasses.replace(self.cfg.index, kind=g.index.kind), reembed_tol=self.cfg.reembed_tol
        )

    # -- construction --------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        index_kind: str | None = None,
        cfg: EngineConfig | None = None,
        index_dir: str | Path | None = None,
        log: InteractionLog | None = None,
        replay: bool = True,
    ) -> Engine:
        """Load a trained model directory, index its image embeddings and replay the interaction log.

        Args:
            model_dir: written by ``tailor train``.
            index_kind: "flat" or "hnsw" (default: the config's, HNSW above ``cfg.hnsw_above`` images).
            cfg: settings (default: ``MODEL/engine_config.json`` if present, else defaults).
            index_dir: a saved index (:meth:`save_index`) to load instead of building one.
            log: the interaction log (default: ``cfg.log_url``, else ``MODEL/interactions.db``, with
                ``cfg.trusted``); a given log keeps its own ``LogConfig.trusted_senders``.
            replay: apply the log's interactions (undone ones skipped; pending ones for their authors).
        """
        model_dir = Path(model_dir)
        model = load_model(model_dir)
        if cfg is None:
            path = model_dir / ENGINE_CONFIG_FILE
            cfg = load_config(EngineConfig, path) if path.is_file() else EngineConfig()
        if index_kind is not None:
            cfg = dataclasses.replace(cfg, index=dataclasses.replace(cfg.index, kind=index_kind))
        index_cfg = cfg.index if index_kind else cfg.index_for(len(model.ids.images))
        graph = GraphState.from_model(model, index_cfg, index_dir=index_dir)
        logger.info(
            "engine: %d images, %s index, %d attribute nodes", len(graph), graph.index.kind, len(graph.facts.attr_keys)
        )
        engine = cls(graph, cfg, log=log)
        if replay:
            engine.replay()
        return engine

    def save_index(self, directory: str | Path) -> Path:
        """Write the vector index (``Engine.load(..., index_dir=directory)`` reads it back)."""
        with self._lock:
            return self.graph.save_index(directory)

    # -- the parts' state ------------------------------------------------------------------
    @property
    def graph(self) -> GraphState:
        """The current graph state (a global undo or accept replaces it)."""
        return self.interactions.graph

    @property
    def model(self) -> Any:
        """The trained model (:class:`retrieval.training.artifacts.TrainedModel`) of the current graph."""
        return self.graph.model

    @property
    def items(self) -> Items:
        """Catalog fields per image node."""
        return self.graph.items

    @property
    def facts(self) -> GraphFacts:
        """The shared graph facts."""
        return self.graph.facts

    @property
    def index(self) -> Any:
        """The vector index over the image embeddings."""
        return self.graph.index

    @property
    def embeddings(self) -> np.ndarray:
        """Image node embeddings (row = image node id), as indexed."""
        return self.graph.embeddings

    @property
    def taxonomy(self) -> Any:
        """The model's taxonomy."""
        return self.graph.taxonomy

    @property
    def explainer(self) -> Explainer:
        """The explainer over the shared graph facts."""
        return self.graph.explainer

    @property
    def users(self) -> dict[str, UserState]:
        """Per-shopper state (dislikes, per-user likes, pending statements) by user id."""
        return self.interactions.state.users

    @property
    def lock(self) -> threading.RLock:
        """The lock queries and interactions take turns under (kept across graph rebuilds)."""
        return self._lock

    @property
    def interaction_log(self) -> InteractionLog:
        """The log interactions are written to (opened, and created, on first use)."""
        return self.interactions.interaction_log

    @property
    def reader(self) -> StatementReader:
        """The metadata statement reader."""
        return self.interactions.reader

    @property
    def last_interaction(self) -> InteractionTiming | None:
        """How long the last interaction's steps took."""
        return self.interactions.last_interaction

    @property
    def lexicon(self) -> Any:
        """Known words of queries."""
        return self.text.lexicon

    def text_feature(self, text: str) -> np.ndarray:
        """Text feature of the words (LRU-cached)."""
        return self.text.text_feature(text)

    def clear_text_cache(self) -> None:
        """Forget cached text features (benchmarks time cold queries with it)."""
        self.text.clear_cache()

    # -- interactions ----------------------------------------------------------------------
    def add_metadata(self, image_id: str, statement: str, user: str) -> InteractionReceipt:
        """A metadata statement, "that shirt is linen" (:meth:`InteractionService.add_metadata`)."""
        return self.interactions.add_metadata(image_id, statement, user)

    def like(self, candidate_id: str | None, text: str, liked_ids: list[str], user: str) -> InteractionReceipt:
        """A like, "I like that" (:meth:`InteractionService.like`)."""
        return self.interactions.like(candidate_id, text, liked_ids, user)

    def dislike(self, image_id: str, user: str) -> InteractionReceipt:
        """A dislike, "not this one" (:meth:`InteractionService.dislike`)."""
        return self.interactions.dislike(image_id, user)

    def undo(self, interaction_id: int, user: str) -> InteractionReceipt:
        """An undo, "undo that" (:meth:`InteractionService.undo`)."""
        return self.interactions.undo(interaction_id, user)

    def accept(self, interaction_id: int, staff_user: str) -> InteractionReceipt:
        """A trusted sender accepts a pending statement (:meth:`InteractionService.accept`)."""
        return self.interactions.accept(interaction_id, staff_user)

    def replay(self) -> int:
        """Apply the log's rows not applied yet; returns rows applied."""
        return self.interactions.replay()

    def sync(self) -> int:
        """Apply rows other processes appended since; returns rows applied."""
        return self.interactions.sync()

    def full_reembed(self) -> float:
        """Full forward pass, every image vector re-indexed; returns milliseconds."""
        return self.interactions.full_reembed()

    def apply_edit(
        self,
        *,
        nodes: dict[str, list[tuple[str, np.ndarray]]] | None = None,
        edges: dict[Any, list[tuple[int, int]]] | None = None,
        remove: dict[Any, list[tuple[int, int]]] | None = None,
        reembed: bool = True,
    ) -> dict[str, list[int]]:
        """A graph edit with its index update, not logged (:meth:`GraphState.apply_edit`; simulations, tests)."""
        with self._lock:
            return self.graph.apply_edit(nodes=nodes, edges=edges, remove=remove, reembed=reembed)

    # -- the words (:class:`~retrieval.engine.answer.Answerer`) -------------------------------
    def node(self, image_id: str) -> int:
        """Image node id of ``image_id`` (UnknownItemError if the catalog has no such photo)."""
        return self.graph.node(image_id)

    def asked(self, text: str, mentioned: list[int]) -> list[int]:
        """The mentioned attribute nodes the words ask for (not those they drop: "instead of red")."""
        return self.answer.asked(text, mentioned)

    def mentions(self, text: str, user: str | None = None) -> list[int]:
        """Attribute nodes the words mention (taxonomy phrases, plus attributes interactions added)."""
        return self.answer.mentions(text, user)

    def filter_nodes(self, filters: dict[str, Any], *, user: str | None = None) -> np.ndarray:
        """Image nodes passing ``filters`` (group -> value or list of values; AND over groups, OR within)."""
        return self.answer.filter_nodes(filters, user=user)

    # -- EngineAPI -----------------------------------------------------------------------
    def modify(
        self, candidate_id: str, text: str, k: int = 10, exclude: tuple[str, ...] = (), *, user: str | None = None
    ) -> Ranked[Result]:
        """Products like ``candidate_id`` with the modification ``text``, best first (candidate excluded).

        The answer's ``unmet`` names the asked values too few products carry (:class:`~retrieval.api.Ranked`).
        """
        with self._lock, one_thread(self._blas):
            g, inter, ans = self.graph, self.interactions, self.answer
            cand = g.node(candidate_id)
            text, k = ans.check_text(text), ans.check_k(k)
            mentioned = ans.mentions(text, user)
            q = ans.query_vector(cand, text, mentioned)
            asked = ans.asked(text, mentioned)
            boost = inter.boosts(cand, text, asked, user)
            skip = ans.skip(g, exclude, user, cand)
            state = inter.user_state(user)
            step = ans.request_step(g)  # the EI tree honoured: retrieval/engine/request.py
            req = step.request(cand, text)
            ranked = None
            if req is None:
                scores, ids = ans.ranker.knn(g, q, k, skip, state, boost=boost)
            else:
                ranked = step.answer(req, q, k, skip, lambda n: ans.ranker.knn(g, q, n, skip, state, boost=boost))
                scores, ids = [s for s, _ in ranked], [n for _, n in ranked]
            results = ans.results(g, ids, scores, cand, asked, inter.explainer_for(user))
            return with_unmet(results, ranked)

    def search(
        self,
        text: str,
        k: int = 10,
        filters: dict[str, Any] | None = None,
        *,
        user: str | None = None,
        exclude: tuple[str, ...] = (),
    ) -> list[Result]:
        """First turn: products matching words ("red summer dresses"), best first.

        Args:
            text: the words.
            k: results wanted.
            filters: ``{"category": "dress", "color": ["red", "pink"]}``: every group must match one
                of its values (synonyms allowed).
            user: the shopper (their hidden / penalised images apply).
            exclude: image ids not to return (e.g. already shown).
        """
        with self._lock, one_thread(self._blas):
            g, inter, ans = self.graph, self.interactions, self.answer
            text, k = ans.check_text(text), ans.check_k(k)
            allowed = ans.filter_nodes(filters, user=user) if filters else None
            asked = ans.asked(text, ans.mentions(text, user))
            boost = inter.boosts(None, text, asked, user)
            scores, ids = ans.ranker.text_search(
                g,
                text,
                asked,
                k,
                ans.skip(g, exclude, user),
                allowed,
                inter.user_state(user),
                boost,
                inter.facts_for(user),
            )
            return ans.results(g, ids, scores, None, asked, inter.explainer_for(user))

    def explain(self, candidate_id: str | None, text: str, result_id: str, *, user: str | None = None) -> Explanation:
        """Graph explanation of ``result_id`` for the query (``candidate_id`` None: a first search), as
        ``user`` sees the graph (their pending statements included: "(as you told me)").
        """
        with self._lock, one_thread(self._blas):
            ans = self.answer
            cand = self.node(candidate_id) if candidate_id is not None else None
            node = self.node(result_id)
            text = ans.check_text(text)
            mentioned = ans.mentions(text, user)
            explainer = self.interactions.explainer_for(user)
            base: Explanation = explainer.explain(cand, ans.asked(text, mentioned), node)
            return ans.weighed(base, node, cand, text, mentioned, explainer.facts)  # retrieval/engine/why.py

    def describe(self, image_id: str, *, user: str | None = None) -> Result:
        """The product behind ``image_id``: its attributes as ``explanation.shared``, EI-tree concepts, edges
        (``user``'s pending statements included).
        """
        with self._lock, one_thread(self._blas):
            node = self.node(image_id)
            it = self.items
            return Result(
                it.image_ids[node],
                it.product_ids[node],
                0.0,
                it.captions[node],
                it.categories[node],
                it.paths[node],
                self.interactions.explainer_for(user).describe(node),
            )
