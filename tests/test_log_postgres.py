"""The interaction log on PostgreSQL (issue 16): the same contract as SQLite, shared by processes.

A real PostgreSQL server (Debian's binaries, started by :func:`bot.stores.start_postgres` on a free
loopback port) holds one fresh database per test. The engine test loads two real engines on one log,
as two action servers would, and checks that what one acknowledged is in the other's answers.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.launch import free_port
from bot.stores import start_postgres
from retrieval.errors import PermissionDeniedError
from retrieval.interactions.follow import LogFollower
from retrieval.interactions.log import InteractionLog, LogConfig

_names = itertools.count()


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server for the module; yields its base URL (``postgresql://tailor@127.0.0.1:PORT``)."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")) or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL is not installed (make setup runs scripts/system_packages.sh)")
    root = Path(tempfile.mkdtemp(prefix="tailor-pg-"))
    root.chmod(0o755)  # the postgres user must reach its data directory
    service = start_postgres(root / "data", free_port(), root / "logs")
    try:
        yield service.url.rsplit("/", 1)[0]
    finally:
        service.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: str) -> str:
    """A fresh database on the module's server."""
    name = f"t{next(_names)}_{int(time.time() * 1000) % 10**8}"
    psql = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1]
    port = postgres.rsplit(":", 1)[1]
    cmd = [str(psql), "-h", "127.0.0.1", "-p", port, "-U", "tailor", "-d", "postgres", "-qc", f"CREATE DATABASE {name}"]
    subprocess.run(cmd, check=True, capture_output=True)
    return f"{postgres}/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each backend in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.mark.stack
def test_both_backends_keep_the_same_contract(url: str) -> None:
    with InteractionLog(LogConfig(url, trusted_senders=("staff",))) as lg:
        a = lg.append("metadata", "staff", {"image_id": "i1", "statement": "it is linen"})
        b = lg.append("metadata", "bob", {"image_id": "i2", "statement": "it is silk"})
        c = lg.append("like", "bob", {"liked_ids": ["i1", "i2"]}, "user")
        assert [r.scope for r in lg.list()] == ["global", "pending", "user"]
        assert [r.id for r in lg.pending()] == [b]
        with pytest.raises(PermissionDeniedError):
            lg.undo(a, "bob")
        lg.undo(c, "bob")
        lg.accept(b, "staff")
        assert [r.key for r in lg.replay()] == [f"{a}@global", f"{b}@global"]
        assert lg.get(c).undone_by is not None and lg.get(b).accepted_by == "staff"
        assert len(lg) == 5 and lg.version() == (5, max(r.id for r in lg.list(include_control=True)))


@pytest.mark.stack
def test_two_writers_on_one_postgres_log_lose_nothing(pg_url: str) -> None:
    logs = [InteractionLog(LogConfig(pg_url)) for _ in range(2)]
    ids: list[int] = []

    def write(lg: InteractionLog, who: str) -> None:
        for i in range(40):
            ids.append(lg.append("dislike", who, {"image_id": f"img{i}"}, "user"))

    threads = [threading.Thread(target=write, args=(lg, f"u{n}")) for n, lg in enumerate(logs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 80
    assert {r.id for r in logs[1].replay()} == set(ids)  # each sees the other's rows


@pytest.mark.stack
def test_a_follower_wakes_on_the_notify_of_another_processes_append(pg_url: str) -> None:
    writer, reader = InteractionLog(LogConfig(pg_url)), InteractionLog(LogConfig(pg_url))
    woke: list[float] = []
    follower = LogFollower(reader, lambda: woke.append(time.monotonic()) or 1, poll_s=30.0).start()
    try:
        deadline = time.monotonic() + 10
        while not woke and time.monotonic() < deadline:  # the first look syncs once
            time.sleep(0.01)
        time.sleep(0.3)  # now waiting on LISTEN for up to 30 s
        start, before = time.monotonic(), len(woke)
        writer.append("like", "ann", {"liked_ids": ["x"]}, "user")
        while len(woke) == before and time.monotonic() - start < 5:
            time.sleep(0.001)
        assert len(woke) > before and woke[-1] - start < 0.5  # the NOTIFY, not the 30 s poll
    finally:
        follower.stop(timeout=1)


@pytest.mark.engine
def test_two_engines_on_one_log_answer_alike(pg_url: str, tiny_model: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from retrieval.engine.config import EngineConfig
    from retrieval.engine.facade import Engine

    copies = [shutil.copytree(tiny_model, tmp_path / f"engine-{n}") for n in range(2)]
    one, other = (Engine.load(c, cfg=replace(EngineConfig(), log_url=pg_url)) for c in copies)
    query = one.search("dress", k=10, user="ann")
    assert [r.image_id for r in other.search("dress", k=10, user="ann")] == [r.image_id for r in query]
    receipt = one.like(None, "", [query[5].image_id], user="ann")
    assert other.sync() == 1
    liked = [r.image_id for r in one.search("dress", k=10, user="ann")]
    assert [r.image_id for r in other.search("dress", k=10, user="ann")] == liked
    assert liked != [r.image_id for r in query]  # the like moved something
    one.undo(receipt.interaction_id, "ann")
    other.sync()
    assert [r.image_id for r in other.search("dress", k=10, user="ann")] == [r.image_id for r in query]
