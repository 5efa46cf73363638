"""The action server: loopback only, every call authenticated, errors that echo nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.server import authorized
from bot.launch import Service, action_token, free_port, start_action_server

WARM_UP = {
    "next_action": "action_warm_up",
    "sender_id": "probe",
    "tracker": {
        "sender_id": "probe",
        "slots": {},
        "latest_message": {},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": None,
    },
    "domain": {},
}


@pytest.mark.unit
def test_bearer_token_check() -> None:
    assert authorized("Bearer s3cret", "s3cret") and authorized("bearer  s3cret", "s3cret")
    for header in (None, "", "s3cret", "Bearer", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret"):
        assert not authorized(header, "s3cret"), header


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_action_server(free_port(), tmp_path_factory.mktemp("action-server"), {"TAILOR_FAKE_ENGINE": "1"})
    try:
        yield service
    finally:
        service.stop()


def call(url: str, body: object | None = None, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data, headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp, tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


@pytest.mark.stack
def test_action_server_listens_on_loopback_only(action_server: Service) -> None:
    port = int(action_server.url.rsplit(":", 1)[1])
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0


@pytest.mark.stack
def test_every_call_needs_the_token(action_server: Service) -> None:
    for token in (None, "", "wrong-token", action_token() + "x"):
        status, body = call(f"{action_server.url}/webhook", WARM_UP, token)
        assert status == 401 and body == {"error": "unauthorized: the action server needs its token"}, token
        assert call(f"{action_server.url}/actions", token=token)[0] == 401
    status, body = call(f"{action_server.url}/webhook", WARM_UP, action_token())
    assert status == 200 and "events" in body
    status, body = call(f"{action_server.url}/actions", token=action_token())
    assert status == 200 and {"name": "action_search"} in body


@pytest.mark.stack
def test_health_needs_no_token_and_reports_the_engine(action_server: Service) -> None:
    status, body = call(f"{action_server.url}/health")
    assert status == 200 and body["status"] == "ok" and body["engine"] == "ok" and body["error"] is None


@pytest.mark.stack
def test_an_error_echoes_nothing_of_the_request(action_server: Service) -> None:
    forged = {**WARM_UP, "next_action": "action_search", "sender_id": "victim-7", "tracker": "not a tracker"}
    status, body = call(f"{action_server.url}/webhook", forged, action_token())
    assert status == 500 and body == {"error": "the action server failed; see its log"}
