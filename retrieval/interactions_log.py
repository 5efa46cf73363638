"""The durable interaction log: every metadata statement, like and dislike, who made it, in order.

SQLite in WAL mode with ``synchronous=FULL``: :meth:`InteractionLog.append` returns an id only
after the row is committed, so an acknowledged interaction survives a crash (even SIGKILL or a
power cut). The log is append-only: ``undo`` and ``accept`` are rows of their own that point at
the interaction they act on, so replaying the log is deterministic.

Trust: configuration names the senders trusted to change global metadata (staff). A metadata
statement asked for in the ``global`` scope by anyone else is stored as ``pending``: it applies
to its author only, and is listed by :meth:`InteractionLog.pending` until a trusted sender
accepts it. Likes and dislikes keep the scope the caller asks for (the engine's configuration
decides between the paper's global form and the per-user one).

Concurrency: one writer process (with any number of threads) and any number of reader processes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from retrieval.errors import ConfigError, InteractionError, PermissionDeniedError

log = logging.getLogger(__name__)

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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    scope TEXT NOT NULL,
    payload TEXT NOT NULL,
    target INTEGER REFERENCES interactions(id)
);
CREATE INDEX IF NOT EXISTS interactions_target ON interactions(target);
CREATE INDEX IF NOT EXISTS interactions_user ON interactions(user);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class LogConfig:
    """Where the log lives and who may change global metadata.

    Attributes:
        url: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` (SQLAlchemy style).
        trusted_senders: user ids allowed to write global metadata and accept pending statements.
    """

    url: str = "sqlite:///interactions.db"
    trusted_senders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
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


def sqlite_path(url: str) -> str:
    """Return the file path of a ``sqlite:///`` URL; any other scheme is a :class:`ConfigError`."""
    if not isinstance(url, str) or not url.startswith(URL_PREFIX) or len(url) == len(URL_PREFIX):
        scheme = url.split("://", 1)[0] if isinstance(url, str) and "://" in url else None
        what = f"scheme {scheme!r} is not supported" if scheme else "it is not a sqlite:/// URL"
        raise ConfigError(
            f"Interaction log URL {url!r}: {what}.",
            fix="use sqlite:///relative/file.db or sqlite:////absolute/file.db (only SQLite is supported)",
        )
    return url[len(URL_PREFIX):]


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
        applied keys re-applies it once in the global scope and never twice otherwise."""
        return f"{self.id}@{self.scope}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (one line of an export)."""
        return {
            "id": self.id, "ts": self.ts, "kind": self.kind, "user": self.user, "scope": self.scope,
            "payload": self.payload, "target": self.target, "undone_by": self.undone_by,
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


class InteractionLog:
    """An append-only, crash-safe log of interactions in one SQLite file.

    Args:
        config: URL and trusted senders.
        readonly: open for reading only (a reader process next to the writer).
    """

    def __init__(self, config: LogConfig | None = None, *, readonly: bool = False) -> None:
        self.config = config or LogConfig()
        self.readonly = readonly
        self._lock = threading.Lock()
        path = sqlite_path(self.config.url)
        if path != ":memory:":
            p = Path(path)
            if readonly and not p.is_file():
                raise ConfigError(f"Interaction log {p} does not exist.", fix="check --log, or append to it first")
            p.parent.mkdir(parents=True, exist_ok=True)
        target = f"file:{path}?mode=ro" if readonly else path
        try:
            self._db = sqlite3.connect(
                target, uri=readonly, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA busy_timeout = 30000")
            if not readonly:
                mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal" and path != ":memory:":
                    log.warning("SQLite refused WAL mode for %s (got %s)", path, mode)
                self._db.execute("PRAGMA synchronous = FULL")
                self._db.executescript(_SCHEMA)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        except sqlite3.DatabaseError as err:
            raise ConfigError(
                f"Cannot open interaction log {path}: {err}.",
                fix="check the path is writable and is an SQLite file made by tailor",
            ) from err

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (everything acknowledged is already on disk)."""
        self._db.close()

    def __enter__(self) -> InteractionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_trusted(self, user: str) -> bool:
        """True when ``user`` may change global metadata."""
        return user in self.config.trusted_senders

    # -- writes ----------------------------------------------------------------------------
    def _write(self, kind: str, user: str, scope: str, payload_json: str, target: int | None) -> int:
        if self.readonly:
            raise ConfigError("This interaction log was opened read-only.", fix="open it with readonly=False")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT INTO interactions(ts, kind, user, scope, payload, target) VALUES (?, ?, ?, ?, ?, ?)",
                    (time.time(), kind, user, scope, payload_json, target),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return int(cur.lastrowid)

    def append(self, kind: str, user: str, payload: dict[str, Any], scope: str = GLOBAL) -> int:
        """Record an interaction and return its id once it is committed to disk.

        Args:
            kind: ``metadata``, ``like`` or ``dislike``.
            user: who made it.
            payload: JSON object; metadata needs ``image_id`` and ``statement``, like ``liked_ids``,
                dislike ``image_id``.
            scope: ``global`` or ``user``. Metadata asked for globally by an untrusted sender is
                stored as ``pending`` (see :meth:`effective_scope`).

        Raises:
            InteractionError: the input is malformed (nothing is written).
        """
        payload_json = validate(kind, user, payload, scope)
        return self._write(kind, user, self.effective_scope(kind, user, scope), payload_json, None)

    def effective_scope(self, kind: str, user: str, scope: str = GLOBAL) -> str:
        """The scope :meth:`append` will store for this request."""
        if kind == "metadata" and scope == GLOBAL and not self.is_trusted(user):
            return PENDING
        return scope

    def undo(self, interaction_id: int, by: str | None = None) -> int:
        """Cancel an interaction (recorded as an ``undo`` row); returns the undo row's id.

        Args:
            interaction_id: the interaction to cancel.
            by: who asks; ``None`` is the operator at the command line. A shopper may undo only
                their own interactions; trusted senders may undo anyone's.

        Raises:
            InteractionError: unknown id, a control row, or already undone.
            PermissionDeniedError: ``by`` is neither the author nor trusted.
        """
        row = self._active_row(interaction_id, "undo")
        if by is not None and by != row.user and not self.is_trusted(by):
            raise PermissionDeniedError(
                f"{by!r} cannot undo interaction {interaction_id} made by {row.user!r}.",
                fix="ask its author or a trusted staff member to undo it",
            )
        return self._write("undo", by or "operator", row.scope, "{}", interaction_id)

    def accept(self, interaction_id: int, staff_user: str) -> int:
        """A trusted sender accepts a pending metadata statement: it becomes global.

        Raises:
            PermissionDeniedError: ``staff_user`` is not in ``trusted_senders``.
            InteractionError: the id is unknown, undone, or not pending.
        """
        if not self.is_trusted(staff_user):
            raise PermissionDeniedError(
                f"{staff_user!r} is not a trusted sender and cannot accept metadata.",
                fix="ask a staff member listed in trusted_senders to accept it",
            )
        row = self._active_row(interaction_id, "accept")
        if row.scope != PENDING:
            raise InteractionError(
                f"Interaction {interaction_id} is {row.scope}, not pending.", fix="see `tailor interactions list`"
            )
        return self._write("accept", staff_user, GLOBAL, "{}", interaction_id)

    def _active_row(self, interaction_id: int, action: str) -> Interaction:
        row = self.get(interaction_id)
        if row.kind not in KINDS:
            raise InteractionError(
                f"Cannot {action} a {row.kind} row ({interaction_id}).", fix="pass a metadata / like / dislike id"
            )
        if row.undone_by is not None:
            raise InteractionError(
                f"Interaction {interaction_id} was already undone (by row {row.undone_by}).", fix="nothing to do"
            )
        return row

    # -- reads -----------------------------------------------------------------------------
    def _rows(self, where: str = "", params: tuple[Any, ...] = ()) -> list[Interaction]:
        with self._lock:
            rows = self._db.execute(
                "SELECT i.id, i.ts, i.kind, i.user, i.scope, i.payload, i.target,"
                " (SELECT MIN(u.id) FROM interactions u WHERE u.kind = 'undo' AND u.target = i.id),"
                " (SELECT a.user FROM interactions a WHERE a.kind = 'accept' AND a.target = i.id"
                "  ORDER BY a.id LIMIT 1)"
                f" FROM interactions i {where} ORDER BY i.id",
                params,
            ).fetchall()
        out = []
        for rid, ts, kind, user, scope, payload, target, undone_by, accepted_by in rows:
            if accepted_by is not None:
                scope = GLOBAL
            out.append(Interaction(rid, ts, kind, user, scope, json.loads(payload), target, undone_by, accepted_by))
        return out

    def get(self, interaction_id: int) -> Interaction:
        """One row by id.

        Raises:
            InteractionError: no such id.
        """
        try:
            rid = int(interaction_id)
        except (TypeError, ValueError) as err:
            raise InteractionError(f"Bad interaction id {interaction_id!r}.", fix="pass an integer id") from err
        rows = self._rows("WHERE i.id = ?", (rid,))
        if not rows:
            raise InteractionError(f"No interaction {rid} in the log.", fix="see `tailor interactions list`")
        return rows[0]

    def list(
        self,
        *,
        user: str | None = None,
        kind: str | None = None,
        scope: str | None = None,
        include_undone: bool = True,
        include_control: bool = False,
    ) -> list[Interaction]:
        """Rows in log order, filtered by author, kind and effective scope."""
        rows = self._rows()
        out = []
        for r in rows:
            if not include_control and r.kind not in KINDS:
                continue
            if user is not None and r.user != user:
                continue
            if kind is not None and r.kind != kind:
                continue
            if scope is not None and r.scope != scope:
                continue
            if not include_undone and r.undone_by is not None:
                continue
            out.append(r)
        return out

    def pending(self) -> list[Interaction]:
        """Untrusted metadata statements awaiting a staff member's acceptance."""
        return self.list(kind="metadata", scope=PENDING, include_undone=False)

    def replay(self, applied: Container[str] = frozenset()) -> Iterator[Interaction]:
        """Active interactions in log order with their effective scope, skipping applied keys.

        Idempotent: a consumer that adds each yielded :attr:`Interaction.key` to ``applied`` and
        passes it again gets nothing twice; an accepted statement comes back once, now global.
        """
        for row in self.list(include_undone=False):
            if row.key not in applied:
                yield row

    def export(self, out: str | Path | IO[str]) -> int:
        """Write every row (control rows included) as JSON Lines; returns the number of rows."""
        rows = self._rows()
        if isinstance(out, (str, Path)):
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            with open(out, "w", encoding="utf-8") as fh:
                return self._dump(rows, fh)
        return self._dump(rows, out)

    @staticmethod
    def _dump(rows: list[Interaction], fh: IO[str]) -> int:
        for r in rows:
            fh.write(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
        return len(rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM interactions").fetchone()[0])
