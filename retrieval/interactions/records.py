"""Records of the interaction log: its configuration, one row as seen now, and payload validation.

:mod:`retrieval.interactions.log` stores them; this module holds what callers need to check an
interaction before anything is written (limits, kinds, scopes) and the ``sqlite:///`` URL rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.errors import ConfigError, InteractionError

KINDS = ("metadata", "like", "dislike")
CONTROL_KINDS = ("undo", "accept")
SCOPES = ("global", "user")  # what a caller may ask for; "pending" is decided by the log
GLOBAL, USER, PENDING = "global", "user", "pending"
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "metadata": ("image_id", "statement"),
    "like": ("liked_ids",),
    "dislike": ("image_id",),
}
MAX_TEXT_CHARS = 1000  # longest string anywhere in a payload ("that shirt is linen" is 19)
MAX_PAYLOAD_BYTES = 16_384  # the whole payload as JSON
MAX_USER_CHARS = 200
SCHEMA_VERSION = 1
URL_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class LogConfig:
    """Where the log lives and who may change global metadata.

    Attributes:
        url: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy style: one
            machine), or ``postgresql://user@host:port/db`` (a log shared by several action servers).
        trusted_senders: user ids allowed to write global metadata and accept pending statements.
    """

    url: str = "sqlite:///interactions.db"
    trusted_senders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not is_postgres(self.url):
            sqlite_path(self.url)  # validates the scheme
        if isinstance(self.trusted_senders, str) or not all(isinstance(s, str) for s in self.trusted_senders):
            raise ConfigError(
                f"trusted_senders must be a list of user ids, got {self.trusted_senders!r}.",
                fix='write e.g. "trusted_senders": ["staff-anna", "staff-ben"]',
            )
        object.__setattr__(self, "trusted_senders", tuple(self.trusted_senders))

    @property
    def path(self) -> Path:
        """The SQLite file the URL names."""
        return Path(sqlite_path(self.url))


def is_postgres(url: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL: the log lives in PostgreSQL."""
    return isinstance(url, str) and url.startswith(POSTGRES_PREFIXES)


def sqlite_path(url: str) -> str:
    """Return the file path of a ``sqlite:///`` URL; any other scheme is a :class:`ConfigError`."""
    if not isinstance(url, str) or not url.startswith(URL_PREFIX) or len(url) == len(URL_PREFIX):
        scheme = url.split("://", 1)[0] if isinstance(url, str) and "://" in url else None
        what = f"scheme {scheme!r} is not supported" if scheme else "it is not a sqlite:/// URL"
        raise ConfigError(
            f"Interaction log URL {url!r}: {what}.",
            fix="use sqlite:///relative/file.db, sqlite:////absolute/file.db or postgresql://user@host:port/db",
        )
    return url[len(URL_PREFIX) :]


def as_url(url_or_path: str | Path) -> str:
    """Accept a ``sqlite:///`` URL or a plain file path (the CLI's ``--log``) and return a URL."""
    text = str(url_or_path)
    if "://" in text:
        return text
    return URL_PREFIX + text


@dataclass(frozen=True)
class Interaction:
    """One row of the log as seen now.

    Attributes:
        id: stable id (never reused); consumers track applied ids with it.
        ts: UNIX time of the append.
        kind: ``metadata`` | ``like`` | ``dislike`` (or ``undo`` / ``accept`` for control rows).
        user: who made it.
        scope: effective scope: ``global``, ``user`` or ``pending`` (``global`` once accepted).
        payload: what the caller stored (image ids, statement, extracted attributes...).
        target: for control rows, the id of the interaction acted on.
        undone_by: id of the undo row that cancelled this interaction, if any.
        accepted_by: the staff user who accepted this pending statement, if any.
    """

    id: int
    ts: float
    kind: str
    user: str
    scope: str
    payload: dict[str, Any] = field(hash=False)
    target: int | None = None
    undone_by: int | None = None
    accepted_by: str | None = None

    @property
    def active(self) -> bool:
        """True for a metadata / like / dislike row that has not been undone."""
        return self.kind in KINDS and self.undone_by is None

    @property
    def key(self) -> str:
        """``id@scope``: changes when a pending statement is accepted, so a consumer that tracks
        applied keys re-applies it once in the global scope and never twice otherwise.
        """
        return f"{self.id}@{self.scope}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (one line of an export)."""
        return {
            "id": self.id,
            "ts": self.ts,
            "kind": self.kind,
            "user": self.user,
            "scope": self.scope,
            "payload": self.payload,
            "target": self.target,
            "undone_by": self.undone_by,
            "accepted_by": self.accepted_by,
        }


def validate(kind: str, user: str, payload: Any, scope: str) -> str:
    """Check an interaction before anything is written; returns the payload as JSON.

    Raises:
        InteractionError: with a fix hint, for an unknown kind / scope, a missing user, a payload
            that is not a JSON object, lacks a required key, or holds text that is too long.
    """
    if kind not in KINDS:
        raise InteractionError(f"Unknown interaction kind {kind!r}.", fix=f"use one of {', '.join(KINDS)}")
    if scope not in SCOPES:
        raise InteractionError(f"Unknown scope {scope!r}.", fix=f"use one of {', '.join(SCOPES)}")
    if not isinstance(user, str) or not user.strip() or len(user) > MAX_USER_CHARS:
        raise InteractionError(
            f"Bad user id {str(user)[:40]!r}.", fix=f"pass a non-empty user id of at most {MAX_USER_CHARS} characters"
        )
    if not isinstance(payload, dict):
        raise InteractionError(f"Payload must be a dict, got {type(payload).__name__}.", fix="pass a JSON object")
    missing = [k for k in REQUIRED_KEYS[kind] if k not in payload]
    if missing:
        raise InteractionError(
            f"A {kind} interaction needs {', '.join(missing)} in its payload.",
            fix=f"pass a payload with keys {', '.join(REQUIRED_KEYS[kind])}",
        )
    _check_texts(payload, kind)
    try:
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InteractionError(f"Payload is not JSON-serialisable: {err}.", fix="pass strings, numbers, lists") from err
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise InteractionError(
            f"Payload is {len(text.encode())} bytes, more than {MAX_PAYLOAD_BYTES}.", fix="send a shorter statement"
        )
    if kind == "metadata" and not str(payload["statement"]).strip():
        raise InteractionError("The metadata statement is empty.", fix='say what the product is, e.g. "it is linen"')
    return text


def _check_texts(value: Any, kind: str) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise InteractionError(
                f"A {kind} text of {len(value)} characters is too long (at most {MAX_TEXT_CHARS}).",
                fix='say it in one short sentence, e.g. "that shirt is linen"',
            )
    elif isinstance(value, dict):
        for v in value.values():
            _check_texts(v, kind)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_texts(v, kind)
