"""Bad input on every channel and the CLI (issue 14.7): each case gets a clear answer and changes nothing.

One table per channel; a row is the input, the answer it must get, and what must stay as it was.

* REST bodies: the status and error code, with a reason that says how to fix it (``Fix:``); the sender's
  tracker has no event (the body never reached Rasa).
* Messages through REST (the real Rasa server + action server, fake engine): the assistant's words
  (taken from ``domain.yml``), never an empty answer or "something went wrong"; the sender's tracker
  slots (Rasa's HTTP API) exactly as before the message: on a new conversation ("acting before any
  search") and after a search, a pick and a like (so a message read as "undo" would show).
* Slack and Telegram (signed webhooks; outbound calls caught by ``tests/fake_platforms.py``) and the
  widget's socket.io: the status or the reply; the sender's tracker has no user event.
* The CLI (``.venv/bin/tailor`` as a subprocess): exit code 2, ``error: ... Fix: ...``, no traceback; the
  directories it was given are byte for byte as before.

The last test checks what other shoppers see after all of it: a new shopper's first four products for
the same search are the same, and no interaction was recorded by any case (the fake engine numbers its
interactions: the canary's next like is numbered right after the likes of the setups).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import socketio
import yaml
from test_channels import slack_event, slack_post
from test_socketio import WidgetClient

from bot.identity import RESERVED_TEXT
from bot.nlu_guard import not_understood
from retrieval.training.manifest import MANIFEST_FILE, write_manifest

REPO = Path(__file__).resolve().parent.parent
TAILOR = REPO / ".venv" / "bin" / "tailor"
F200K = Path(__file__).parent / "fixtures" / "fashion200k_tiny"
DRESS_TEST = "labels/dress_test_detect_all.txt"
SEARCH = "show me black dresses"
NEVER_SHOWN = "jeans-01"  # in the fake catalog, never among the black dresses a case's sender was shown


def said(response: str) -> str:
    """The fixed words of a ``domain.yml`` response: its text up to the first ``{placeholder}``."""
    responses = yaml.safe_load((REPO / "domain.yml").read_text())["responses"]
    return responses[response][0]["text"].split("{")[0]


DEFAULT = said("utter_default")  # "Sorry, I didn't get that. ..."
INVALID = said("utter_invalid_query")  # "I need a few more words to search with ..."
NEED_RESULTS = said("utter_need_results")  # "Let's find something first ..."
WHICH_ONE = said("utter_which_one")
UNCLEAR_CHANGE = said("utter_unclear_change")  # after a pick: "I didn't catch a change there ..."
UNKNOWN_ITEM = said("utter_unknown_item")  # "Sorry, I can't find that product ..."
NOTHING_TO_UNDO = said("utter_nothing_to_undo")
NOT_RECORDED = said("utter_interaction_failed")  # "I couldn't record that: "
ENGINE_ERROR = said("utter_engine_error")
UNREADABLE = "I couldn't read that message: send an object with the text as 'message'"  # bot/connectors/socketio.py
TOO_LONG_2001 = "That message is too long (2,001 characters); please keep it to 2,000 characters or fewer."


# -- talking to the stack ----------------------------------------------------------------------------
def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def rest(stack: Any, body: bytes) -> tuple[int, Any]:
    return post(f"{stack.rasa}/webhooks/rest/webhook", body)


def say(stack: Any, sender: str, text: str) -> list[dict[str, Any]]:
    """One REST turn that must be answered: 200 and at least one message."""
    status, answer = rest(stack, json.dumps({"sender": sender, "message": text}).encode())
    assert status == 200 and isinstance(answer, list) and answer, (text, status, answer)
    return answer


def words(answer: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text") or "" for m in answer)


def tracker(stack: Any, sender: str) -> dict[str, Any]:
    url = f"{stack.rasa}/conversations/{urllib.parse.quote(sender, safe='')}/tracker"
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def user_events(stack: Any, sender: str) -> list[str]:
    return [e.get("text") or "" for e in tracker(stack, sender)["events"] if e["event"] == "user"]


# -- what other shoppers see: taken before the first case, compared by the last test -------------------
@dataclass
class World:
    shown: list[str]  # a new shopper's first four products for SEARCH
    canary: str
    first_like: int  # the canary's like: the interaction number everything after counts from
    setup_likes: int = 0  # likes the "after a pick" setups recorded on purpose


def shown_ids(answer: list[dict[str, Any]]) -> list[str]:
    out = []
    for m in answer:
        for b in m.get("buttons") or []:
            if b["payload"].startswith("/select"):
                out.append(json.loads(b["payload"].removeprefix("/select"))["product"])
    return out


def like_number(stack: Any, sender: str, image_id: str) -> int:
    say(stack, sender, f'/like{{"product": "{image_id}"}}')
    return int(tracker(stack, sender)["slots"]["last_interaction"])


@pytest.fixture(scope="module")
def world(chat_stack: Any) -> World:
    shown = shown_ids(say(chat_stack, f"bad-newcomer-{uuid.uuid4().hex[:8]}", SEARCH))
    canary = f"bad-canary-{uuid.uuid4().hex[:8]}"
    canary_shown = shown_ids(say(chat_stack, canary, SEARCH))
    assert len(shown) == 4 and canary_shown == shown
    return World(shown, canary, like_number(chat_stack, canary, canary_shown[-1]))


# -- the NLU guard's rule (bot/nlu_guard.py), without Rasa --------------------------------------------------
DOMAIN = yaml.safe_load((REPO / "domain.yml").read_text())
INTENTS = [*DOMAIN["intents"], "nlu_fallback", "restart", "session_start"]
ENTITIES = DOMAIN["entities"]
LONG_ID = "women/dresses/casual_and_day_dresses/51727804/51727804_0.jpeg"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("show me red dresses", None),
        ("I love it <3, but in red", None),
        ("/greet", None),
        ("/undo", None),
        (f'/select{{"product": "{LONG_ID}"}}', None),
        ('/like{"product": ["dress-01", "dress-02"]}', None),
        ('/search{"color": "red", "category": "dress"}', None),
        ("/nonexistent_intent", "the payload names no intent of the assistant"),
        ("/", "the payload names no intent of the assistant"),
        ("/like{not json", "the payload has unreadable arguments"),
        ('/like{"product": "dress-01"} and more', "the payload has unreadable arguments"),
        ('/like{"product": 5}', "the payload has an entity 'product' that is not a known name with text values"),
        ('/like{"product": {"$ne": null}}', "the payload has an entity 'product'"),
        ('/like{"product": []}', "the payload has an entity 'product'"),
        ('/like{"sku": "dress-01"}', "the payload has an entity 'sku'"),
        ("/like{[1]}", "the payload has entities that are not JSON"),
        ("<script>alert(1)</script>", "the message holds markup"),
        ("that one is <b>linen</b>", "the message holds markup"),
        ('<img src=x onerror="alert(1)">', "the message holds markup"),
    ],
)
def test_nlu_guard_rule(text: str, reason: str | None) -> None:
    got = not_understood(text, INTENTS, ENTITIES)
    assert got == reason if reason is None else got is not None and got.startswith(reason), got


# -- REST bodies ---------------------------------------------------------------------------------------
def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


REST_BODIES: list[tuple[str, bytes, int, str]] = [
    ("invalid-json", b'{"sender": "bad-rest", "message": ', 400, "invalid_json"),
    ("empty-body", b"", 400, "invalid_json"),
    ("json-list", b'["show me red dresses"]', 400, "not_an_object"),
    ("json-string", b'"show me red dresses"', 400, "not_an_object"),
    ("json-null", b"null", 400, "not_an_object"),
    ("json-number", b"42", 400, "not_an_object"),
    ("missing-sender", body(message="hi"), 400, "bad_sender"),
    ("number-sender", body(sender=7, message="hi"), 400, "bad_sender"),
    ("list-sender", body(sender=["bad-rest"], message="hi"), 400, "bad_sender"),
    ("empty-sender", body(sender="", message="hi"), 400, "bad_sender"),
    ("10kb-sender", body(sender="s" * 10_240, message="hi"), 400, "bad_sender"),
    ("missing-message", body(sender="bad-rest"), 400, "bad_message"),
    ("null-message", body(sender="bad-rest", message=None), 400, "bad_message"),
    ("object-message", body(sender="bad-rest", message={"text": "hi"}), 400, "bad_message"),
    ("number-message", body(sender="bad-rest", message=42), 400, "bad_message"),
    ("invalid-utf8", b'{"sender": "bad-rest", "message": "red \xff\xfe dress"}', 400, "invalid_json"),
    ("metadata-list", body(sender="bad-rest", message="hi", metadata=[1]), 400, "bad_metadata"),
    ("metadata-string", body(sender="bad-rest", message="hi", metadata="{}"), 400, "bad_metadata"),
    ("input-channel-number", body(sender="bad-rest", message="hi", input_channel=5), 400, "bad_input_channel"),
    ("1mb-body", body(sender="bad-rest", message="red dress " * 100_000), 413, "body_too_large"),
    ("sender-slack", body(sender="slack:U0123", message="that one is linen"), 400, "bad_sender"),
    ("sender-telegram", body(sender="telegram:777", message="hi"), 400, "bad_sender"),
    ("sender-staff", body(sender="staff:anna", message="hi"), 400, "bad_sender"),
    ("sender-staff-disguised", body(sender=" \u200bSTAFF:anna", message="hi"), 400, "bad_sender"),
]
RESERVED = {"sender-slack", "sender-telegram", "sender-staff", "sender-staff-disguised"}


@pytest.mark.stack
@pytest.mark.parametrize(("case", "raw", "status", "code"), REST_BODIES, ids=[c[0] for c in REST_BODIES])
def test_rest_body(chat_stack: Any, world: World, case: str, raw: bytes, status: int, code: str) -> None:
    got, answer = rest(chat_stack, raw)
    assert (got, answer["error"]) == (status, code), answer
    if case in RESERVED:
        assert answer["reason"] == "reserved_sender" and "choose a sender id" in answer["message"]
    else:
        assert "Fix:" in answer["reason"] and "Traceback" not in answer["reason"]
    for sender in ("bad-rest", "slack:U0123", "telegram:777", "staff:anna"):
        assert user_events(chat_stack, sender) == []  # never reached Rasa


# -- messages ----------------------------------------------------------------------------------------------
MESSAGES_BEFORE_ANY_SEARCH: list[tuple[str, str, str]] = [
    ("empty", "", INVALID),
    ("whitespace", " \t  \n ", INVALID),
    ("emoji", "\U0001f457\U0001f460\U0001f45c", DEFAULT),
    ("arabic", "أريد فستان أحمر", INVALID),
    ("zero-width", "\u200b\u200b\u200b", INVALID),
    ("nul-only", "\x00\x00\x00", INVALID),
    ("2000-characters", "x" * 2000, INVALID),  # read (not "too long"): no word in it
    ("2001-characters", "x" * 2001, TOO_LONG_2001),
    ("select", "the second one", NEED_RESULTS),
    ("like", "I like it", NEED_RESULTS),
    ("statement", "that one is linen", NEED_RESULTS),
    ("undo", "undo", NOTHING_TO_UNDO),
    ("ordinal-99", "#99", NEED_RESULTS),
    ("ordinal-0", "the 0th", NEED_RESULTS),
    ("minus-1", "-1", NEED_RESULTS),
    ("script", "<script>alert(1)</script>", DEFAULT),
    ("sql", "SELECT * FROM products; DROP TABLE users;--", NEED_RESULTS),
    ("sql-statement", "that one is made of '; DROP TABLE interactions;--", NEED_RESULTS),
    ("unknown-intent", "/nonexistent_intent", DEFAULT),
    ("like-never-shown", f'/like{{"product": "{NEVER_SHOWN}"}}', UNKNOWN_ITEM),
    ("select-never-shown", f'/select{{"product": "{NEVER_SHOWN}"}}', UNKNOWN_ITEM),
    ("like-not-json", "/like{not json", DEFAULT),
    ("like-number", '/like{"product": 5}', DEFAULT),
    ("like-operator", '/like{"product": {"$ne": null}}', DEFAULT),
    ("like-unknown-entity", '/like{"sku": "dress-01"}', DEFAULT),
]


def assert_clear(answer: list[dict[str, Any]], expected: str) -> None:
    text = words(answer)
    assert expected in text, text
    assert ENGINE_ERROR not in text and "Traceback" not in text
    assert not [m for m in answer if m.get("image")], "no products for bad input"


@pytest.mark.stack
@pytest.mark.parametrize(
    ("case", "text", "expected"), MESSAGES_BEFORE_ANY_SEARCH, ids=[c[0] for c in MESSAGES_BEFORE_ANY_SEARCH]
)
def test_message_before_any_search(chat_stack: Any, world: World, case: str, text: str, expected: str) -> None:
    sender = f"bad-new-{case}-{uuid.uuid4().hex[:6]}"
    before = tracker(chat_stack, sender)["slots"]
    assert_clear(say(chat_stack, sender, text), expected)
    assert tracker(chat_stack, sender)["slots"] == before


MESSAGES_AFTER_A_PICK: list[tuple[str, str, str]] = [
    ("empty", "", UNCLEAR_CHANGE),
    ("emoji", "\U0001f457\U0001f457", UNCLEAR_CHANGE),
    ("arabic", "أريد فستان أحمر", UNCLEAR_CHANGE),
    ("zero-width", "\u200b\u200c\u200d", UNCLEAR_CHANGE),
    ("2001-characters", "red " * 500 + "x", TOO_LONG_2001),
    ("ordinal-99", "#99", WHICH_ONE),
    ("ordinal-0", "the 0th", WHICH_ONE),
    ("minus-1", "-1", WHICH_ONE),
    ("fifth-of-four", "the fifth one", WHICH_ONE),
    ("script", "<script>alert(1)</script>", UNCLEAR_CHANGE),  # DIET alone reads it as "undo"
    ("markup-statement", "that one is <b>linen</b>", UNCLEAR_CHANGE),
    ("sql", "SELECT * FROM products; DROP TABLE users;--", WHICH_ONE),
    ("sql-statement", "that one is made of '; DROP TABLE interactions;--", NOT_RECORDED),
    ("unknown-intent", "/nonexistent_intent", UNCLEAR_CHANGE),
    ("like-never-shown", f'/like{{"product": "{NEVER_SHOWN}"}}', UNKNOWN_ITEM),
    ("like-list-never-shown", f'/like{{"product": ["{NEVER_SHOWN}", "skirt-01"]}}', UNKNOWN_ITEM),
    ("dislike-never-shown", f'/dislike{{"product": "{NEVER_SHOWN}"}}', UNKNOWN_ITEM),
    ("like-not-an-id", '/like{"product": "../../etc/passwd"}', UNKNOWN_ITEM),
    ("like-not-json", "/like{not json", UNCLEAR_CHANGE),  # Rasa alone: a like of the pick
    ("like-number", '/like{"product": 5}', UNCLEAR_CHANGE),
    ("like-forged-entity", '/like{"product": "dress-01", "staff": "anna"}', UNCLEAR_CHANGE),
]


@dataclass
class Picked:
    """A shopper who searched, picked #2 and liked it; ``slots`` as they were then."""

    sender: str
    slots: dict[str, Any]
    uses: int = 0


