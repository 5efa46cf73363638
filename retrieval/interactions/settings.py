"""The engine settings the interaction service reads, and the like scopes it accepts.

:class:`InteractionSettings` is a read-only view that :class:`retrieval.engine.config.EngineConfig`
satisfies, so this package needs nothing from :mod:`retrieval.engine`.
"""

from __future__ import annotations

from typing import Protocol

from retrieval.errors import InteractionError

LIKE_SCOPES = ("global", "user")


class InteractionSettings(Protocol):
    """The settings the service reads, read-only (:class:`retrieval.engine.config.EngineConfig` has them)."""

    @property
    def like_scope(self) -> str:
        """``EngineConfig.like_scope``."""
        ...

    @property
    def max_text_chars(self) -> int:
        """``EngineConfig.max_text_chars``."""
        ...

    @property
    def log_url(self) -> str | None:
        """``EngineConfig.log_url``."""
        ...

    @property
    def trusted(self) -> tuple[str, ...]:
        """``EngineConfig.trusted``."""
        ...

    @property
    def tagger_dir(self) -> str | None:
        """``EngineConfig.tagger_dir``."""
        ...

    @property
    def tagger_min_score(self) -> float:
        """``EngineConfig.tagger_min_score``."""
        ...

    @property
    def like_boost(self) -> float:
        """``EngineConfig.like_boost``."""
        ...

    @property
    def like_text_min(self) -> float:
        """``EngineConfig.like_text_min``."""
        ...

    @property
    def like_candidate_min(self) -> float:
        """``EngineConfig.like_candidate_min``."""
        ...

    @property
    def user_fact_boost(self) -> float:
        """``EngineConfig.user_fact_boost``."""
        ...


def check_like_scope(scope: str) -> None:
    """Raise unless ``scope`` is one of :data:`LIKE_SCOPES`.

    Raises:
        InteractionError: an unknown ``EngineConfig.like_scope``.
    """
    if scope not in LIKE_SCOPES:
        raise InteractionError(
            f"EngineConfig.like_scope {scope!r} is unknown.",
            fix=f"use one of {', '.join(LIKE_SCOPES)}",
        )
