"""Follow a log that other processes append to: several action servers, one interaction log (issue 16).

:class:`LogFollower` is a daemon thread beside an engine: it waits on the log
(:meth:`~retrieval.interactions.log.InteractionLog.wait`: PostgreSQL wakes it with the NOTIFY of each
append, SQLite after ``poll_s``), compares the log's version (rows, highest id) with the one it last
saw and, when it changed, calls the engine's ``sync`` (rows appended, accepted or undone elsewhere are
applied incrementally). An interaction acknowledged by one action server is so in the other's answers
a few milliseconds after its commit; ``poll_s`` bounds the delay when a notification is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from retrieval.interactions.log import InteractionLog

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.5


class LogFollower:
    """Apply what other processes append to ``journal`` by calling ``sync`` when its version changes.

    Args:
        journal: the shared log.
        sync: applies the rows not applied yet; returns how many (``Engine.sync``, ``FakeEngine.sync``).
        poll_s: longest wait between two looks at the log.
    """

    def __init__(self, journal: InteractionLog, sync: Callable[[], int], *, poll_s: float = DEFAULT_POLL_S) -> None:
        self.journal = journal
        self.poll_s = poll_s
        self._sync = sync
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-follower", daemon=True)
        self.synced = 0  # rows applied so far (for tests and logs)

    def start(self) -> LogFollower:
        """Start following (returns self)."""
        self._thread.start()
        log.info("following the interaction log %s (poll %.1f s)", self.journal.config.url.split("@")[-1], self.poll_s)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (it wakes within ``poll_s``)."""
        self._stop.set()
        self._thread.join(timeout)

    def step(self, seen: tuple[int, int] | None) -> tuple[int, int]:
        """One look: sync when the version differs from ``seen``; returns the version read (before the sync)."""
        version = self.journal.version()
        if version != seen:
            start = time.perf_counter()
            n = self._sync()
            self.synced += n
            if n:
                log.info(
                    "applied %d interaction(s) from other servers in %.1f ms", n, 1e3 * (time.perf_counter() - start)
                )
        return version

    def _run(self) -> None:
        seen: tuple[int, int] | None = None
        while not self._stop.is_set():
            try:
                seen = self.step(seen)
                self.journal.wait(self.poll_s)
            except Exception as err:  # noqa: BLE001 - the follower must outlive a lost connection or a bad row
                log.warning("following the interaction log failed (%s); retrying in %.1f s", err, self.poll_s)
                self._stop.wait(self.poll_s)
