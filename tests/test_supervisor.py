"""The demo's supervisor: a crashed server comes back; meanwhile the shopper hears "one moment".

The stack test starts ``python -m bot.launch demo`` itself (real Rasa server, real action server with
the real engine on a copy of ``tiny_model``, web page), kills the action server with SIGKILL right
after an acknowledged like, and checks the outage answer, the restart and that the same search gives
the same answer afterwards (the like survived).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, _rasa_model
from test_e2e_rest import images, post, texts

from bot.action_outage import ONE_MOMENT
from bot.launch import free_port
from bot.supervisor import Backoff, Supervisor


class Sleeper:
    """A stand-in service: a ``sleep`` process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(["sleep", "60"])

    def log_tail(self, lines: int = 40) -> str:
        return ""


@pytest.mark.unit
def test_backoff_doubles_up_to_its_cap() -> None:
    b = Backoff(first_s=1, max_s=30)
    assert [b.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


@pytest.mark.unit
def test_a_killed_process_is_restarted_and_its_pid_recorded(tmp_path: Path) -> None:
    pids = tmp_path / "pids.json"
    sup: Supervisor[Sleeper] = Supervisor(pids, Backoff(first_s=0.01, max_s=0.05))
    first, other = Sleeper("a"), Sleeper("b")
    sup.add(first, lambda: Sleeper("a"))
    sup.add(other, lambda: Sleeper("b"))
    try:
        first.proc.kill()
        first.proc.wait()
        sup.check()
        a, b = sup.services
        assert a is not first and a.proc.poll() is None and b is other
        assert json.loads(pids.read_text()) == {"a": a.proc.pid, "b": other.proc.pid}
        assert sup.watched[0].restarts == 1 and sup.watched[1].restarts == 0
    finally:
        for s in sup.services:
            s.proc.kill()
            s.proc.wait()


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status == 200 and json.loads(resp.read())["engine"] == "ok"


@pytest.mark.stack
def test_kill_9_of_the_action_server_mid_conversation(tiny_catalog: Path, tiny_model: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "engine"
    shutil.copytree(tiny_model, model_dir)
    logs = tmp_path / "logs"
    action, rasa, web = free_port(), free_port(), free_port()
    env = {**os.environ, "TAILOR_MODEL_DIR": str(model_dir), "TAILOR_TORCH_THREADS": "1",
           "TAILOR_PUBLIC_URL": f"http://127.0.0.1:{web}", "PYTHONPATH": str(REPO)}  # fmt: skip
    env.pop("TAILOR_ACTION_TOKEN", None)  # the launcher makes its own
    ports = ["--action-port", str(action), "--rasa-port", str(rasa), "--web-port", str(web)]
    cmd = [sys.executable, "-m", "bot.launch", "demo", "--model", str(_rasa_model()), "--images", str(tiny_catalog),
           *ports, "--log-dir", str(logs)]  # fmt: skip
    launcher = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pid_file = logs / "pids.json"
    rest = f"http://127.0.0.1:{rasa}/webhooks/rest/webhook"

    def say(text: str) -> list[dict[str, Any]]:
        return post(rest, {"sender": "kill-9-shopper", "message": text})

    try:
        _wait(lambda: len(json.loads(pid_file.read_text())) == 3, 900, "the launcher to start all three servers")
        before = images(say("show me black dresses"))
        assert len(before) == 4
        ack = " ".join(texts(say("I like the third one")))
        assert "like" in ack.lower(), ack
        liked = images(say("show me black dresses"))
        assert len(liked) == 4

        dead = json.loads(pid_file.read_text())["actions"]
        os.kill(dead, signal.SIGKILL)
        outage = texts(say("show me black dresses"))
        assert outage == [ONE_MOMENT]  # a clear answer, not an empty reply

        _wait(lambda: json.loads(pid_file.read_text())["actions"] != dead, 300, "the action server's restart")
        _wait(lambda: _healthy(f"http://127.0.0.1:{action}/health"), 300, "the restarted engine")
        assert images(say("show me black dresses")) == liked  # the acknowledged like survived the kill
        assert launcher.poll() is None  # the rest of the stack stayed up
    finally:
        launcher.send_signal(signal.SIGINT)
        try:
            out, _ = launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            out, _ = launcher.communicate()
        print(out[-3000:])  # the launcher's output, shown when the test fails
