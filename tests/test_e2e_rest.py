"""A whole conversation over REST: real Rasa server + real action server (fake engine) on loopback."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

pytestmark = pytest.mark.stack


def post(url: str, payload: dict[str, Any]) -> Any:
    req = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


class Shopper:
    def __init__(self, stack: Any, sender: str) -> None:
        self.stack, self.sender = stack, sender

    def say(self, text: str) -> list[dict[str, Any]]:
        return post(f"{self.stack.rasa}/webhooks/rest/webhook", {"sender": self.sender, "message": text})

    def slots(self) -> dict[str, Any]:
        _, _, body = get(f"{self.stack.rasa}/conversations/{self.sender}/tracker")
        return json.loads(body)["slots"]


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if "text" in m]


def images(messages: list[dict[str, Any]]) -> list[str]:
    return [m["image"] for m in messages if "image" in m]


def test_full_conversation_over_rest(chat_stack: Any) -> None:
    shopper = Shopper(chat_stack, "rest-shopper")
    assert "tailor" in " ".join(texts(shopper.say("hello")))

    out = shopper.say("show me black dresses")
    shown = images(out)
    assert len(shown) == 4 and all(u.startswith(chat_stack.web + "/images/") for u in shown)
    status, ctype, body = get(shown[0])  # the image URL really serves the picture
    assert status == 200 and ctype == "image/jpeg" and body[:2] == b"\xff\xd8"
    cards = [m for m in out if m.get("buttons")]
    assert [b["title"] for b in cards[0]["buttons"]] == ["Select", "I like this"]
    assert [t.split(".")[0] for t in texts(out) if t[:1].isdigit()] == ["1", "2", "3", "4"]
    results = shopper.slots()["results"]
    assert [r["image_id"] for r in results] == [u.rsplit("/", 1)[-1].removesuffix(".jpg") for u in shown]

    out = shopper.say("the second one")
    assert "You picked #2" in " ".join(texts(out))
    assert shopper.slots()["selected"] == results[1]["image_id"]

    out = shopper.say("like this but in red")
    assert len(images(out)) == 4 and shopper.slots()["modifications"] == ["color:red"]
    assert any("Red" in t for t in texts(out))
    state = shopper.slots()
    assert state["query"]["candidate"] == results[1]["image_id"] and state["query"]["kind"] == "modify"

    out = shopper.say("why this one?")
    assert any("replaces black" in t for t in texts(out))

    out = shopper.say("the first one is made of silk")
    assert any("silk" in t and "noted" in t for t in texts(out))

    out = shopper.say("I like the first and third")
    assert any(t.startswith("Glad you like #1") and "#3" in t for t in texts(out))

    out = shopper.say("with pockets")  # modify again: red is kept, pockets added
    assert len(images(out)) == 4
    state = shopper.slots()
    assert state["modifications"] == ["color:red", "details:pockets"]
    assert state["query"]["text"].startswith("with pockets") and "red" in state["query"]["text"]

    out = shopper.say("in navy")  # exclusive colour group: navy replaces red, pockets stay
    assert shopper.slots()["modifications"] == ["details:pockets", "color:navy"]


def test_buttons_select_and_like_by_payload(chat_stack: Any) -> None:
    shopper = Shopper(chat_stack, "button-shopper")
    out = shopper.say("show me red dresses")
    card = [m for m in out if m.get("buttons")][2]
    out = shopper.say(card["buttons"][0]["payload"])  # "Select" on card 3
    assert "You picked #3" in " ".join(texts(out))
    out = shopper.say(card["buttons"][1]["payload"])  # "I like this"
    assert any(t.startswith("Glad you like #3") for t in texts(out))


def test_unclear_and_out_of_scope_get_an_answer(chat_stack: Any) -> None:
    shopper = Shopper(chat_stack, "lost-shopper")
    for text in ("what's the weather like?", "the second one", "why?", "show more", "help"):
        assert texts(shopper.say(text)), f"no answer to {text!r}"
    out = shopper.say("start over")
    assert any("Cleared" in t for t in texts(out)) and shopper.slots()["results"] is None
