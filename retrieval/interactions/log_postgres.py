"""The interaction log in PostgreSQL: one log shared by several action servers (issue 16).

:class:`PostgresStore` is the second backend of :class:`~retrieval.interactions.log.InteractionLog`
(``postgresql://user@host:port/db``): the same table and columns as the SQLite file, each append one
committed transaction (``synchronous_commit`` on: durable when acknowledged) that also sends
``NOTIFY tailor_interactions, '<id>'``. :meth:`PostgresStore.wait` LISTENs on a second connection,
so a follower (:mod:`retrieval.interactions.follow`) in another action server wakes within
milliseconds of a commit instead of polling. Ids come from a sequence: two writers can commit out of
order, which is why consumers track applied keys (:meth:`InteractionLog.replay`), not a cursor.

A broken connection (the server restarted) is opened again on the next call.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg

from retrieval.errors import ConfigError
from retrieval.interactions.records import SCHEMA_VERSION

log = logging.getLogger(__name__)

CHANNEL = "tailor_interactions"
#: what a failed read or write raises (besides the typed errors of the log)
DRIVER_ERRORS: tuple[type[Exception], ...] = (psycopg.Error,)

_SCHEMA = (
    "SELECT pg_advisory_xact_lock(16016)",  # two servers creating the tables at once: one after the other
    """CREATE TABLE IF NOT EXISTS interactions (
        id BIGSERIAL PRIMARY KEY,
        ts DOUBLE PRECISION NOT NULL,
        kind TEXT NOT NULL,
        "user" TEXT NOT NULL,
        scope TEXT NOT NULL,
        payload TEXT NOT NULL,
        target BIGINT REFERENCES interactions(id)
    )""",
    "CREATE INDEX IF NOT EXISTS interactions_target ON interactions(target)",
    'CREATE INDEX IF NOT EXISTS interactions_user ON interactions("user")',
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


class PostgresStore:
    """The rows of the log in one PostgreSQL database.

    Args:
        url: ``postgresql://user[:password]@host:port/db`` (libpq's URL form).
        readonly: never write (the tables must exist).
    """

    #: placeholder style of the SQL this store runs
    param = "%s"

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self.url = url
        self.readonly = readonly
        self._conn: psycopg.Connection[Any] | None = None
        self._listener: psycopg.Connection[Any] | None = None
        self._listen_lock = threading.Lock()
        conn = self._connection()
        if not readonly:
            with conn.transaction():
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', %s) ON CONFLICT DO NOTHING",
                    (str(SCHEMA_VERSION),),
                )

    def _open(self) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as err:
            raise ConfigError(
                f"Cannot reach the interaction log {_safe(self.url)}: {str(err).strip()}.",
                fix="start PostgreSQL (make demo REPLICAS=2 starts one) or check TAILOR_LOG_URL",
            ) from err

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._open()
        return self._conn

    def insert(self, row: tuple[float, str, str, str, str, int | None]) -> int:
        """Commit one row (ts, kind, user, scope, payload, target) and notify the listeners; returns its id."""
        conn = self._connection()
        with conn.transaction():
            cur = conn.execute(
                'INSERT INTO interactions(ts, kind, "user", scope, payload, target)'
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                row,
            )
            found = cur.fetchone()
            assert found is not None  # INSERT ... RETURNING gives one row
            rid = int(found[0])
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(rid)))
        return rid

    def select(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query (a broken connection is opened again once)."""
        try:
            return self._connection().execute(sql, params).fetchall()
        except psycopg.OperationalError:
            if self._conn is not None and not self._conn.broken:
                raise
            log.warning("interaction log connection lost; reconnecting to %s", _safe(self.url))
            self._conn = None
            return self._connection().execute(sql, params).fetchall()

    def wait(self, timeout: float) -> None:
        """Block until a NOTIFY of an append arrives, at most ``timeout`` seconds."""
        with self._listen_lock:
            try:
                if self._listener is None or self._listener.closed or self._listener.broken:
                    self._listener = self._open()
                    self._listener.execute(f"LISTEN {CHANNEL}")
                for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                    break
            except psycopg.OperationalError as err:
                log.warning("LISTEN on %s failed (%s); retrying", _safe(self.url), err)
                self._listener = None
                threading.Event().wait(timeout)

    def close(self) -> None:
        """Close both connections."""
        for conn in (self._conn, self._listener):
            if conn is not None and not conn.closed:
                conn.close()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, creds = head.partition("//")
    return f"{scheme}//{creds.split(':', 1)[0]}:***@{tail}"
