"""What applied interactions change in one query: new attribute mentions, score lifts, facts seen.

Read by the engine on every search and modify (through
:class:`~retrieval.interactions.service.InteractionService`), from one
:class:`~retrieval.interactions.apply.InteractionState`: the shared phrases and like memory, plus the
asking shopper's :class:`~retrieval.interactions.overlay.UserState` (their pending metadata and
per-user likes), which no other shopper's query reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from retrieval.catalog.taxonomy import normalise_text
from retrieval.graph.explain import Explainer
from retrieval.interactions.apply import InteractionState
from retrieval.interactions.settings import InteractionSettings


def new_mentions(state: InteractionState, text: str, user: str | None) -> list[int]:
    """Attribute nodes added by interactions whose names the words contain (the user's pending ones too)."""
    mine = state.user_state(user)
    tables = [t for t in (state.phrases, mine.phrases if mine else None) if t]
    if not tables:
        return []
    norm = normalise_text(text)
    return [
        a
        for t in tables
        for phrase, a in t.items()
        if re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", norm)
    ]


def boosts(
    state: InteractionState,
    candidate: int | None,
    text: str,
    asked: list[int],
    user: str | None,
    *,
    cfg: InteractionSettings,
    text_feature: Callable[[str], np.ndarray],
) -> dict[int, float] | None:
    """Per-node score lifts of one query: similar earlier likes, the user's pending metadata."""
    mine = state.user_state(user)
    out: dict[int, float] = {}
    books = [b for b in (state.likes, mine.likes if mine else None) if b]
    if books:
        feat = text_feature(text)
        for book in books:
            book.boosts(
                candidate,
                feat,
                state.graph.embeddings,
                weight=cfg.like_boost,
                text_min=cfg.like_text_min,
                candidate_min=cfg.like_candidate_min,
                out=out,
            )
    if mine and mine.has_facts:
        for a in asked:
            for n in mine.images_stated(a):
                out[n] = out.get(n, 0.0) + cfg.user_fact_boost
            for n in mine.images_denied(a):
                out[n] = out.get(n, 0.0) - cfg.user_fact_boost
    return out or None


def facts_for(state: InteractionState, user: str | None) -> Any:
    """The graph facts ``user`` sees (shared facts plus their pending overlay)."""
    mine = state.user_state(user)
    facts = state.graph.facts
    return mine.explainer(facts).facts if mine and mine.has_facts else facts


def explainer_for(state: InteractionState, user: str | None) -> Explainer:
    """The explainer of the graph as ``user`` sees it."""
    mine = state.user_state(user)
    g = state.graph
    return mine.explainer(g.facts) if mine and mine.has_facts else g.explainer
