"""Roles from identities a channel authenticated (issue 14.2): namespaced sender ids, reserved
prefixes refused on REST and socket.io, signed staff tokens, TAILOR_STAFF -> the engine's trusted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from test_channels import slack_event, slack_post
from test_socketio import WidgetClient

from actions import engine_provider
from actions.roles import staff_identities
from bot.identity import (
    StaffTokenError,
    mint_staff_token,
    platform_id,
    reserved_prefix,
    slack_sender,
    staff_sender,
    telegram_sender,
    verify_staff_token,
)
from retrieval.engine.fake import FakeEngine
from retrieval.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SECRET = "unit-test-secret-0123456789"


# -- sender ids and reserved prefixes ------------------------------------------------------------------
def test_channel_identities_are_namespaced() -> None:
    assert (slack_sender("U1"), telegram_sender(42), staff_sender("anna")) == ("slack:U1", "telegram:42", "staff:anna")
    assert platform_id("slack:U1", "slack:") == "U1" and platform_id("D123", "slack:") == "D123"


@pytest.mark.parametrize(
    ("sender", "prefix"),
    [
        ("staff:anna", "staff:"),
        ("Staff:anna", "staff:"),
        ("SLACK:U1", "slack:"),
        ("Slack:U1", "slack:"),
        ("telegram:42", "telegram:"),
        ("  telegram:42", "telegram:"),
        ("\tstaff:anna\n", "staff:"),
        ("\u200bstaff:anna", "staff:"),  # zero-width space
        ("sta\u200dff:anna", "staff:"),  # zero-width joiner inside the word
        ("\ufeffslack:U1", "slack:"),  # byte order mark
        ("\u2060SLACK:U1", "slack:"),  # word joiner
        ("staff\u00a0:anna", "staff:"),  # no-break space before the colon
        ("ｓｔａｆｆ：anna", "staff:"),  # full-width letters and colon (NFKC)
        ("anna", None),
        ("staff-anna", None),
        ("rest-shopper", None),
        ("slackU1", None),
        ("my staff:anna", None),
        ("", None),
    ],
)
def test_reserved_prefix_case_and_invisible_characters(sender: str, prefix: str | None) -> None:
    assert reserved_prefix(sender) == prefix


def test_staff_identities_from_the_environment(caplog: pytest.LogCaptureFixture) -> None:
    env = {"TAILOR_STAFF": "slack:U0123, telegram:42 staff:anna,,Slack:U9 anna staff: slack:U0123"}
    assert staff_identities(env) == ("slack:U0123", "telegram:42", "staff:anna", "slack:U9")
    assert "'anna' ignored" in caplog.text and "'staff:' ignored" in caplog.text
    assert staff_identities({}) == ()


# -- staff tokens --------------------------------------------------------------------------------------
def test_staff_token_mint_and_verify() -> None:
    now = 1_800_000_000.0
    token = mint_staff_token(" Anna ", 12, secret=SECRET, now=now)
    name, expiry, sig = token.split(".")
    assert (name, int(expiry)) == ("anna", int(now) + 12 * 3600) and len(sig) == 43
    assert verify_staff_token(token, secret=SECRET, now=now + 12 * 3600 - 1) == "anna"


def refused(token: Any, secret: str | None = SECRET, now: float = 1_800_000_000.0) -> str:
    with pytest.raises(StaffTokenError) as err:
        verify_staff_token(token, secret=secret, now=now)
    return err.value.reason


def test_staff_token_forged_expired_or_malformed_is_refused() -> None:
    now = 1_800_000_000.0
    token = mint_staff_token("anna", 1, secret=SECRET, now=now)
    _, expiry, sig = token.split(".")
    assert refused(token, now=now + 3600) == "expired"
    assert refused(token, secret="another-secret-0123456789") == "bad_signature"
    assert refused(f"bob.{expiry}.{sig}") == "bad_signature"  # someone else's name on anna's signature
    assert refused(f"anna.{int(expiry) + 86400}.{sig}") == "bad_signature"  # a later expiry
    assert refused(f"anna.{expiry}.{sig[:-1]}") == "bad_signature"
    assert refused(f"anna.{expiry}.{sig[:-2]}é") == "bad_signature"  # non-ASCII signature
    for bad in ("", "anna", f"anna.{expiry}", f"Anna.{expiry}.{sig}", f"anna.soon.{sig}", token + ".x", "a" * 10_000):
        assert refused(bad) == "malformed", bad
    assert refused(None) == "malformed" and refused(42) == "malformed"
    assert refused(token, secret="") == "disabled"  # no TAILOR_STAFF_SECRET: no token is accepted


def test_staff_token_settings_say_how_to_fix_them() -> None:
    with pytest.raises(ConfigError, match="not set"):
        mint_staff_token("anna", secret="")
    with pytest.raises(ConfigError, match="at least 16"):
        mint_staff_token("anna", secret="short")
    for name in ("", "anna.b", "anna lee", "x" * 65, "staff:anna"):
        with pytest.raises(ConfigError, match="is not allowed"):
            mint_staff_token(name, secret=SECRET)
    for hours in (0, -1, 745):
        with pytest.raises(ConfigError, match="out of range"):
            mint_staff_token("anna", hours, secret=SECRET)


def test_launch_staff_token_command() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TAILOR_STAFF_SECRET": SECRET, "TAILOR_STAFF": "staff:anna"}
    env["TAILOR_PUBLIC_URL"] = "https://shop.test"
    cmd = [sys.executable, "-m", "bot.launch", "staff-token", "anna", "--hours", "2"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True)
    token = out.stdout.split()[0]
    assert verify_staff_token(token, secret=SECRET) == "anna"
    assert f"https://shop.test/?staff={token}" in out.stdout and "add staff:anna" not in out.stderr
    env.pop("TAILOR_STAFF_SECRET")
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "TAILOR_STAFF_SECRET is not set" in out.stderr


# -- TAILOR_STAFF -> the engines' trusted senders --------------------------------------------------------
def test_fake_engine_statements_of_others_are_pending_when_staff_are_configured() -> None:
    engine = FakeEngine.load(trusted=("staff:anna",))
    before = [r.image_id for r in engine.search("silk dress", k=3)]
    mine = engine.add_metadata("dress-08", "that one is silk", "shopper-1")
    assert mine.scope == "pending"
    assert engine.search("silk dress", k=1, user="shopper-1")[0].image_id == "dress-08"  # their own answers
    assert [r.image_id for r in engine.search("silk dress", k=3, user="shopper-2")] == before
    assert engine.add_metadata("dress-05", "that one is silk", "staff:anna").scope == "global"
    assert engine.search("silk dress", k=1, user="shopper-2")[0].image_id == "dress-05"
    engine.undo(mine.interaction_id, "staff:anna")  # staff may undo anyone's
    assert [r.image_id for r in engine.search("silk dress", k=2, user="shopper-1")] == ["dress-05", before[0]]
    assert FakeEngine.load().add_metadata("dress-08", "that one is silk", "shopper-1").scope == "global"


def test_engine_provider_takes_trusted_from_tailor_staff(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAILOR_STAFF", "staff:anna slack:U1 anna")
    monkeypatch.setenv("TAILOR_FAKE_ENGINE", "1")
    engine = engine_provider._load()
    assert isinstance(engine, FakeEngine) and engine.trusted == ("staff:anna", "slack:U1")

    from retrieval.engine import facade  # heavy: torch; the real engine's load is replaced below

    (tmp_path / "engine_config.json").write_text(json.dumps({"max_k": 77, "trusted": ["staff-anna"]}))
    seen: dict[str, Any] = {}

    class Loaded:
        class text:  # noqa: N801 - stands in for the engine's QueryText attribute
            query_encoder = None

    def fake_load(model_dir: Path, *, cfg: Any = None, **_: Any) -> Loaded:
        seen["cfg"] = cfg
        return Loaded()

    monkeypatch.setattr(facade.Engine, "load", fake_load)
    monkeypatch.setenv("TAILOR_FAKE_ENGINE", "0")
    monkeypatch.setenv("TAILOR_MODEL_DIR", str(tmp_path))
    engine_provider._load()
    assert seen["cfg"].trusted == ("staff:anna", "slack:U1") and seen["cfg"].max_k == 77  # file merged, staff replaced


# -- through the running stack ---------------------------------------------------------------------------
def rest(stack: Any, sender: str, text: str) -> tuple[int, Any]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(f"{stack.rasa}/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def tracker(stack: Any, sender: str) -> dict[str, Any]:
    url = f"{stack.rasa}/conversations/{urllib.parse.quote(sender, safe=':')}/tracker"  # Sanic keeps %3A as is
    with urllib.request.urlopen(url, timeout=60) as resp:
        return dict(json.loads(resp.read()))


def user_texts(stack: Any, sender: str) -> list[str]:
    return [e.get("text") or "" for e in tracker(stack, sender)["events"] if e["event"] == "user"]


def first_result(stack: Any, text: str) -> str:
    """The first product a new anonymous REST shopper gets for ``text``."""
    sender = f"probe-{uuid.uuid4().hex}"
    assert rest(stack, sender, text)[0] == 200
    return str(tracker(stack, sender)["slots"]["results"][0]["image_id"])


@pytest.mark.stack
@pytest.mark.parametrize("sender", ["staff:anna", "Slack:USTAFF", "\u200bstaff:anna", " TELEGRAM:777", "ｓｌａｃｋ:U1"])
def test_rest_sender_in_a_reserved_namespace_gets_400(chat_stack: Any, sender: str) -> None:
    text = f"the first one is made of silk {uuid.uuid4().hex}"
    status, body = rest(chat_stack, sender, text)
    assert status == 400 and body["reason"] == "reserved_sender" and body["error"] == "bad_sender", body
    assert "staff:, slack: or telegram:" in body["message"]
    for seen_as in {sender.strip(), reserved_prefix(sender) + sender.split(":", 1)[1]} - {""}:
        if seen_as.isascii():
            assert text not in user_texts(chat_stack, seen_as), seen_as
    assert rest(chat_stack, "rest-anna", "hi")[0] == 200  # other ids work as before


class StaffWidget(WidgetClient):
    """A widget client whose messages carry the page's customData (the staff token, if any)."""

    def __init__(self, url: str, session_id: str, custom: dict[str, Any]) -> None:
        super().__init__(url, session_id)
        self.custom = custom

    def say(self, text: str, until: Any = lambda m: "text" in m, timeout: float = 60.0) -> list[Any]:
        self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id, "customData": self.custom})
        got = []
        while not got or not until(got[-1]):
            got.append(self.inbox.get(timeout=timeout))
        return got


