"""From words to shown results: :class:`Answerer`, the engine part every query goes through.

It validates the words, reads which attribute nodes they mention and ask for (dropping those the words
negate: "instead of red"), builds the modification's query vector, owns the EI-tree step of ``modify``
(:mod:`retrieval.engine.request`, remade when the graph state's embeddings or facts are replaced) and
turns ranked nodes into :class:`~retrieval.api.Result` rows with their graph explanations. It reads the
current :class:`~retrieval.index.state.GraphState` from the interaction service on every call (a global
undo replaces it) and writes no state but its own step cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from retrieval.api import Explanation, Result
from retrieval.catalog.negation import unwanted_keys
from retrieval.engine.checks import check_k, check_text
from retrieval.engine.config import EngineConfig
from retrieval.engine.query_text import QueryText
from retrieval.engine.ranking import Ranker
from retrieval.engine.request import Evidence, RequestStep
from retrieval.engine.why import model_explanation
from retrieval.graph.explain import Explainer
from retrieval.index.state import GraphState
from retrieval.interactions.service import InteractionService


class Answerer:
    """Query text -> mentions, query vector, EI-tree request step and explained results (see module doc).

    Args:
        cfg: the engine's settings.
        text: the query-text part (features, lexicon).
        interactions: the interaction service (current graph state, per-shopper overlays).
    """

    def __init__(self, cfg: EngineConfig, text: QueryText, interactions: InteractionService) -> None:
        self.cfg = cfg
        self.text = text
        self.interactions = interactions
        self.ranker = Ranker(cfg, text.text_feature)
        self._step: RequestStep | None = None

    # -- validation ----------------------------------------------------------------------
    def check_text(self, text: Any) -> str:
        """``text`` stripped, or InvalidQueryError (empty, too long, or no known word when required)."""
        lexicon = self.text.lexicon if self.cfg.require_known_word else None
        return check_text(text, max_chars=self.cfg.max_text_chars, lexicon=lexicon)

    def check_k(self, k: Any) -> int:
        """``k`` as an int in 1..max_k, or InvalidQueryError."""
        return check_k(k, self.cfg.max_k)

    def skip(self, g: GraphState, exclude: Iterable[str], user: str | None, candidate: int | None = None) -> set[int]:
        """Nodes never returned: excluded ids, the user's hidden ones, the candidate (and their products' photos)."""
        if isinstance(exclude, str):
            exclude = (exclude,)
        skip = g.nodes_of(exclude)
        state = self.interactions.user_state(user)
        if state:
            skip |= state.hidden
        if candidate is not None:
            skip.add(candidate)
        return self.ranker.with_products(g, skip)

    # -- the words -----------------------------------------------------------------------
    def asked(self, text: str, mentioned: list[int]) -> list[int]:
        """The mentioned attribute nodes the words ask for (not those they drop: "instead of red")."""
        g = self.interactions.graph
        drop = unwanted_keys(text, g.taxonomy)
        keys = g.facts.attr_keys
        return [a for a in mentioned if keys[a] not in drop] if drop else mentioned

    def mentions(self, text: str, user: str | None = None) -> list[int]:
        """Attribute nodes the words mention (the rule the graph was built with, plus attributes that
        interactions added: everyone's, and ``user``'s pending ones).
        """
        found: list[int] = self.interactions.graph.model.mentions(text)
        extra = self.interactions.new_mentions(text, user)
        return found + [a for a in extra if a not in found] if extra else found

    def query_vector(self, candidate: int, text: str, mentioned: list[int]) -> np.ndarray:
        """Normalised query vector: the words as a sink caption node, composed with the candidate."""
        model = self.interactions.graph.model
        cap = model.embed_new_caption(self.text.text_feature(text), candidate, mentioned)
        vector: np.ndarray = model.compose(candidate, cap)
        return vector

    def filter_nodes(self, filters: dict[str, Any], *, user: str | None = None) -> np.ndarray:
        """Image nodes passing ``filters`` (group -> value or list of values; AND over groups, OR within)."""
        return self.ranker.filter_nodes(self.interactions.graph, filters, self.interactions.facts_for(user))

    def request_step(self, g: GraphState) -> RequestStep:
        """The EI-tree step (:mod:`retrieval.engine.request`), remade when the graph state is replaced.

        An interaction replaces only the embeddings: they are swapped in, the evidence kept (it follows the
        facts' edits by their version; remaking it reads every caption again).
        """
        step, it = self._step, g.items
        if step is None or step.ranker.evidence.facts is not g.facts or step.products is not it.product_ids:
            evidence = Evidence(g.facts, it.categories, it.captions, g.taxonomy)
            step = self._step = RequestStep(evidence, g.embeddings, it.product_ids, g.taxonomy)
        elif step.emb is not g.embeddings:
            step.emb = g.embeddings
        return step

    def weighed(
        self, base: Explanation, result: int, candidate: int | None, text: str, mentioned: list[int], facts: Any
    ) -> Explanation:
        """``base`` with its edges weighted by the model and its words ordered by them (:mod:`retrieval.engine.why`)."""
        g = self.interactions.graph
        vector = None
        if candidate is None:  # a first search: the tier of the asked values the result has, else the soft query
            asked = [a for a in self.asked(text, mentioned) if g.facts.attr_keys[a] in set(base.matched)]
            nodes = np.arange(len(g.items.image_ids))
            for a in asked:
                nodes = np.intersect1d(nodes, g.facts.images_with(a), assume_unique=True)
            vector = self.ranker.centroid(g, nodes) if asked and len(nodes) else self.ranker.soft_query(g, text)
        return model_explanation(
            g,
            facts,
            base,
            result=result,
            candidate=candidate,
            text=text,
            text_feature=self.text.text_feature(text),
            mentioned=mentioned,
            search_vector=vector,
        )

    # -- results -------------------------------------------------------------------------
    def results(
        self,
        g: GraphState,
        nodes: Iterable[int],
        scores: Iterable[float],
        candidate: int | None,
        mentioned: list[int],
        explainer: Explainer,
    ) -> list[Result]:
        """Result rows for ``nodes`` (with ``scores``), each explained from the graph when ``cfg.explain``."""
        it = g.items
        nodes = [int(n) for n in nodes]
        exps = explainer.explain_many(candidate, mentioned, nodes) if self.cfg.explain else [Explanation()] * len(nodes)
        return [
            Result(it.image_ids[n], it.product_ids[n], float(s), it.captions[n], it.categories[n], it.paths[n], e)
            for n, s, e in zip(nodes, scores, exps, strict=True)
        ]
