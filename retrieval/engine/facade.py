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
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.api import Explanation, Result
from retrieval.config import load_config
from retrieval.engine.query_text import QueryTextMixin
from retrieval.engine.ranking import RankingMixin, unwanted_keys
from retrieval.engine.request import request_step, with_unmet
from retrieval.errors import ConfigError, DatasetError, InvalidQueryError, UnknownItemError
from retrieval.features.base import blas_controller, one_thread
from retrieval.features.onnx_runtime import RUNTIMES as TEXT_RUNTIMES
from retrieval.graph.explain import Explainer, GraphFacts
from retrieval.index.vectors import IndexConfig, VectorIndex
from retrieval.interactions.log import InteractionLog
from retrieval.interactions.overlay import UserState
from retrieval.interactions.service import LIKE_SCOPES, InteractionsMixin

logger = logging.getLogger(__name__)

ENGINE_CONFIG_FILE = "engine_config.json"


@dataclass(frozen=True)
class EngineConfig:
    """How the engine answers (``MODEL/engine_config.json`` when present).

    Attributes:
        index: the FAISS index (``kind`` "flat" exact, or "hnsw" for large catalogs).
        hnsw_above: catalogs with more images use HNSW even when ``index.kind`` is "flat" (an exact
            scan of 200,000 vectors costs tens of ms on this 2-core box); 0 disables the switch.
        max_k: most results one query may ask for.
        max_text_chars: longest query text.
        text_cache_size: query texts whose features are kept (LRU).
        soft_attributes: attributes picked by text-feature similarity when the words name none.
        prototype_images: most images averaged into a search tier's centroid.
        category_weight: weight of a mentioned category against one of another attribute in search tiers
            ("red dresses": a dress of another colour before a red skirt).
        dislike_penalty: how much a user's disliked images lower similar results (issue 4).
        like_scope: "global" (the paper's form: like edges in the shared graph) or "user" (a USER node;
            only that shopper's results change).
        like_boost: most a like lifts its liked images for a later query with similar words and candidate.
        like_text_min: least text-feature similarity of a query's words to a liked query's words.
        like_candidate_min: least embedding similarity of a query's candidate to a liked query's (unless equal).
        user_like_boost: how much a per-user like lifts that shopper's results similar to the liked images.
        user_fact_boost: lift (or drop) in a shopper's modify results of images their pending metadata
            says have (or no longer have) an asked-for attribute.
        reembed_tol: relative tolerance of the incremental re-embedding after an edit (None: the model's
            default; 0: exactly a full forward pass).
        tagger_dir: Flair metadata tagger folder (None: ``MODEL/tagger`` or ``MODEL/../tagger`` if present,
            else the taxonomy's phrases alone).
        tagger_min_score: least tagger confidence of a span the taxonomy does not confirm.
        log_url: the interaction log (None: ``sqlite:///MODEL/interactions.db``, created on first interaction).
        trusted: senders (staff) whose metadata applies to everyone at once; others' is pending.
        overfetch: results fetched per requested one when per-user adjustments re-rank them.
        tier_index_min: search tiers larger than this are ranked through the index first.
        one_photo_per_product: show a product once (its best photo); excluding or picking a photo
            excludes its product's other photos too.
        explain: attach explanations to results.
        require_known_word: refuse (InvalidQueryError) words with no known word at all ("asdkjh qwe",
            :mod:`retrieval.catalog.wording`) instead of answering noise with arbitrary products.
        text_runtime: "onnx" (the query words through an ONNX export of the text encoder, the same vector
            ~3x faster; exported once into ``MODEL/query_encoder``) or "torch".
    """

    index: IndexConfig = field(default_factory=IndexConfig)
    hnsw_above: int = 50_000
    max_k: int = 1000
    max_text_chars: int = 1000
    text_cache_size: int = 4096
    soft_attributes: int = 3
    prototype_images: int = 512
    category_weight: float = 1.5
    dislike_penalty: float = 0.3
    like_scope: str = "global"
    like_boost: float = 0.25
    like_text_min: float = 0.75
    like_candidate_min: float = 0.9
    user_like_boost: float = 0.1
    user_fact_boost: float = 0.2
    reembed_tol: float | None = None
    tagger_dir: str | None = None
    tagger_min_score: float = 0.4
    log_url: str | None = None
    trusted: tuple[str, ...] = ()
    overfetch: int = 3
    tier_index_min: int = 5000
    one_photo_per_product: bool = True
    explain: bool = True
    text_runtime: str = "onnx"
    require_known_word: bool = True

    def __post_init__(self) -> None:
        if self.like_scope not in LIKE_SCOPES:
            raise ConfigError(
                f"EngineConfig.like_scope {self.like_scope!r} is unknown.", fix=f"use one of {', '.join(LIKE_SCOPES)}"
            )
        if self.text_runtime not in TEXT_RUNTIMES:
            raise ConfigError(
                f"EngineConfig.text_runtime {self.text_runtime!r} is unknown.",
                fix=f"use one of {', '.join(TEXT_RUNTIMES)}",
            )
        if isinstance(self.trusted, str):
            raise ConfigError("EngineConfig.trusted must be a list of sender ids.", fix='write ["staff-anna"]')
        object.__setattr__(self, "trusted", tuple(self.trusted))

    def index_for(self, n_images: int) -> IndexConfig:
        """The index configuration for a catalog of ``n_images`` (HNSW above ``hnsw_above``)."""
        if self.index.kind == "flat" and self.hnsw_above and n_images > self.hnsw_above:
            return dataclasses.replace(self.index, kind="hnsw")
        return self.index