@pytest.mark.stack
def test_socketio_reserved_session_id_is_refused(chat_stack: Any) -> None:
    text = f"the first one is made of silk {uuid.uuid4().hex}"
    for session in ("staff:anna", "\u200bStaff:anna"):
        client = StaffWidget(chat_stack.rasa, session, {})
        try:
            got = client.say(text)
        finally:
            client.close()
        assert len(got) == 1 and "reserved for signed-in accounts" in got[0]["text"], got
        assert text not in user_texts(chat_stack, "staff:anna")


@pytest.mark.stack
def test_socketio_staff_token_makes_statements_global(chat_stack: Any) -> None:
    token = mint_staff_token("anna", 1, secret=chat_stack.env["TAILOR_STAFF_SECRET"])
    before = first_result(chat_stack, "show me silk dresses")
    client = StaffWidget(chat_stack.rasa, uuid.uuid4().hex, {"language": "en", "staff_token": token})
    try:
        got = client.say("show me black dresses", until=lambda m: "Pick one" in m.get("text", ""))
        carousel = next(m for m in got if "attachment" in m)
        third = json.loads(carousel["attachment"]["payload"]["elements"][2]["buttons"][0]["payload"][len("/select") :])
        assert third["product"] != before
        reply = client.say("the third one is made of silk")[-1]["text"]
        assert reply.startswith("Thanks, noted:") and "silk" in reply and "for you" not in reply, reply
        assert first_result(chat_stack, "show me silk dresses") == third["product"]  # everyone's answer changed
        assert "the third one is made of silk" in user_texts(chat_stack, "staff:anna")
        assert "staff_token" not in json.dumps(tracker(chat_stack, "staff:anna")["events"])  # not stored
        assert client.say("undo that")[-1]["text"].startswith("Done, I forgot")
    finally:
        client.close()
    assert first_result(chat_stack, "show me silk dresses") == before


