"""The durable interaction log: round trips, replay, crash safety, trust, malformed input."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from retrieval.errors import ConfigError, InteractionError, PermissionDeniedError
from retrieval.interactions.log import InteractionLog, LogConfig, as_url

ROOT = Path(__file__).resolve().parent.parent


def open_log(tmp_path: Path, trusted: tuple[str, ...] = ("staff",)) -> InteractionLog:
    return InteractionLog(LogConfig(url=as_url(tmp_path / "log.db"), trusted_senders=trusted))


def meta(image_id: str = "img1", statement: str = "that shirt is linen") -> dict:
    return {"image_id": image_id, "statement": statement}


def test_sqlite_is_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    with open_log(tmp_path) as lg:
        assert lg._store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert lg._store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_append_list_undo_export_round_trip(tmp_path: Path) -> None:
    with open_log(tmp_path) as lg:
        a = lg.append("metadata", "staff", meta("img1"))
        b = lg.append("like", "ann", {"candidate_id": "img2", "text": "nice", "liked_ids": ["img3", "img4"]})
        c = lg.append("dislike", "ann", {"image_id": "img5"}, scope="user")
        assert a < b < c
        assert [r.id for r in lg.list()] == [a, b, c]
        assert [r.id for r in lg.list(user="ann")] == [b, c]
        assert lg.get(b).payload["liked_ids"] == ["img3", "img4"]
        assert lg.get(a).scope == "global" and lg.get(c).scope == "user"
        undo_id = lg.undo(b, by="ann")
        assert lg.get(b).undone_by == undo_id
        assert [r.id for r in lg.list(include_undone=False)] == [a, c]
        with pytest.raises(InteractionError, match="already undone"):
            lg.undo(b)
        buf = io.StringIO()
        assert lg.export(buf) == 4
        lines = [json.loads(x) for x in buf.getvalue().splitlines()]
        assert [x["kind"] for x in lines] == ["metadata", "like", "dislike", "undo"]
        assert lines[3]["target"] == b and lines[1]["undone_by"] == undo_id
        out = tmp_path / "export" / "log.jsonl"
        lg.export(out)
        assert out.read_text() == buf.getvalue()
    with open_log(tmp_path) as again:  # reopening sees the same rows
        assert [r.to_dict() for r in again.list(include_control=True)] == lines


def test_replay_is_idempotent_and_follows_acceptance(tmp_path: Path) -> None:
    with open_log(tmp_path) as lg:
        ids = [lg.append("metadata", "staff", meta(f"img{i}")) for i in range(3)]
        shopper = lg.append("metadata", "bob", meta("img9", "it is wool"))
        lg.undo(ids[1])
        applied: list[str] = []
        for row in lg.replay():
            applied.append(row.key)
        assert [k.split("@")[0] for k in applied] == [str(ids[0]), str(ids[2]), str(shopper)]
        assert applied[-1] == f"{shopper}@pending"
        assert list(lg.replay(set(applied))) == []  # nothing applied twice
        assert [r.key for r in lg.replay()] == applied  # deterministic
        lg.accept(shopper, "staff")
        again = list(lg.replay(set(applied)))
        assert [r.key for r in again] == [f"{shopper}@global"]  # comes back once, now global
        assert again[0].accepted_by == "staff"
        assert list(lg.replay(set(applied) | {again[0].key})) == []


def test_trust_pending_and_untrusted_accept_refused(tmp_path: Path) -> None:
    with open_log(tmp_path) as lg:
        staff = lg.append("metadata", "staff", meta())
        bob = lg.append("metadata", "bob", meta("img2", "it is silk"))
        mine = lg.append("metadata", "bob", meta("img3", "it is silk"), scope="user")
        assert lg.get(staff).scope == "global"
        assert lg.get(bob).scope == "pending" and lg.get(mine).scope == "user"
        assert [r.id for r in lg.pending()] == [bob]
        n = len(lg)
        with pytest.raises(PermissionDeniedError, match="not a trusted sender"):
            lg.accept(bob, "bob")
        with pytest.raises(PermissionDeniedError, match="not one of yours") as refused:
            lg.undo(staff, by="bob")
        assert "'staff'" not in str(refused.value)  # never names another user
        assert len(lg) == n  # refused actions write nothing
        with pytest.raises(InteractionError, match="not pending"):
            lg.accept(staff, "staff")
        lg.accept(bob, "staff")
        assert lg.get(bob).scope == "global" and lg.pending() == []


def test_malformed_inputs_write_nothing(tmp_path: Path) -> None:
    with open_log(tmp_path) as lg:
        lg.append("metadata", "staff", meta())
        cases = [
            (("metadata", "staff", meta(statement="linen " * 1700)), "too long"),  # ~10 KB
            (("comment", "staff", {"text": "hi"}), "Unknown interaction kind"),
            (("metadata", "staff", {"statement": "it is red"}), "needs image_id"),
            (("metadata", "staff", meta(statement="   ")), "empty"),
            (("metadata", "", meta()), "Bad user id"),
            (("like", "ann", ["img1"]), "must be a dict"),
            (("like", "ann", {"liked_ids": [float("nan")]}), "not JSON"),
        ]
        for args, message in cases:
            with pytest.raises(InteractionError, match=message) as info:
                lg.append(*args)
            assert info.value.fix  # every error says how to fix it
        with pytest.raises(InteractionError, match="Unknown scope"):
            lg.append("like", "ann", {"liked_ids": []}, scope="everyone")
        with pytest.raises(InteractionError, match="No interaction"):
            lg.undo(999)
        assert len(lg) == 1


def test_url_scheme_checked() -> None:
    with pytest.raises(ConfigError, match="mysql"):
        LogConfig(url="mysql://db/tailor")
    assert LogConfig(url="postgresql://db/tailor").url == "postgresql://db/tailor"  # issue 16: the shared log
    with pytest.raises(ConfigError, match="sqlite:///"):
        LogConfig(url="interactions.db")
    assert LogConfig(url="sqlite:////tmp/x.db").path == Path("/tmp/x.db")
    assert as_url("data/log.db") == "sqlite:///data/log.db"


def test_reader_process_sees_committed_rows(tmp_path: Path) -> None:
    with open_log(tmp_path) as writer:
        rid = writer.append("metadata", "staff", meta())
        reader = InteractionLog(writer.config, readonly=True)
        assert [r.id for r in reader.list()] == [rid]
        with pytest.raises(ConfigError, match="read-only"):
            reader.append("metadata", "staff", meta())
        reader.close()


WRITER = textwrap.dedent(
    """
    import sys
    from retrieval.interactions.log import InteractionLog, LogConfig
    lg = InteractionLog(LogConfig(url=sys.argv[1], trusted_senders=("staff",)))
    i = 0
    while True:
        rid = lg.append("metadata", "staff", {"image_id": f"img{i}", "statement": "it is linen"})
        sys.stdout.write(f"{rid}\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_sigkill_mid_stream_loses_no_acknowledged_interaction(tmp_path: Path) -> None:
    url = as_url(tmp_path / "crash.db")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True, env=env)
    acked: list[int] = []
    try:
        assert child.stdout is not None
        while len(acked) < 150:
            line = child.stdout.readline()
            assert line, "writer died early"
            acked.append(int(line))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        acked.extend(int(x) for x in child.stdout.read().split())  # acks already in the pipe
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    with InteractionLog(LogConfig(url=url)) as lg:
        present = {r.id for r in lg.list()}
        assert set(acked) <= present
        assert lg._store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert lg.get(acked[-1]).payload["image_id"] == f"img{len(acked) - 1}"