PICKED_USES = 8  # cases per picked shopper (a sender's rate-limit burst is 30 turns)


@pytest.fixture(scope="module")
def picked(chat_stack: Any, world: World) -> Iterator[Callable[[], Picked]]:
    """The picked shopper for the next case: the same one while its slots are as after the setup (every
    case checks they stay so), a new one after PICKED_USES cases or when a case changed them.
    """
    current: list[Picked] = []

    def get() -> Picked:
        reusable = current and current[0].uses < PICKED_USES
        if reusable and tracker(chat_stack, current[0].sender)["slots"] == current[0].slots:
            current[0].uses += 1
            return current[0]
        sender = f"bad-pick-{uuid.uuid4().hex[:8]}"
        say(chat_stack, sender, SEARCH)
        assert "You picked #2" in words(say(chat_stack, sender, "the second one"))
        assert "Glad you like" in words(say(chat_stack, sender, "I like it"))
        world.setup_likes += 1
        slots = tracker(chat_stack, sender)["slots"]
        assert slots["selected"] and slots["last_interaction"] is not None
        current[:] = [Picked(sender, slots, 1)]
        return current[0]

    yield get


@pytest.mark.stack
@pytest.mark.parametrize(("case", "text", "expected"), MESSAGES_AFTER_A_PICK, ids=[c[0] for c in MESSAGES_AFTER_A_PICK])
def test_message_after_a_pick(
    chat_stack: Any, picked: Callable[[], Picked], case: str, text: str, expected: str
) -> None:
    shopper = picked()
    assert_clear(say(chat_stack, shopper.sender, text), expected)
    assert tracker(chat_stack, shopper.sender)["slots"] == shopper.slots