@pytest.mark.stack
def test_socketio_forged_or_expired_staff_token_is_refused(chat_stack: Any) -> None:
    secret = chat_stack.env["TAILOR_STAFF_SECRET"]
    forged = mint_staff_token("anna", 1, secret="guessed-secret-0123456789")
    expired = mint_staff_token("anna", 1, secret=secret, now=time.time() - 7200)
    for token, why in ((forged, "signature is not valid"), (expired, "has expired"), ("anna", "is not <name>")):
        session = uuid.uuid4().hex
        client = StaffWidget(chat_stack.rasa, session, {"staff_token": token})
        try:
            got = client.say("show me black dresses")
        finally:
            client.close()
        assert len(got) == 1 and why in got[0]["text"] and "did not read" in got[0]["text"], got
        assert "show me black dresses" not in user_texts(chat_stack, session)


def slack_says(stack: Any, user: str, text: str, want: str) -> list[str]:
    """Post ``text`` as Slack user ``user``; the texts posted back until one contains ``want``."""
    fake = stack.platforms
    start = len(fake.calls)
    assert slack_post(stack, slack_event(text, user), "application/json")[0] == 200
    deadline = time.monotonic() + 60
    while True:
        posts = [p.get("text", "") for p in fake.wait_for("slack", "chat.postMessage", start)]
        if any(want in t for t in posts) or time.monotonic() > deadline:
            return posts
        time.sleep(0.2)


@pytest.mark.stack
def test_slack_staff_user_is_trusted_the_same_id_over_rest_is_not(chat_stack: Any) -> None:
    before = first_result(chat_stack, "show me leather dresses")
    slack_says(chat_stack, "USTAFF", "show me black dresses", "Pick one")
    posts = slack_says(chat_stack, "USTAFF", "the second one is made of leather", "noted")
    noted = next(t for t in posts if "noted" in t)
    assert noted.startswith("Thanks, noted:") and "for you" not in noted, posts
    leather = first_result(chat_stack, "show me leather dresses")
    assert leather != before  # global: a new anonymous shopper sees it
    assert any("Done, I forgot" in t for t in slack_says(chat_stack, "USTAFF", "undo that", "Done"))
    assert first_result(chat_stack, "show me leather dresses") == before

    # the same user id as a REST sender is an anonymous shopper: their statement stays theirs
    assert rest(chat_stack, "USTAFF", "show me black dresses")[0] == 200
    _, out = rest(chat_stack, "USTAFF", "the second one is made of leather")
    assert any("noted for you" in m.get("text", "") for m in out), out
    assert first_result(chat_stack, "show me leather dresses") == before
    assert rest(chat_stack, "slack:USTAFF", "the second one is made of leather")[0] == 400
