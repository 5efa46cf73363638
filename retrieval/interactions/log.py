"""The durable interaction log: every metadata statement, like and dislike, who made it, in order.

One interface, two backends (chosen by the URL): SQLite in WAL mode with ``synchronous=FULL`` on one
machine (:class:`SqliteStore`, the default), PostgreSQL for several action servers sharing one log
(:class:`~retrieval.interactions.log_postgres.PostgresStore`: every append NOTIFYs the others, who
wait on :meth:`InteractionLog.wait`). :meth:`InteractionLog.append` returns an id only after the row
is committed, so an acknowledged interaction survives a crash (even SIGKILL or a power cut). The log
is append-only: ``undo`` and ``accept`` are rows of their own that point at the interaction they act
on, so replaying the log is deterministic.

Trust: configuration names the senders trusted to change global metadata (staff). A metadata
statement asked for in the ``global`` scope by anyone else is stored as ``pending``: it applies
to its author only, and is listed by :meth:`InteractionLog.pending` until a trusted sender
accepts it. Likes and dislikes keep the scope the caller asks for (the engine's configuration
decides between the paper's global form and the per-user one).

Concurrency: SQLite, one writer process (with any number of threads) and any number of reader
processes; PostgreSQL, any number of writers (ids may commit out of order: consumers track applied
keys, not a cursor).
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Container, Iterator
from pathlib import Path
from typing import IO, Any

from retrieval.errors import ConfigError, InteractionError, PermissionDeniedError
from retrieval.interactions.log_postgres import DRIVER_ERRORS, PostgresStore
from retrieval.interactions.records import (  # noqa: F401 - re-exported names of the log
    CONTROL_KINDS,
    GLOBAL,
    KINDS,
    MAX_PAYLOAD_BYTES,
    MAX_TEXT_CHARS,
    MAX_USER_CHARS,
    PENDING,
    REQUIRED_KEYS,
    SCHEMA_VERSION,
    SCOPES,
    URL_PREFIX,
    USER,
    Interaction,
    LogConfig,
    as_url,
    is_postgres,
    sqlite_path,
    validate,
)

#: what a failed write of either backend raises (the service turns them into an InteractionError)
STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, *DRIVER_ERRORS)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS interactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    "user" TEXT NOT NULL,
    scope TEXT NOT NULL,
    payload TEXT NOT NULL,
    target INTEGER REFERENCES interactions(id)
);
CREATE INDEX IF NOT EXISTS interactions_target ON interactions(target);
CREATE INDEX IF NOT EXISTS interactions_user ON interactions(user);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SqliteStore:
    """The rows of one SQLite file (WAL, ``synchronous=FULL``): the one-machine backend of the log.

    Args:
        url: a ``sqlite:///`` URL.
        readonly: open for reading only.
    """

    #: placeholder style of the SQL this store runs
    param = "?"

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        path = sqlite_path(url)
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

    def insert(self, row: tuple[float, str, str, str, str, int | None]) -> int:
        """Commit one row (ts, kind, user, scope, payload, target); returns its id."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cur = self._db.execute(
                'INSERT INTO interactions(ts, kind, "user", scope, payload, target) VALUES (?, ?, ?, ?, ?, ?)', row
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        assert cur.lastrowid is not None  # an INSERT always sets it
        return cur.lastrowid

    def select(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query."""
        return self._db.execute(sql, params).fetchall()

    def wait(self, timeout: float) -> None:
        """SQLite cannot notify: sleep ``timeout`` (a follower then compares :meth:`InteractionLog.version`)."""
        time.sleep(timeout)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def open_store(url: str, *, readonly: bool = False) -> Any:
    """The backend the URL names: :class:`SqliteStore`, or :class:`PostgresStore` for ``postgresql://``."""
    if is_postgres(url):
        return PostgresStore(url, readonly=readonly)
    return SqliteStore(url, readonly=readonly)


class InteractionLog:
    """An append-only, crash-safe log of interactions: one SQLite file, or PostgreSQL shared by replicas.

    Args:
        config: URL and trusted senders.
        readonly: open for reading only (a reader process next to the writer).
    """

    def __init__(self, config: LogConfig | None = None, *, readonly: bool = False) -> None:
        self.config = config or LogConfig()
        self.readonly = readonly
        self._lock = threading.Lock()
        self._store = open_store(self.config.url, readonly=readonly)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (everything acknowledged is already on disk)."""
        self._store.close()

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
            return int(self._store.insert((time.time(), kind, user, scope, payload_json, target)))

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
        """The scope :meth:`append` will store for this request: a shopper's global statement is pending
        until staff accept it; a staff member's per-user like counts for everyone.
        """
        if kind == "metadata" and scope == GLOBAL and not self.is_trusted(user):
            return PENDING
        if kind == "like" and scope == USER and self.is_trusted(user):
            return GLOBAL
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
                f"Interaction {interaction_id} is not one of yours.",
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
            rows = self._store.select(
                'SELECT i.id, i.ts, i.kind, i."user", i.scope, i.payload, i.target,'
                " (SELECT MIN(u.id) FROM interactions u WHERE u.kind = 'undo' AND u.target = i.id),"
                " (SELECT a.\"user\" FROM interactions a WHERE a.kind = 'accept' AND a.target = i.id"
                "  ORDER BY a.id LIMIT 1)"
                f" FROM interactions i {where} ORDER BY i.id",
                params,
            )
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
        rows = self._rows(f"WHERE i.id = {self._store.param}", (rid,))
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

    def pending(self) -> builtins.list[Interaction]:  # builtins: this class has a list() method
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
            with Path(out).open("w", encoding="utf-8") as fh:
                return self._dump(rows, fh)
        return self._dump(rows, out)

    @staticmethod
    def _dump(rows: builtins.list[Interaction], fh: IO[str]) -> int:
        for r in rows:
            fh.write(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
        return len(rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._store.select("SELECT COUNT(*) FROM interactions")[0][0])

    # -- following (several action servers on one log) -------------------------------------
    def version(self) -> tuple[int, int]:
        """(rows, highest id): changes whenever any process appends a row (undo and accept are rows too)."""
        with self._lock:
            count, last = self._store.select("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM interactions")[0]
        return int(count), int(last)

    def wait(self, timeout: float) -> None:
        """Block until another process may have appended a row, at most ``timeout`` seconds.

        PostgreSQL wakes on the NOTIFY that every append sends; SQLite sleeps ``timeout``.
        """
        self._store.wait(timeout)