def test_database_file_is_plain_sqlite(tmp_path: Path) -> None:
    with open_log(tmp_path) as lg:
        lg.append("metadata", "staff", meta())
    con = sqlite3.connect(tmp_path / "log.db")
    assert con.execute("SELECT kind, user, scope FROM interactions").fetchall() == [("metadata", "staff", "global")]
    con.close()


def test_cli_list_export_undo_accept(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from retrieval.cli.main import main

    db = tmp_path / "cli.db"
    lg = InteractionLog(LogConfig(url=as_url(db), trusted_senders=("staff",)))
    a = lg.append("metadata", "staff", meta())
    b = lg.append("metadata", "bob", meta("img2", "it is silk"))
    lg.close()
    assert main(["interactions", "list", "--log", str(db)]) == 0
    out = capsys.readouterr().out
    assert "pending" in out and "2 interaction(s)" in out
    assert main(["interactions", "list", "--log", f"sqlite:///{db}", "--user", "bob", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [b]
    assert main(["interactions", "accept", str(b), "--log", str(db), "--by", "bob", "--trusted", "staff"]) == 2
    assert "not a trusted sender" in capsys.readouterr().err
    assert main(["interactions", "accept", str(b), "--log", str(db), "--by", "staff", "--trusted", "staff"]) == 0
    assert main(["interactions", "undo", str(a), "--log", str(db)]) == 0
    export = tmp_path / "out.jsonl"
    assert main(["interactions", "export", "--log", str(db), "--out", str(export)]) == 0
    lines = [json.loads(x) for x in export.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["metadata", "metadata", "accept", "undo"]
    assert lines[1]["scope"] == "global" and lines[0]["undone_by"] == lines[3]["id"]
    assert main(["interactions", "list", "--log", "mysql://db/x"]) == 2
    assert "is not supported" in capsys.readouterr().err
    assert main(["interactions", "list", "--log", "postgresql://nohost.invalid/x"]) == 2
    assert "Cannot reach the interaction log" in capsys.readouterr().err


def test_log_config_round_trips_and_drives_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from retrieval.cli.main import main
    from retrieval.config import load_config, save_config

    cfg = LogConfig(url=as_url(tmp_path / "c.db"), trusted_senders=("anna", "ben"))
    path = save_config(cfg, tmp_path / "log_config.json")
    assert load_config(LogConfig, path) == cfg
    with InteractionLog(cfg) as lg:
        rid = lg.append("metadata", "carl", meta())
    assert (
        main(
            ["interactions", "accept", str(rid), "--log", str(tmp_path / "c.db"), "--config", str(path), "--by", "ben"]
        )
        == 0
    )
    assert "now global" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="list of user ids"):
        LogConfig(trusted_senders="anna")  # type: ignore[arg-type]