# -- Slack and Telegram webhooks -------------------------------------------------------------------------
def signed_slack(stack: Any, raw: bytes, ctype: str = "application/json") -> tuple[int, Any]:
    status, text = slack_post(stack, raw, ctype)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


SLACK_BODIES: list[tuple[str, bytes, str, int, str | None]] = [
    ("json-list", b'[{"event": {"text": "hi"}}]', "application/json", 400, "not_an_object"),
    ("json-string", b'"hi"', "application/json", 400, "not_an_object"),
    ("invalid-json", b'{"event": ', "application/json", 400, "invalid_json"),
    ("event-not-object", body(type="event_callback", event=["hi"]), "application/json", 400, "bad_event"),
    (
        "text-not-string",
        body(type="event_callback", event={"type": "message", "user": "UBAD", "text": 5, "channel": "D9"}),
        "application/json",
        400,
        "bad_event",
    ),
    ("form-without-payload", b"text=hi", "application/x-www-form-urlencoded", 400, "bad_payload"),
    ("form-payload-not-json", b"payload=%7Bnot", "application/x-www-form-urlencoded", 400, "bad_payload"),
    (
        "form-payload-without-actions",
        urllib.parse.urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "UBAD"}})}).encode(),
        "application/x-www-form-urlencoded",
        400,
        "bad_payload",
    ),
    ("1mb-body", slack_event("red dress " * 100_000, "UBAD"), "application/json", 413, "body_too_large"),
]


