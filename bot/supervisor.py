"""Keep the demo's servers running: a crashed one is started again, with backoff.

``bot.launch demo`` hands the started services and a way to start each again to :class:`Supervisor`.
:meth:`Supervisor.watch` polls them; when a process has exited it waits (1 s, then 2, 4, ... up to
30 s if it keeps crashing; the delay resets after 60 s of uptime) and starts it again. The action
server's interaction log is committed before a turn is acknowledged, so a restarted action server
replays every acknowledged interaction. Standard library only.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


class Process(Protocol):
    """What the supervisor needs of a started server (``bot.launch.Service``)."""

    name: str
    proc: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's log."""
        ...


P = TypeVar("P", bound=Process)


@dataclass(frozen=True)
class Backoff:
    """Delays between restarts of a service that keeps crashing."""

    first_s: float = 1.0
    max_s: float = 30.0
    reset_after_s: float = 60.0

    def delay(self, crashes: int) -> float:
        """The wait before restart number ``crashes`` (1-based) of a run of quick crashes."""
        return min(self.max_s, self.first_s * 2 ** max(0, crashes - 1))


@dataclass
class Watched(Generic[P]):
    """One supervised service, how to start it again, and its crash history."""

    service: P
    restart: Callable[[], P]
    started: float = field(default_factory=time.monotonic)
    crashes: int = 0
    restarts: int = 0


class Supervisor(Generic[P]):
    """Restart crashed services with backoff; write their pids to ``pid_file`` (for operators and tests)."""

    def __init__(self, pid_file: Path | None = None, backoff: Backoff | None = None) -> None:
        """Supervise nothing yet; ``pid_file`` (JSON name -> pid) is rewritten on every (re)start."""
        self.pid_file = pid_file
        self.backoff = backoff or Backoff()
        self.watched: list[Watched[P]] = []

    def add(self, service: P, restart: Callable[[], P]) -> None:
        """Watch a started service; ``restart`` starts a new one (and waits until it is ready)."""
        self.watched.append(Watched(service, restart))
        self._write_pids()

    @property
    def services(self) -> list[P]:
        """The current process of every watched service, in start order."""
        return [w.service for w in self.watched]

    def check(self) -> None:
        """Restart every watched service whose process has exited (blocks while one starts)."""
        for w in self.watched:
            code = w.service.proc.poll()
            if code is None:
                continue
            up = time.monotonic() - w.started
            w.crashes = 1 if up >= self.backoff.reset_after_s else w.crashes + 1
            wait = self.backoff.delay(w.crashes)
            log.error(
                "%s exited with %s after %.0f s; restarting in %.0f s. Its log ends:\n%s",
                w.service.name, code, up, wait, w.service.log_tail(15),
            )  # fmt: skip
            time.sleep(wait)
            try:
                w.service = w.restart()
            except RuntimeError as err:  # it died again while starting: the next check retries
                log.error("%s did not come back: %s", w.service.name, err)
                w.started = time.monotonic()
                continue
            w.started = time.monotonic()
            w.restarts += 1
            log.info("%s is back (restart %d)", w.service.name, w.restarts)
            self._write_pids()

    def watch(self, poll_s: float = 1.0) -> None:
        """Check the services forever (until KeyboardInterrupt)."""
        while True:
            time.sleep(poll_s)
            self.check()

    def _write_pids(self) -> None:
        if self.pid_file is None:
            return
        pids = {w.service.name: w.service.proc.pid for w in self.watched}
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pids, indent=1))
        tmp.replace(self.pid_file)
