"""Input limits checked before a message reaches Rasa's NLU: request size, message length, sender rate.

Rasa featurizes a message of any length, and its RegexFeaturizer's cost grows with the square of the
text (a 1 MB message stalled the server for everyone for half an hour), so every connector
(``bot/connectors``) asks this module first and answers the shopper itself when it says no.
Pure Python: no Rasa, no Sanic (the unit tests run without them).

Environment (read once, at the first use of :func:`default_gate`):
    TAILOR_MAX_MESSAGE_CHARS  longest message passed on to NLU, in characters (default 2000)
    TAILOR_MAX_BODY_BYTES     largest request body a channel reads (default 262144 = 256 KiB)
    TAILOR_MAX_SENDER_CHARS   longest sender id the REST channel accepts (default 256)
    TAILOR_RATE_PER_MIN       messages per minute a sender may send on average (default 60; 0 = no limit)
    TAILOR_RATE_BURST         messages a sender may send back to back before that rate applies (default 30)
"""

from __future__ import annotations

import enum
import functools
import json
import logging
import math
import os
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from retrieval.errors import ConfigError, TailorError

logger = logging.getLogger(__name__)

MAX_TRACKED_SENDERS = 50_000  # buckets kept in memory; the least recently seen sender is forgotten first


@dataclass(frozen=True)
class Limits:
    """The input limits of every channel (defaults: the module docstring)."""

    max_message_chars: int = 2000
    max_body_bytes: int = 256 * 1024
    max_sender_chars: int = 256
    rate_per_min: float = 60.0
    burst: int = 30

    def __post_init__(self) -> None:
        for name in ("max_message_chars", "max_body_bytes", "max_sender_chars", "burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"limit {name} is {getattr(self, name)}.", fix="use a whole number >= 1")
        if self.rate_per_min < 0:
            raise ConfigError(f"rate_per_min is {self.rate_per_min}.", fix="use a number >= 0 (0 turns it off)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        """Defaults overridden by the ``TAILOR_*`` variables of ``env`` (default ``os.environ``)."""
        env = os.environ if env is None else env
        fields: dict[str, Any] = {}
        for var, name, kind in (
            ("TAILOR_MAX_MESSAGE_CHARS", "max_message_chars", int),
            ("TAILOR_MAX_BODY_BYTES", "max_body_bytes", int),
            ("TAILOR_MAX_SENDER_CHARS", "max_sender_chars", int),
            ("TAILOR_RATE_PER_MIN", "rate_per_min", float),
            ("TAILOR_RATE_BURST", "burst", int),
        ):
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                fields[name] = kind(raw)
            except ValueError:
                raise ConfigError(f"{var}={raw!r} is not a number.", fix=f"set {var} to a number or unset it") from None
        return cls(**fields)


class RateLimiter:
    """Per-sender token buckets: ``burst`` messages at once, then ``rate_per_min`` per minute.

    Args:
        rate_per_min: tokens a bucket regains per minute; 0 turns the limiter off.
        burst: tokens a full bucket holds.
        max_senders: buckets kept; beyond it the least recently seen sender's bucket is dropped.
        clock: seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        rate_per_min: float,
        burst: int,
        max_senders: int = MAX_TRACKED_SENDERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate_per_min / 60.0
        self.burst = float(burst)
        self.max_senders = max_senders
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # sender -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, sender: str) -> float:
        """Spend one of ``sender``'s tokens: 0.0 if it had one, else the seconds until it has one."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(sender, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[sender] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_senders:
                self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


class Reason(enum.Enum):
    """Why a message was not passed on to NLU."""

    TOO_LONG = "too_long"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Rejection:
    """A message the channel answers itself: ``text`` is the clear answer to send back."""

    reason: Reason
    text: str
    retry_after: float = 0.0


#: Invisible characters that would reach NLU and the engine as part of a word: control characters
#: (NUL ...) and invisible separators become a space; joiners and bidirectional controls go.
_AS_SPACE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029\u2060\ufeff]")
_REMOVED = re.compile("[\u200c\u200d\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_text(text: str) -> str:
    """The message as NLU should read it: NFC, control characters and zero-width spaces as spaces (so
    "red\u200bdress" is two words), joiners and bidirectional controls removed, ends stripped.
    """
    return _REMOVED.sub("", _AS_SPACE.sub(" ", unicodedata.normalize("NFC", text))).strip()


def too_long_text(chars: int, limit: int) -> str:
    """The answer to a message of ``chars`` characters when at most ``limit`` are read."""
    return f"That message is too long ({chars:,} characters); please keep it to {limit:,} characters or fewer."


def rate_limited_text(retry_after: float) -> str:
    """The answer to a sender who has to wait ``retry_after`` seconds."""
    seconds = max(1, math.ceil(retry_after))
    return f"You're sending messages faster than I can read them; please wait {seconds} s and try again."


class InputGate:
    """The limits plus the shared rate limiter: one :meth:`check` per incoming message.

    Args:
        limits: the caps to apply.
        clock: passed to the :class:`RateLimiter`.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.limiter = RateLimiter(limits.rate_per_min, limits.burst, clock=clock)

    def check(self, sender: str, text: str) -> Rejection | None:
        """None if ``text`` from ``sender`` may go on to NLU, else the :class:`Rejection` to answer with.

        Every message spends a rate token, rejected ones included, so a flood of long messages is
        limited too.
        """
        wait = self.limiter.take(sender)
        if wait > 0.0:
            logger.warning("rate limit: sender %.60r must wait %.1f s", sender, wait)
            return Rejection(Reason.RATE_LIMITED, rate_limited_text(wait), wait)
        if len(text) > self.limits.max_message_chars:
            logger.warning("message of %d characters from sender %.60r not read (too long)", len(text), sender)
            return Rejection(Reason.TOO_LONG, too_long_text(len(text), self.limits.max_message_chars))
        return None

    def body_too_large(self, size: int) -> bool:
        """True if a request body of ``size`` bytes is over the cap (the channel answers 413)."""
        return size > self.limits.max_body_bytes


@functools.cache
def default_gate() -> InputGate:
    """The process-wide gate, built from the environment at its first use (shared by all channels)."""
    limits = Limits.from_env()
    logger.info("input limits: %s", limits)
    return InputGate(limits)


def check(sender: str, text: str) -> Rejection | None:
    """:meth:`InputGate.check` of the process-wide :func:`default_gate`."""
    return default_gate().check(sender, text)


# -- the REST body: {"sender": str, "message": str, "metadata"?: object, "input_channel"?: str} -----
class MalformedRequestError(TailorError):
    """A request body the channel refuses (``status`` 400 or 413) without reading the message."""

    def __init__(self, status: int, code: str, message: str, *, fix: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message, fix=fix)

    def as_json(self) -> dict[str, str]:
        """The JSON body of the error response: what is wrong and how to send it right."""
        return {"error": self.code, "reason": str(self)}


@dataclass(frozen=True)
class MessageBody:
    """A valid REST message body."""

    sender: str
    text: str
    metadata: dict[str, Any] | None = None
    input_channel: str | None = None


def body_too_large(size: int, limits: Limits) -> MalformedRequestError:
    """The 413 error for a request body of ``size`` bytes (any channel)."""
    return MalformedRequestError(
        413, "body_too_large", f"The request body is {size:,} bytes; at most {limits.max_body_bytes:,} are read.",
        fix=f"send a message of at most {limits.max_message_chars:,} characters",
    )  # fmt: skip


REST_FIX = 'POST a JSON object {"sender": "<id>", "message": "<text>"}'


def parse_message_body(body: bytes, limits: Limits) -> MessageBody:
    """Validate a REST body; raise :class:`MalformedRequestError` saying what is wrong.

    The size is checked before anything is parsed. ``text`` is the message as sent (the gate counts
    its characters); the channel cleans it (:func:`clean_text`) before NLU.
    """
    if len(body) > limits.max_body_bytes:
        raise body_too_large(len(body), limits)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedRequestError(400, "invalid_json", f"The body is not valid JSON ({err}).", fix=REST_FIX) from None
    if not isinstance(data, dict):
        raise MalformedRequestError(400, "not_an_object", f"The body is a JSON {type(data).__name__}.", fix=REST_FIX)
    sender, text = data.get("sender"), data.get("message")
    if not isinstance(sender, str) or not sender:
        raise MalformedRequestError(400, "bad_sender", "'sender' is missing or not a non-empty string.", fix=REST_FIX)
    if len(sender) > limits.max_sender_chars:
        raise MalformedRequestError(
            400, "bad_sender", f"'sender' is {len(sender):,} characters long.",
            fix=f"use a sender id of at most {limits.max_sender_chars} characters",
        )  # fmt: skip
    if not isinstance(text, str):
        raise MalformedRequestError(400, "bad_message", "'message' is missing or not a string.", fix=REST_FIX)
    metadata, channel = data.get("metadata"), data.get("input_channel")
    if metadata is not None and not isinstance(metadata, dict):
        raise MalformedRequestError(
            400, "bad_metadata", "'metadata' is not a JSON object.", fix="send an object or omit it"
        )
    if channel is not None and not isinstance(channel, str):
        raise MalformedRequestError(400, "bad_input_channel", "'input_channel' is not a string.", fix="omit it")
    return MessageBody(sender, text, metadata, channel)