@pytest.mark.stack
@pytest.mark.parametrize(("case", "raw", "ctype", "status", "code"), SLACK_BODIES, ids=[c[0] for c in SLACK_BODIES])
def test_slack_body(chat_stack: Any, case: str, raw: bytes, ctype: str, status: int, code: str) -> None:
    got, answer = signed_slack(chat_stack, raw, ctype)
    assert got == status and answer["error"] == code and "Fix:" in answer["reason"], answer
    assert user_events(chat_stack, "slack:UBAD") == []


@pytest.mark.stack
def test_slack_bad_signature_and_over_long_message(chat_stack: Any) -> None:
    fake = chat_stack.platforms
    start = len(fake.calls)
    status, text = slack_post(chat_stack, slack_event("that one is linen", "UBAD2"), "application/json", secret="guess")
    assert status == 400 and "not properly signed" in text
    status, _ = slack_post(chat_stack, slack_event("x" * 2001, "UBAD2"), "application/json")
    assert status == 200
    posts = fake.wait_for("slack", "chat.postMessage", start)
    assert [p["text"] for p in posts] == [TOO_LONG_2001]  # the forged request got nothing
    assert user_events(chat_stack, "slack:UBAD2") == []


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHAT = {"id": 4343, "type": "private"}
USER = {"id": 4343, "is_bot": False, "first_name": "Bad"}


