"""Validating an interaction's input before anything is logged: user ids, words, liked photos.

Every check raises :class:`~retrieval.errors.InteractionError` (with a fix the shopper can follow)
and returns the cleaned value; the service runs them, and the catalog lookups, before it writes a
row (validate -> log -> apply).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from retrieval.errors import InteractionError
from retrieval.interactions import log as ilog

MAX_LIKED = 50


def check_user(user: Any) -> str:
    """``user`` when it is a usable sender id.

    Raises:
        InteractionError: not a string, blank, or longer than :data:`retrieval.interactions.log.MAX_USER_CHARS`.
    """
    if not isinstance(user, str) or not user.strip() or len(user) > ilog.MAX_USER_CHARS:
        raise InteractionError(
            f"Bad user id {str(user)[:40]!r}.",
            fix=f"pass the shopper's sender id (1..{ilog.MAX_USER_CHARS} characters)",
        )
    return user


def check_words(text: Any, what: str, *, required: bool, max_chars: int) -> str:
    """``text`` with its whitespace collapsed ("" for None when not ``required``).

    Raises:
        InteractionError: not a string, empty when ``required``, or longer than ``max_chars``.
    """
    if text is None and not required:
        return ""
    if not isinstance(text, str) or (required and not text.strip()):
        raise InteractionError(f"The {what} is empty.", fix='say what the product is, e.g. "that shirt is linen"')
    if len(text) > max_chars:
        raise InteractionError(
            f"The {what} has {len(text)} characters; the limit is {max_chars}.",
            fix='state one fact in a short sentence, e.g. "that shirt is linen"',
        )
    return " ".join(text.split())


def check_found(found: Sequence[object], statement: str) -> None:
    """Raise when a metadata statement named no attribute.

    Raises:
        InteractionError: ``found`` is empty.
    """
    if not found:
        short = statement if len(statement) <= 60 else statement[:57] + "..."
        raise InteractionError(
            f'Found no product detail to record in "{short}".',
            fix='name the detail, e.g. "that shirt is linen" or "it has long sleeves"',
        )


def liked_photos(liked_ids: Any, candidate_id: str | None, node: Callable[[str], object]) -> list[str]:
    """The distinct liked ids other than the candidate, each checked with ``node`` (the catalog lookup).

    Raises:
        UnknownItemError: ``node`` does not know a liked id.
        InteractionError: not a list of ids, or none (or more than :data:`MAX_LIKED`) besides the candidate.
    """
    if isinstance(liked_ids, str) or not isinstance(liked_ids, list | tuple):
        raise InteractionError(
            f"liked_ids must be a list of image ids, got {type(liked_ids).__name__}.",
            fix='pass e.g. ["women/dresses/dress/123/123_0.jpeg"]',
        )
    for i in liked_ids:
        node(i)
    liked = [i for i in dict.fromkeys(liked_ids) if i != candidate_id]
    if not liked or len(liked) > MAX_LIKED:
        raise InteractionError(
            f"A like needs 1..{MAX_LIKED} liked photos other than the pick; got {len(liked)}.",
            fix="say which results you like, e.g. the first and third",
        )
    return liked
