"""Slack and Telegram: channel payload formatting, and signed webhooks against the real Rasa server
with the outbound Slack / Telegram API calls caught by a local fake (tests/fake_platforms.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from bot.formatting import (
    CallbackStore,
    CardBuffer,
    card_from,
    slack_blocks,
    telegram_keyboard,
    telegram_media,
    webchat_carousel,
)

LONG_ID = "women/dresses/casual_and_day_dresses/51727804/51727804_0.jpeg"


def card_message(n: int, image_id: str = "dress-01") -> dict[str, Any]:
    return {
        "text": f"{n}. Black dress",
        "image": f"http://img.test/images/{n}.jpg",
        "buttons": [
            {"title": "Select", "payload": f'/select{{"product": "{image_id}"}}'},
            {"title": "I like this", "payload": f'/like{{"product": "{image_id}"}}'},
        ],
    }


# -- formatting (no servers) ---------------------------------------------------------------------
def test_card_buffer_keeps_cards_and_passes_other_messages() -> None:
    buf = CardBuffer()
    assert buf.offer("u1", card_message(1)) and buf.offer("u1", card_message(2))
    assert not buf.offer("u1", {"text": "Pick one"}) and not buf.offer("u1", {"image": "http://x/1.jpg"})
    cards = buf.drain()
    assert [c.number for c in cards] == ["1", "2"] and buf.drain() == [] and buf.recipient == "u1"


def test_webchat_carousel_shape() -> None:
    out = webchat_carousel([card_from(card_message(1)), card_from(card_message(2))])
    payload = out["attachment"]["payload"]
    assert out["attachment"]["type"] == "template" and payload["template_type"] == "generic"
    assert [e["image_url"] for e in payload["elements"]] == [
        "http://img.test/images/1.jpg",
        "http://img.test/images/2.jpg",
    ]
    assert payload["elements"][0]["buttons"][0] == {
        "type": "postback",
        "title": "Select",
        "payload": '/select{"product": "dress-01"}',
    }
    assert payload["elements"][0]["default_action"]["payload"].startswith("/select")


def test_slack_blocks_image_text_buttons_and_limit() -> None:
    blocks = slack_blocks([card_from(card_message(1))])
    assert [b["type"] for b in blocks] == ["image", "section", "actions"]
    assert blocks[0]["image_url"] == "http://img.test/images/1.jpg"
    assert [e["value"] for e in blocks[2]["elements"]][1] == '/like{"product": "dress-01"}'
    many = slack_blocks([card_from(card_message(i)) for i in range(1, 30)])
    assert len(many) <= 50 and len({e["action_id"] for b in many if b["type"] == "actions" for e in b["elements"]}) > 1


def test_telegram_media_keyboard_and_long_payloads() -> None:
    store = CallbackStore()
    cards = [card_from(card_message(i, LONG_ID if i == 2 else "dress-01")) for i in range(1, 13)]
    groups = telegram_media(cards)
    assert [len(g) for g in groups] == [10, 2] and groups[0][0] == {
        "type": "photo",
        "media": "http://img.test/images/1.jpg",
        "caption": "1. Black dress",
    }
    rows = telegram_keyboard(cards, store)["inline_keyboard"]
    assert rows[0][0] == {"text": "#1 Select", "callback_data": '/select{"product": "dress-01"}'}
    short = rows[1][0]["callback_data"]
    assert len(short.encode()) <= 64 and short.startswith("tk:")
    assert store.expand(short) == f'/select{{"product": "{LONG_ID}"}}' and store.expand("/greet") == "/greet"


# -- signed webhooks against the running stack -------------------------------------------------------
def slack_post(stack: Any, body: bytes, ctype: str, secret: str | None = None, age: int = 0) -> tuple[int, str]:
    ts = str(int(time.time()) - age)
    sig = (
        "v0="
        + hmac.new(
            (secret or stack.env["SLACK_SIGNING_SECRET"]).encode(), f"v0:{ts}:".encode() + body, hashlib.sha256
        ).hexdigest()
    )
    req = urllib.request.Request(
        f"{stack.rasa}/webhooks/slack/webhook",
        body,
        {"Content-Type": ctype, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def slack_event(text: str, user: str = "U123") -> bytes:
    event = {
        "type": "message",
        "channel": "D123",
        "user": user,
        "text": text,
        "ts": f"{time.time():.6f}",
        "channel_type": "im",
    }
    return json.dumps(
        {"type": "event_callback", "team_id": "T1", "event": event, "authorizations": [{"user_id": "UBOT"}]}
    ).encode()


@pytest.mark.stack
def test_slack_signed_event_gets_block_kit_products(chat_stack: Any) -> None:
    fake = chat_stack.platforms
    start = len(fake.calls)
    status, _ = slack_post(chat_stack, slack_event("show me black dresses"), "application/json")
    assert status == 200
    posts = fake.wait_for("slack", "chat.postMessage", start)
    deadline = time.monotonic() + 60
    while not any("Pick one" in p.get("text", "") for p in posts) and time.monotonic() < deadline:
        time.sleep(0.2)
        posts = fake.wait_for("slack", "chat.postMessage", start)
    with_blocks = [p for p in posts if any(b["type"] == "image" for b in p.get("blocks", []))]
    assert len(with_blocks) == 1 and with_blocks[0]["channel"] == "D123"
    blocks = with_blocks[0]["blocks"]
    assert [b["type"] for b in blocks] == ["image", "section", "actions"] * 4
    assert blocks[0]["image_url"].startswith(chat_stack.web + "/images/")
    select = blocks[2]["elements"][0]
    assert select["text"]["text"] == "Select"

    # a button click arrives form-encoded with the block's value: it selects product 1
    start = len(fake.calls)
    action = {
        "type": "block_actions",
        "user": {"id": "U123"},
        "channel": {"id": "D123"},
        "message": {"ts": "1.0"},
        "actions": [{"type": "button", "action_id": select["action_id"], "value": select["value"]}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(action)}).encode()
    status, _ = slack_post(chat_stack, body, "application/x-www-form-urlencoded")
    assert status == 200
    posts = fake.wait_for("slack", "chat.postMessage", start)
    assert any(p["text"].startswith("You picked #1") for p in posts)


@pytest.mark.stack
def test_slack_rejects_bad_or_stale_signatures(chat_stack: Any) -> None:
    fake = chat_stack.platforms
    start = len(fake.calls)
    assert slack_post(chat_stack, slack_event("hi", "U999"), "application/json", secret="wrong-secret")[0] == 400
    assert slack_post(chat_stack, slack_event("hi", "U999"), "application/json", age=3600)[0] == 400
    time.sleep(2)
    assert not [c for c in fake.calls[start:] if c[0] == "slack"]


def telegram_post(stack: Any, update: dict[str, Any], secret: str | None = None) -> int:
    req = urllib.request.Request(
        f"{stack.rasa}/webhooks/telegram/webhook",
        json.dumps(update).encode(),
        {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": secret or stack.env["TELEGRAM_SECRET_TOKEN"],
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


CHAT = {"id": 4242, "type": "private"}
USER = {"id": 4242, "is_bot": False, "first_name": "Ann"}


@pytest.mark.stack
def test_telegram_media_group_keyboard_and_callback(chat_stack: Any) -> None:
    fake = chat_stack.platforms
    start = len(fake.calls)
    update = {
        "update_id": 1,
        "message": {
            "message_id": 5,
            "date": int(time.time()),
            "chat": CHAT,
            "from": USER,
            "text": "show me black dresses",
        },
    }
    assert telegram_post(chat_stack, update) == 200
    methods = [m for p, m, _ in fake.calls[start:] if p == "telegram"]
    assert "getMe" not in methods and "setWebhook" not in methods
    group = fake.wait_for("telegram", "sendMediaGroup", start)[0]
    assert str(group["chat_id"]) == "4242" and len(group["media"]) == 4
    assert group["media"][0]["type"] == "photo" and group["media"][0]["media"].startswith(chat_stack.web + "/images/")
    keyboards = [p for p in fake.wait_for("telegram", "sendMessage", start) if "reply_markup" in p]
    assert len(keyboards) == 1 and "Pick one" in keyboards[0]["text"]
    rows = keyboards[0]["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in rows[1]] == ["#2 Select", "#2 I like this"]

    start = len(fake.calls)
    callback = {
        "update_id": 2,
        "callback_query": {
            "id": "cb-1",
            "from": USER,
            "chat_instance": "ci",
            "data": rows[1][0]["callback_data"],
            "message": {"message_id": 6, "date": int(time.time()), "chat": CHAT, "text": "Pick one"},
        },
    }
    assert telegram_post(chat_stack, callback) == 200
    assert fake.wait_for("telegram", "answerCallbackQuery", start)[0]["callback_query_id"] == "cb-1"
    texts = [p["text"] for p in fake.wait_for("telegram", "sendMessage", start)]
    assert any(t.startswith("You picked #2") for t in texts)


@pytest.mark.stack
def test_telegram_rejects_updates_without_the_secret(chat_stack: Any) -> None:
    fake = chat_stack.platforms
    start = len(fake.calls)
    update = {
        "update_id": 3,
        "message": {"message_id": 7, "date": int(time.time()), "chat": CHAT, "from": USER, "text": "hi"},
    }
    assert telegram_post(chat_stack, update, secret="guess") == 403
    assert not [c for c in fake.calls[start:] if c[0] == "telegram"]


@pytest.mark.stack
def test_slack_and_telegram_answer_over_long_messages_without_nlu(chat_stack: Any) -> None:
    fake = chat_stack.platforms
    long_text = "red dress " * 500  # 5,000 characters: over the 2,000-character default
    start = len(fake.calls)
    assert slack_post(chat_stack, slack_event(long_text, "U777"), "application/json")[0] == 200
    posts = fake.wait_for("slack", "chat.postMessage", start)
    assert any("That message is too long" in p.get("text", "") for p in posts), posts

    start = len(fake.calls)
    update = {
        "update_id": 9,
        "message": {"message_id": 9, "date": int(time.time()), "chat": CHAT, "from": USER, "text": long_text},
    }
    assert telegram_post(chat_stack, update) == 200
    texts = [p["text"] for p in fake.wait_for("telegram", "sendMessage", start)]
    assert any("That message is too long" in t for t in texts), texts
    assert not [m for p, m, _ in fake.calls[start:] if p == "telegram" and m == "sendMediaGroup"]  # not searched


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@pytest.mark.stack
def test_slack_and_telegram_refuse_oversized_or_malformed_bodies(chat_stack: Any) -> None:
    huge = slack_event("red dress " * 100_000)  # 1 MB
    assert slack_post(chat_stack, huge, "application/json")[0] == 413
    req = urllib.request.Request(
        f"{chat_stack.rasa}/webhooks/telegram/webhook",
        b"[1, 2, 3]",
        {"Content-Type": "application/json", SECRET_HEADER: chat_stack.env["TELEGRAM_SECRET_TOKEN"]},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 400 and json.loads(err.value.read())["error"] == "not_an_object"