def telegram(stack: Any, raw: bytes, secret: str | None = None) -> tuple[int, Any]:
    headers = {SECRET_HEADER: secret or stack.env["TELEGRAM_SECRET_TOKEN"]}
    return post(f"{stack.rasa}/webhooks/telegram/webhook", raw, headers)


def update(n: int, **message: Any) -> bytes:
    return body(update_id=n, message={"message_id": n, "date": int(time.time()), "chat": CHAT, "from": USER, **message})


TELEGRAM_BODIES: list[tuple[str, bytes, int, str]] = [
    ("json-list", b"[1, 2, 3]", 400, "not_an_object"),
    ("invalid-json", b'{"update_id": ', 400, "invalid_json"),
    ("message-string", body(update_id=71, message="hi"), 400, "bad_update"),
    ("text-number", update(72, text=5), 400, "bad_update"),
    (
        "no-chat",
        body(update_id=73, message={"message_id": 1, "date": 1, "from": USER, "text": "hi"}),
        400,
        "bad_update",
    ),
    ("callback-not-object", body(update_id=74, callback_query=["tk:1"]), 400, "bad_update"),
    ("1mb-body", update(75, text="red dress " * 100_000), 413, "body_too_large"),
]


@pytest.mark.stack
@pytest.mark.parametrize(("case", "raw", "status", "code"), TELEGRAM_BODIES, ids=[c[0] for c in TELEGRAM_BODIES])
def test_telegram_body(chat_stack: Any, case: str, raw: bytes, status: int, code: str) -> None:
    got, answer = telegram(chat_stack, raw)
    assert got == status and answer["error"] == code and "Fix:" in answer["reason"], answer
    assert user_events(chat_stack, "telegram:4343") == []


