"""The widget's socket.io channel with a python-socketio client: carousel cards, session persistence."""

from __future__ import annotations

import queue
import uuid
from typing import Any

import pytest
import socketio

from bot.identity import mint_staff_token

pytestmark = pytest.mark.stack


class WidgetClient:
    """Talks to Rasa like rasa-webchat does: session_request, then user_uttered with the session id."""

    def __init__(self, url: str, session_id: str) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.confirmed: queue.Queue[str] = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("bot_uttered", self.inbox.put)
        self.sio.on("session_confirm", self.confirmed.put)
        self.sio.connect(url, socketio_path="/socket.io", transports=["websocket"])
        self.session_id = session_id
        self.sio.emit("session_request", {"session_id": session_id})
        assert self.confirmed.get(timeout=30) == session_id

    def say(self, text: str, until: Any, timeout: float = 60.0) -> list[Any]:
        """Send ``text``; collect bot messages until ``until(message)`` is true."""
        self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})
        got = []
        while True:
            msg = self.inbox.get(timeout=timeout)
            got.append(msg)
            if until(msg):
                return got

    def close(self) -> None:
        self.sio.disconnect()


def is_carousel(msg: Any) -> bool:
    return isinstance(msg, dict) and msg.get("attachment", {}).get("payload", {}).get("template_type") == "generic"


def test_socketio_carousel_buttons_and_persistent_session(chat_stack: Any) -> None:
    session = uuid.uuid4().hex
    client = WidgetClient(chat_stack.rasa, session)
    try:
        got = client.say("show me black dresses", until=lambda m: "Pick one" in m.get("text", ""))
    finally:
        client.close()
    assert got[0]["text"].startswith("Here are 4 results")
    carousels = [m for m in got if is_carousel(m)]
    assert len(carousels) == 1  # the turn's four cards arrive as one carousel
    elements = carousels[0]["attachment"]["payload"]["elements"]
    assert [e["title"][:2] for e in elements] == ["1.", "2.", "3.", "4."]
    assert all(e["image_url"].startswith(chat_stack.web + "/images/") for e in elements)
    assert [b["title"] for b in elements[0]["buttons"]] == ["Select", "I like this"]
    assert elements[1]["buttons"][0]["payload"].startswith('/select{"product": ')
    assert got.index(carousels[0]) < len(got) - 1  # the footer came after the cards

    again = WidgetClient(chat_stack.rasa, session)  # new socket, same session: the conversation continues
    try:
        got = again.say(elements[1]["buttons"][0]["payload"], until=lambda m: "text" in m)
    finally:
        again.close()
    assert got[-1]["text"].startswith("You picked #2")


def test_plain_messages_keep_their_shape(chat_stack: Any) -> None:
    client = WidgetClient(chat_stack.rasa, uuid.uuid4().hex)
    try:
        got = client.say("hi", until=lambda m: "text" in m)
    finally:
        client.close()
    assert set(got[-1]) == {"text"} and "tailor" in got[-1]["text"]


def test_over_long_widget_message_gets_a_clear_answer(chat_stack: Any) -> None:
    client = WidgetClient(chat_stack.rasa, uuid.uuid4().hex)
    try:
        got = client.say("red dress " * 500, until=lambda m: "text" in m)
        assert "too long (5,000 characters)" in got[-1]["text"]
        got = client.say("hi", until=lambda m: "text" in m)  # the session goes on
    finally:
        client.close()
    assert "tailor" in got[-1]["text"]


def test_storefront_payloads_follow_the_cards_also_for_staff(chat_stack: Any) -> None:
    """The page's own payloads (actions/storefront.py) reach the socket's session room, as the cards do,
    also when a staff token makes the sender ``staff:<name>`` rather than the session id.
    """
    token = mint_staff_token("anna", 1, secret=chat_stack.env["TAILOR_STAFF_SECRET"])
    for custom in ({}, {"staff_token": token}):
        client = WidgetClient(chat_stack.rasa, uuid.uuid4().hex)
        try:
            message = {"message": "show me black dresses", "session_id": client.session_id, "customData": custom}
            client.sio.emit("user_uttered", message)
            got = []
            while not got or "storefront" not in got[-1]:
                got.append(client.inbox.get(timeout=60))
        finally:
            client.close()
        carousel = next(m for m in got if is_carousel(m))
        shown = [e["image_url"] for e in carousel["attachment"]["payload"]["elements"]]
        assert [r["image_url"] for r in got[-1]["storefront"]["results"]] == shown, custom