@dataclass
class Items:
    """Catalog fields of each image node (position = image node id)."""

    image_ids: list[str]
    product_ids: list[str]
    captions: list[str]
    categories: list[str]
    paths: list[str]

    @classmethod
    def from_catalog(cls, catalog, image_ids: list[str]) -> Items:
        """Fields of ``image_ids`` (graph order) looked up in ``catalog``."""
        missing = [i for i in image_ids if i not in catalog]
        if missing:
            raise DatasetError(
                f"{len(missing)} image ids of the model are not in the catalog (e.g. {missing[:3]}).",
                path=str(catalog.root),
                fix="re-train the model on the current catalog",
            )
        recs = [catalog.image(i) for i in image_ids]
        return cls(
            list(image_ids),
            [r.product_id for r in recs],
            [r.caption for r in recs],
            [r.category for r in recs],
            [r.path for r in recs],
        )


class Engine(InteractionsMixin, RankingMixin, QueryTextMixin):
    """Graph retrieval behind :class:`retrieval.api.EngineAPI`.

    Args:
        model: a :class:`retrieval.training.artifacts.TrainedModel` (query embedding; its graph and states).
        items: catalog fields per image node.
        facts: graph adjacency for explanations and text search.
        index: vector index over image node embeddings (ids = image node ids).
        cfg: answering settings.
        embeddings: image node embeddings aligned with ``index`` (default: the model's).
        log: the interaction log (default: ``cfg.log_url``; see :mod:`retrieval.interactions.service`).
    """

    def __init__(
        self,
        model,
        items: Items,
        facts: GraphFacts,
        index,
        cfg: EngineConfig | None = None,
        *,
        embeddings: np.ndarray | None = None,
        log: InteractionLog | None = None,
    ) -> None:
        self.model = model
        self.items = items
        self.facts = facts
        self.index = index
        self.cfg = cfg or EngineConfig()
        self.explainer = Explainer(facts)
        self.taxonomy = model.taxonomy
        self.users: dict[str, UserState] = {}
        self._lock = threading.RLock()
        self._text_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_encoder = None
        self._lexicon = None
        self._node_of = {name: i for i, name in enumerate(items.image_ids)}
        self._emb = np.asarray(model.image_embeddings() if embeddings is None else embeddings, dtype=np.float32)
        self._attr_feats: np.ndarray | None = None
        self._init_products()
        self._blas = blas_controller()
        self._uncased = model.cfg.features.text_encoder.lower() in (
            "all-minilm-l6-v2",
            "sentence-transformers/all-minilm-l6-v2",
        )
        if self.cfg.reembed_tol is not None:
            model.reembed_tol = float(self.cfg.reembed_tol)
        self._init_interactions(log)

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
        from retrieval.training.artifacts import load_model

        model_dir = Path(model_dir)
        model = load_model(model_dir)
        if cfg is None:
            path = model_dir / ENGINE_CONFIG_FILE
            cfg = load_config(EngineConfig, path) if path.is_file() else EngineConfig()
        if index_kind is not None:
            cfg = dataclasses.replace(cfg, index=dataclasses.replace(cfg.index, kind=index_kind))
        items = Items.from_catalog(model.catalog, model.ids.images)
        facts = GraphFacts.from_graph(model.graph, model.ids, model.taxonomy)
        emb = model.image_embeddings()
        index = None
        if index_dir is not None and Path(index_dir).is_dir():
            index = VectorIndex.load(index_dir)
            if len(index) != len(emb) or index.dim != emb.shape[1]:
                logger.warning(
                    "saved index %s does not match the model (%d vectors); rebuilding", index_dir, len(index)
                )
                index = None
        if index is None:
            index = VectorIndex(emb.shape[1], cfg.index if index_kind else cfg.index_for(len(emb)))
            index.add(np.arange(len(emb), dtype=np.int64), emb)
        logger.info("engine: %d images, %s index, %d attribute nodes", len(emb), index.kind, len(facts.attr_keys))
        engine = cls(model, items, facts, index, cfg, log=log)
        if replay:
            engine.replay()
        return engine

    def save_index(self, directory: str | Path) -> Path:
        """Write the vector index (``Engine.load(..., index_dir=directory)`` reads it back)."""
        with self._lock:
            return self.index.save(directory)

    # -- validation ----------------------------------------------------------------------
    def node(self, image_id: str) -> int:
        """Image node id of ``image_id`` (UnknownItemError if the catalog has no such photo)."""
        node = self._node_of.get(image_id) if isinstance(image_id, str) else None
        if node is None:
            raise UnknownItemError(
                f"No product photo has id {image_id!r}.",
                fix="use an image_id from a previous result (or `tailor catalog check` the catalog)",
            )
        return node

    def _check_text(self, text: Any) -> str:
        if not isinstance(text, str) or not text.strip():
            raise InvalidQueryError(
                "The query text is empty.",
                fix='say what you want, e.g. "red summer dresses" or "like this but in black"',
            )
        if len(text) > self.cfg.max_text_chars:
            raise InvalidQueryError(
                f"The query text has {len(text)} characters; the limit is {self.cfg.max_text_chars}.",
                fix="shorten it to a sentence or two",
            )
        if self.cfg.require_known_word and not self.lexicon.known(text):
            raise InvalidQueryError(
                f"I don't recognise any word in {text.strip()[:60]!r}.",
                fix='describe the product in words, e.g. "a red summer dress" or "make it black"',
            )
        return text.strip()

    def _check_k(self, k: Any) -> int:
        if isinstance(k, bool) or not isinstance(k, int | np.integer):
            raise InvalidQueryError(f"k must be a whole number of results, got {k!r}.", fix="pass k >= 1, e.g. 10")
        if k <= 0:
            raise InvalidQueryError(f"k={k} asks for no results.", fix="ask for at least one result (k >= 1)")
        if k > self.cfg.max_k:
            raise InvalidQueryError(
                f"k={k} is more than the {self.cfg.max_k} results one query may return.",
                fix=f"ask for at most {self.cfg.max_k}; page on by passing shown ids as exclude",
            )
        return int(k)

    def _skip(self, exclude: Iterable[str], user: str | None, candidate: int | None = None) -> set[int]:
        """Nodes never returned: excluded ids, the user's hidden ones, the candidate (and their products' photos)."""
        if isinstance(exclude, str):
            exclude = (exclude,)
        skip = {self._node_of[i] for i in exclude if i in self._node_of}
        state = self.users.get(user) if user else None
        if state:
            skip |= state.hidden
        if candidate is not None:
            skip.add(candidate)
        return self._with_products(skip)

    def asked(self, text: str, mentioned: list[int]) -> list[int]:
        """The mentioned attribute nodes the words ask for (not those they drop: "instead of red")."""
        drop = unwanted_keys(text, self.taxonomy)
        return [a for a in mentioned if self.facts.attr_keys[a] not in drop] if drop else mentioned

    def mentions(self, text: str, user: str | None = None) -> list[int]:
        """Attribute nodes the words mention (the rule the graph was built with, plus attributes that
        interactions added: everyone's, and ``user``'s pending ones)."""
        found = self.model.mentions(text)
        extra = self._new_mentions(text, user)
        return found + [a for a in extra if a not in found] if extra else found

    def query_vector(self, candidate: int, text: str, mentioned: list[int]) -> np.ndarray:
        """Normalised query vector: the words as a sink caption node, composed with the candidate."""
        cap = self.model.embed_new_caption(self.text_feature(text), candidate, mentioned)
        return self.model.compose(candidate, cap)

    # -- results -------------------------------------------------------------------------
    def _results(
        self, nodes, scores, candidate: int | None, mentioned: list[int], explainer: Explainer | None = None
    ) -> list[Result]:
        it = self.items
        nodes = [int(n) for n in nodes]
        exps = (
            (explainer or self.explainer).explain_many(candidate, mentioned, nodes)
            if self.cfg.explain
            else [Explanation()] * len(nodes)
        )
        return [
            Result(it.image_ids[n], it.product_ids[n], float(s), it.captions[n], it.categories[n], it.paths[n], e)
            for n, s, e in zip(nodes, scores, exps, strict=True)
        ]

    # -- EngineAPI -----------------------------------------------------------------------
    def modify(
        self, candidate_id: str, text: str, k: int = 10, exclude: tuple[str, ...] = (), *, user: str | None = None
    ) -> list[Result]:
        """Products like ``candidate_id`` with the modification ``text``, best first (candidate excluded)."""
        with self._lock, one_thread(self._blas):
            cand = self.node(candidate_id)
            text, k = self._check_text(text), self._check_k(k)
            mentioned = self.mentions(text, user)
            q = self.query_vector(cand, text, mentioned)
            asked = self.asked(text, mentioned)
            boost = self._boosts(cand, text, asked, user)
            skip = self._skip(exclude, user, cand)
            step = request_step(self)  # the EI tree honoured: retrieval/engine/request.py
            req = step.request(cand, text)
            ranked = None
            if req is None:
                scores, ids = self._knn(q, k, skip, user, boost=boost)
            else:
                ranked = step.answer(req, q, k, skip, lambda n: self._knn(q, n, skip, user, boost=boost))
                scores, ids = [s for s, _ in ranked], [n for _, n in ranked]
            explainer = self._explainer_for(user)
            return with_unmet(self._results(ids, scores, cand, asked, explainer), ranked)

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
            text, k = self._check_text(text), self._check_k(k)
            allowed = self.filter_nodes(filters, user=user) if filters else None
            asked = self.asked(text, self.mentions(text, user))
            boost = self._boosts(None, text, asked, user)
            scores, ids = self._text_search(
                text, asked, k, self._skip(exclude, user), allowed, user, boost, self._facts_for(user)
            )
            explainer = self._explainer_for(user)
            return self._results(ids, scores, None, asked, explainer)

    def explain(self, candidate_id: str | None, text: str, result_id: str, *, user: str | None = None) -> Explanation:
        """Graph explanation of ``result_id`` for the query (``candidate_id`` None: a first search), as
        ``user`` sees the graph (their pending statements included: "(as you told me)")."""
        with self._lock, one_thread(self._blas):
            cand = self.node(candidate_id) if candidate_id is not None else None
            node = self.node(result_id)
            text = self._check_text(text)
            return self._explainer_for(user).explain(cand, self.asked(text, self.mentions(text, user)), node)

    def describe(self, image_id: str, *, user: str | None = None) -> Result:
        """The product behind ``image_id``: its attributes as ``explanation.shared``, EI-tree concepts, edges
        (``user``'s pending statements included)."""
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
                self._explainer_for(user).describe(node),
            )