@pytest.mark.stack
def test_telegram_bad_secret_and_over_long_message(chat_stack: Any) -> None:
    fake = chat_stack.platforms
    start = len(fake.calls)
    assert telegram(chat_stack, update(81, text="that one is linen"), secret="guess") == (403, "forbidden")
    assert telegram(chat_stack, update(82, text="x" * 2001))[0] == 200
    sent = fake.wait_for("telegram", "sendMessage", start)
    assert [p["text"] for p in sent] == [TOO_LONG_2001] and str(sent[0]["chat_id"]) == "4343"
    assert user_events(chat_stack, "telegram:4343") == []


# -- socket.io (the widget) ---------------------------------------------------------------------------------
@pytest.fixture
def widget(chat_stack: Any) -> Iterator[WidgetClient]:
    client = WidgetClient(chat_stack.rasa, f"bad-sio-{uuid.uuid4().hex[:8]}")
    yield client
    client.close()


SOCKETIO_EVENTS: list[tuple[str, Any, str]] = [
    ("array", ["show me red dresses"], UNREADABLE),
    ("string", "show me red dresses", UNREADABLE),
    ("number-message", {"message": 5}, UNREADABLE),
    ("no-session-id", {"message": "show me red dresses"}, UNREADABLE),
    ("2001-characters", {"message": "x" * 2001}, TOO_LONG_2001),
    ("reserved-session", {"message": "that one is linen", "session_id": "staff:anna"}, RESERVED_TEXT),
]


@pytest.mark.stack
@pytest.mark.parametrize(("case", "data", "expected"), SOCKETIO_EVENTS, ids=[c[0] for c in SOCKETIO_EVENTS])
def test_socketio_event(chat_stack: Any, widget: WidgetClient, case: str, data: Any, expected: str) -> None:
    if isinstance(data, dict) and "session_id" not in data and case != "no-session-id":
        data = {**data, "session_id": widget.session_id}
    widget.sio.emit("user_uttered", data)
    reply = widget.inbox.get(timeout=60)
    assert set(reply) == {"text"} and reply["text"].startswith(expected), reply
    assert user_events(chat_stack, widget.session_id) == []
    assert user_events(chat_stack, "staff:anna") == []


@pytest.mark.stack
def test_socketio_over_size_frame_is_dropped_and_the_session_goes_on(chat_stack: Any) -> None:
    """A frame over TAILOR_MAX_BODY_BYTES is not read: engine.io closes that socket (it cannot be
    answered without reading it); nothing reaches the conversation, which goes on from a new socket.
    """
    session = f"bad-sio-big-{uuid.uuid4().hex[:8]}"
    client = WidgetClient(chat_stack.rasa, session)
    gone: queue.Queue[bool] = queue.Queue()
    client.sio.on("disconnect", lambda *_: gone.put(True))
    try:
        client.sio.emit("user_uttered", {"message": "red dress " * 30_000, "session_id": session})  # 300 KB
        assert gone.get(timeout=30)
        with pytest.raises(queue.Empty):
            client.inbox.get(timeout=1)
    finally:
        with contextlib.suppress(socketio.exceptions.SocketIOError):  # engine.io closed it already
            client.close()
    assert user_events(chat_stack, session) == []
    again = WidgetClient(chat_stack.rasa, session)
    try:
        assert "tailor" in again.say("hi", until=lambda m: "text" in m)[-1]["text"]
    finally:
        again.close()


# -- the CLI -------------------------------------------------------------------------------------------------
def digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> hex), {} if it does not exist."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def model_dir(root: Path, *, manifest: bool) -> Path:
    """A model directory as `tailor train` leaves it (the files the loader looks for, then the manifest)."""
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"epochs": 1}')
    (root / "model.pt").write_bytes(bytes(range(256)) * 64)
    (root / "catalog.json").write_text("[]")
    write_manifest(root)
    if not manifest:
        (root / MANIFEST_FILE).unlink()
    return root


@dataclass(frozen=True)
class CliCase:
    args: tuple[str, ...]
    says: tuple[str, ...]  # in the error line, besides "Fix:"
    dirs: tuple[str, ...] = ()  # the directories (keys of the fixture's paths) that must not change


