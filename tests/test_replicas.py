"""Two replicas on real stores (issue 16): ``python -m bot.replicas demo`` with the fake engine.

The module starts the launcher once: PostgreSQL (tracker store and interaction log), Redis (lock
store), HAProxy (the public Rasa port and the action endpoint), two Rasa servers, two action servers,
the web page, all on free loopback ports. The tests talk to the Rasa servers directly and through the
balancer; the last one kills -9 one Rasa server and one action server mid-conversation.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, _rasa_model
from test_e2e_rest import images, post, texts

from bot.launch import free_port

pytestmark = pytest.mark.stack
SERVICES = ("postgres", "redis", "haproxy", "rasa-1", "rasa-2", "actions-1", "actions-2", "web")


@dataclass(frozen=True)
class Replicas:
    """Ports of the running replicas."""

    balancer: int  # the public Rasa port (HAProxy)
    rasa: tuple[int, int]  # direct
    pg: int
    pid_file: Path

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/webhooks/rest/webhook"

    def say(self, port: int, sender: str, text: str) -> list[dict[str, Any]]:
        return post(self.url(port), {"sender": sender, "message": text})

    def pids(self) -> dict[str, int]:
        return json.loads(self.pid_file.read_text())


def _installed() -> str | None:
    """Why the stores cannot start (None: they can)."""
    missing = [b for b in ("redis-server", "haproxy", "runuser") if shutil.which(b) is None]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        missing.append("postgres")
    return f"not installed: {', '.join(missing)} (make setup runs scripts/system_packages.sh)" if missing else None


@pytest.fixture(scope="module")
def replicas() -> Iterator[Replicas]:
    """The launcher with two replicas, started once for the module; stopped with Ctrl-C (SIGINT)."""
    reason = _installed()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="tailor-replicas-"))
    root.chmod(0o755)  # the postgres user must reach its data directory
    ports = {name: free_port() for name in ("rasa", "actions", "web", "r1", "r2", "a1", "a2", "pg", "redis")}
    cmd = [sys.executable, "-m", "bot.replicas", "demo", "--fake-engine", "--model", str(_rasa_model()),
           "--rasa-port", str(ports["rasa"]), "--action-port", str(ports["actions"]), "--web-port", str(ports["web"]),
           "--rasa-ports", f"{ports['r1']},{ports['r2']}", "--action-ports", f"{ports['a1']},{ports['a2']}",
           "--pg-port", str(ports["pg"]), "--redis-port", str(ports["redis"]),
           "--data-dir", str(root / "data"), "--log-dir", str(root / "logs")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "TAILOR_PUBLIC_URL": f"http://127.0.0.1:{ports['web']}"}
    env.pop("TAILOR_ACTION_TOKEN", None)
    launcher = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stack = Replicas(ports["rasa"], (ports["r1"], ports["r2"]), ports["pg"], root / "logs" / "pids.json")
    try:
        deadline = time.monotonic() + 900
        while not (stack.pid_file.is_file() and set(stack.pids()) == set(SERVICES)):
            assert launcher.poll() is None, launcher.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the replicas did not start in 15 min"
            time.sleep(1)
        yield stack
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            out, _ = launcher.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            launcher.kill()
            out, _ = launcher.communicate()
        print(out[-3000:])  # the launcher's output, shown when a test fails
        shutil.rmtree(root, ignore_errors=True)


def _psql(stack: Replicas, sql: str) -> str:
    psql = sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"))[-1]
    cmd = [str(psql), "-h", "127.0.0.1", "-p", str(stack.pg), "-U", "tailor", "-d", "tailor", "-tAc", sql]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def test_turns_alternating_between_the_rasa_servers_keep_the_conversation(replicas: Replicas) -> None:
    r1, r2 = replicas.rasa
    shown = images(replicas.say(r1, "alternating", "show me red dresses"))
    assert len(shown) == 4
    picked = " ".join(texts(replicas.say(r2, "alternating", "the second one")))
    assert "You picked #2" in picked, picked
    more = images(replicas.say(r1, "alternating", "like this but in black"))
    assert more and shown[1] not in more
    # both servers wrote the one conversation to the PostgreSQL tracker store, read by sender through its index
    assert int(_psql(replicas, "SELECT COUNT(*) FROM events WHERE sender_id = 'alternating'")) > 6
    assert "ix_events_sender_id" in _psql(replicas, "SELECT indexname FROM pg_indexes WHERE tablename = 'events'")


def test_a_like_acknowledged_on_one_replica_is_in_the_others_next_answers_within_1_s(replicas: Replicas) -> None:
    r1, r2 = replicas.rasa
    before = images(replicas.say(r1, "liker", "show me black dresses"))
    ack = " ".join(texts(replicas.say(r2, "liker", "I like the third one")))
    acknowledged = time.monotonic()
    assert "like" in ack.lower(), ack
    # the action endpoint is round-robin over the two action servers: consecutive turns reach both
    answers = [images(replicas.say(port, "liker", "show me black dresses")) for port in (r1, r2, r1, r2)]
    assert time.monotonic() - acknowledged < 4 * 1.0
    assert all(a[0] == before[2] for a in answers), (before, answers)  # the liked dress first, on every server
    row = _psql(replicas, "SELECT kind || ' ' || \"user\" FROM interactions ORDER BY id DESC LIMIT 1")
    assert row == "like liker"


def test_a_statement_on_one_replica_changes_every_shoppers_answer_on_the_other(replicas: Replicas) -> None:
    r1, r2 = replicas.rasa
    dresses = images(replicas.say(r1, "stater", "show me black dresses"))
    ack = " ".join(texts(replicas.say(r1, "stater", "the second one is made of silk")))
    assert "silk" in ack.lower(), ack
    for port in (r2, r1):  # another shopper, on either server, finds it as silk at once
        assert images(replicas.say(port, f"reader-{port}", "show me silk dresses"))[0] == dresses[1]


def _conversation(stack: Replicas, i: int) -> list[str]:
    problems = []
    for text in ("show me black dresses", "the second one", "like this but in red", "I like it", "start over"):
        try:
            answer = stack.say(stack.balancer, f"crowd-{i}", text)
        except OSError as err:
            problems.append(f"{text!r}: {err}")
            continue
        if not answer:
            problems.append(f"{text!r}: no answer")
    return problems


def test_32_concurrent_conversations_through_the_balancer_without_an_error(replicas: Replicas) -> None:
    with ThreadPoolExecutor(32) as pool:
        problems = [p for ps in pool.map(lambda i: _conversation(replicas, i), range(32)) for p in ps]
    assert problems == []


def test_the_widget_over_socketio_through_the_balancer_polls_then_upgrades(replicas: Replicas) -> None:
    import queue
    import uuid

    import socketio

    inbox: queue.Queue[Any] = queue.Queue()
    confirmed: queue.Queue[str] = queue.Queue()
    sio = socketio.Client(reconnection=False)
    sio.on("bot_uttered", inbox.put)
    sio.on("session_confirm", confirmed.put)
    # long-polling first, then the websocket upgrade: every request of the session must reach one server
    sio.connect(
        f"http://127.0.0.1:{replicas.balancer}", socketio_path="/socket.io", transports=["polling", "websocket"]
    )
    try:
        session = uuid.uuid4().hex
        sio.emit("session_request", {"session_id": session})
        assert confirmed.get(timeout=30) == session
        sio.emit("user_uttered", {"message": "show me black dresses", "session_id": session})
        first = inbox.get(timeout=60)
        assert first["text"].startswith("Here are 4 results"), first
        assert sio.transport() == "websocket"
    finally:
        sio.disconnect()


def test_kill_9_of_a_rasa_server_and_an_action_server_mid_conversation(replicas: Replicas) -> None:
    lb, sender = replicas.balancer, "survivor"
    before = images(replicas.say(lb, sender, "show me black dresses"))
    assert "like" in " ".join(texts(replicas.say(lb, sender, "I like the third one"))).lower()
    liked = images(replicas.say(lb, sender, "show me black dresses"))
    assert liked[0] == before[2]
    pids = replicas.pids()
    for name in ("rasa-1", "actions-1"):
        os.kill(pids[name], signal.SIGKILL)
    # every turn through the balancer is answered by the survivors, with the like and the results kept
    assert images(replicas.say(lb, sender, "show me black dresses")) == liked
    assert "You picked #2" in " ".join(texts(replicas.say(lb, sender, "the second one")))
    for _ in range(4):
        assert images(replicas.say(lb, sender, "show me black dresses")) == liked