CLI_CASES: dict[str, CliCase] = {
    "search-missing-model": CliCase(
        ("search", "--model", "{missing}", "--text", "red dress"), ("is not a trained model", "tailor train")
    ),
    "search-manifest-removed": CliCase(
        ("search", "--model", "{unsigned}", "--text", "red dress"),
        ("manifest.json is missing", "tailor train --data"),
        ("unsigned",),
    ),
    "query-corrupt-weights": CliCase(
        ("query", "--model", "{corrupt}", "--image", "dress-01", "--text", "in red"),
        ("model.pt", "does not match its checksum", "restore"),
        ("corrupt",),
    ),
    "catalog-check-malformed-label": CliCase(
        ("catalog", "check", "{malformed}"), (f"{DRESS_TEST}:2", "3 tab-separated columns"), ("malformed",)
    ),
    "catalog-check-unknown-layout": CliCase(
        ("catalog", "check", "{empty}"), ("cannot tell the dataset format",), ("empty",)
    ),
    "catalog-check-missing": CliCase(("catalog", "check", "{missing}"), ("catalog folder does not exist",)),
    "train-missing-data": CliCase(  # a mistyped --data must not unsign the model already in --out
        ("train", "--data", "{missing}", "--out", "{signed}"), ("catalog folder does not exist",), ("signed",)
    ),
    "train-unknown-layout": CliCase(
        ("train", "--data", "{empty}", "--out", "{signed2}"), ("cannot tell the dataset format",), ("signed2",)
    ),
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], dict]]:
    """Every CLI case run at once (each `tailor` start imports torch: ~4 s), with the directories'
    digests before; the tests compare them after.
    """
    root = tmp_path_factory.mktemp("bad-cli")
    corrupt = model_dir(root / "corrupt", manifest=True)
    (corrupt / "model.pt").write_bytes(bytes(reversed(range(256))) * 64)  # same size, other bytes
    malformed = root / "malformed"
    shutil.copytree(F200K, malformed)
    lines = (malformed / DRESS_TEST).read_text().splitlines()
    lines[1] = "women/dresses/cocktail_dresses/10000005/10000005_0.jpeg green lace dress"
    (malformed / DRESS_TEST).write_text("\n".join(lines) + "\n")
    (root / "empty").mkdir()
    (root / "empty" / "notes.txt").write_text("not a catalog\n")
    paths = {
        "missing": root / "does-not-exist",
        "unsigned": model_dir(root / "unsigned", manifest=False),
        "signed": model_dir(root / "signed", manifest=True),
        "signed2": model_dir(root / "signed2", manifest=True),
        "corrupt": corrupt,
        "malformed": malformed,
        "empty": root / "empty",
    }
    before = {name: digest(path) for name, path in paths.items()}
    env = {**os.environ, "TAILOR_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}

    def run(case: CliCase) -> subprocess.CompletedProcess[str]:
        args = [a.format(**{k: str(v) for k, v in paths.items()}) for a in case.args]
        return subprocess.run([str(TAILOR), *args], capture_output=True, text=True, timeout=300, env=env, cwd=REPO)

    with ThreadPoolExecutor(max_workers=3) as pool:
        done = dict(zip(CLI_CASES, pool.map(run, CLI_CASES.values()), strict=True))
    after = {name: digest(path) for name, path in paths.items()}
    return {name: (proc, {"before": before, "after": after}) for name, proc in done.items()}


@pytest.mark.engine
@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli(cli_runs: dict[str, tuple[subprocess.CompletedProcess[str], dict]], case: str) -> None:
    proc, digests = cli_runs[case]
    spec = CLI_CASES[case]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(errors) == 1 and "Fix:" in errors[0], proc.stderr[-2000:]
    assert all(s in errors[0] for s in spec.says), errors[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for name in spec.dirs:
        assert digests["after"][name] == digests["before"][name], f"{case} changed {name}"
    assert digests["after"]["missing"] == {}, f"{case} created the missing directory"


# -- after everything: other shoppers see the same, and nothing was recorded -----------------------------------
@pytest.mark.stack
def test_other_shoppers_see_the_same_and_no_interaction_was_recorded(chat_stack: Any, world: World) -> None:
    newcomer = f"bad-newcomer-{uuid.uuid4().hex[:8]}"
    assert shown_ids(say(chat_stack, newcomer, SEARCH)) == world.shown
    assert like_number(chat_stack, world.canary, world.shown[0]) == world.first_like + world.setup_likes + 1
