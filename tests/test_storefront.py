"""The storefront payloads the actions send the web page (real rasa-sdk actions, the fake engine)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import engine_provider
from actions.browse import ActionModify, ActionSearch
from actions.choose import ActionExplain, ActionSelect
from actions.feedback import ActionLike, ActionStartOver
from actions.storefront import explanation, select_payload
from actions.undo import ActionUndo
from retrieval.api import Explanation, GraphEdge, GraphNode
from retrieval.engine.fake import FakeEngine

pytestmark = pytest.mark.unit


class WebChat:
    """Runs actions as Rasa would for one conversation on ``channel``; collects the page payloads."""

    def __init__(self, channel: str = "socketio") -> None:
        self.channel = channel
        self.slots: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []

    def turn(self, action: Any, text: str, intent: str, entities: list[dict[str, Any]] | None = None) -> list[dict]:
        message = {"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or []}
        self.history.append({"event": "user", "text": text, "parse_data": message, "input_channel": self.channel})
        tracker = Tracker("web-1", dict(self.slots), message, list(self.history), False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        events = action.run(dispatcher, tracker, {})
        self.history += events
        for ev in events:
            if ev["event"] == "slot":
                self.slots[ev["name"]] = ev["value"]
            elif ev["event"] == "reset_slots":
                self.slots = {}
        return dispatcher.messages

    def say(self, text: str) -> list[dict]:
        """What the page sends for a chip: the Select payload or words (this test's NLU: by form)."""
        if text.startswith("/select"):
            return self.turn(ActionSelect(), text, "select", [{"entity": "product", "value": text.split('"')[3]}])
        if text.startswith("show me"):
            return self.turn(ActionSearch(), text, "search")
        return self.turn(ActionModify(), text, "modify")


def payloads(messages: list[dict], key: str) -> list[dict]:
    return [m["custom"]["data"][key] for m in messages if key in ((m.get("custom") or {}).get("data") or {})]


@pytest.fixture()
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    monkeypatch.setenv("TAILOR_PUBLIC_URL", "http://shop.test:9000")
    monkeypatch.delenv("TAILOR_PAGE_SIZE", raising=False)
    fake = FakeEngine.load()
    engine_provider.set_engine(fake)
    yield fake
    engine_provider.set_engine(None)


def test_each_turn_tells_the_page_results_pick_changes_and_likes(engine: FakeEngine) -> None:
    chat = WebChat()
    (found,) = payloads(chat.turn(ActionSearch(), "show me red dresses", "search"), "storefront")
    assert [r["number"] for r in found["results"]] == [1, 2, 3, 4] and found["pick"] is None
    assert all(r["image_url"].startswith("http://shop.test:9000/images/") and r["title"] for r in found["results"])
    assert found["query"] == "show me red dresses" and found["changes"] == []

    second = found["results"][1]
    (picked,) = payloads(chat.turn(ActionSelect(), "the second one", "select"), "storefront")
    pick = picked["pick"]
    assert pick["image_id"] == second["image_id"] and pick["title"] == second["title"]
    assert pick["image_url"] == second["image_url"] and pick["category"] == "dress"
    described = engine.describe(second["image_id"]).explanation.shared
    assert [f"{a['group']}:{a['value']}" for a in pick["attributes"]] == list(described) and described

    chat.turn(ActionModify(), "like this but in black", "modify")
    (changed,) = payloads(chat.turn(ActionModify(), "with long sleeves", "modify"), "storefront")
    assert [c["label"] for c in changed["changes"]] == ["black", "long sleeve"]
    assert changed["pick"]["image_id"] == second["image_id"]  # the pick stays while its results change
    assert second["image_id"] not in [r["image_id"] for r in changed["results"]]

    first = changed["results"][0]["image_id"]
    (liked,) = payloads(chat.turn(ActionLike(), "/like", "like", [{"entity": "product", "value": first}]), "storefront")
    assert liked["liked"] == [first] and liked["changes"] == changed["changes"]
    (undone,) = payloads(chat.turn(ActionUndo(), "undo that", "undo"), "storefront")
    assert undone["unliked"] == [first] and undone["liked"] == [] and undone["pick"] == liked["pick"]

    (reset,) = payloads(chat.turn(ActionStartOver(), "start over", "start_over"), "storefront")
    assert reset == {"results": [], "query": "", "pick": None, "changes": [], "liked": [], "unliked": []}


def test_removing_a_chip_says_what_reruns_the_query_without_it(engine: FakeEngine) -> None:
    chat = WebChat()
    chat.turn(ActionSearch(), "show me red dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    pick = chat.slots["selected"]
    chat.turn(ActionModify(), "like this but in black", "modify")
    (state,) = payloads(chat.turn(ActionModify(), "with long sleeves", "modify"), "storefront")
    black, _ = state["changes"]
    assert black["say"] == [select_payload(pick), "like this but long sleeve"]
    for text in black["say"]:
        out = chat.say(text)
    (after,) = payloads(out, "storefront")
    assert [c["label"] for c in after["changes"]] == ["long sleeve"] and after["pick"]["image_id"] == pick
    assert engine.calls[-1] == ("modify", (pick, "like this but long sleeve", 4, "web-1", ()))

    assert after["changes"][0]["say"] == ["show me red dresses", select_payload(pick)]  # the last one
    for text in after["changes"][0]["say"]:
        out = chat.say(text)
    (last,) = payloads(out, "storefront")
    assert last["changes"] == [] and last["pick"]["image_id"] == pick
    assert engine.calls[-1][0] == "search" and engine.calls[-1][1][0] == "show me red dresses"


def test_why_this_one_sends_the_explanation_graph(engine: FakeEngine) -> None:
    chat = WebChat()
    chat.turn(ActionSearch(), "black dress", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    chat.turn(ActionModify(), "in red", "modify")
    out = chat.turn(ActionExplain(), "why the second one?", "explain")
    (exp,) = payloads(out, "explanation")
    second = chat.slots["results"][1]
    assert exp["product"] == second["image_id"] and exp["candidate"] == chat.slots["selected"]
    assert exp["number"] == 2 and exp["title"] == second["title"] and "replaces black" in exp["text"]
    assert [m["response"] for m in out if m.get("response")] == ["utter_explanation"]  # the words still come first


def test_explanation_payload_lists_each_node_once_and_keeps_edge_weights() -> None:
    image, pick = GraphNode("image", 7, "dress-02"), GraphNode("image", 3, "dress-01")
    black = GraphNode("attribute", 12, "color:black")
    words = GraphNode("caption", -1, "in black")  # the query's own caption, not in the graph
    exp = Explanation(
        matched=("color:black",),
        edges=(GraphEdge(image, "has_attribute", black), GraphEdge(pick, "has_attribute", black, weight=0.25)),
        query_edges=(GraphEdge(words, "mentions", black, weight=-0.5),),
        text="It has black as you asked.",
    )
    out = explanation({"image_id": "dress-02", "number": 2, "title": "Black dress"}, exp, "dress-01")
    assert out["nodes"] == [
        {"id": "image:7", "kind": "image", "label": "dress-02"},
        {"id": "attribute:12", "kind": "attribute", "label": "color:black"},
        {"id": "image:3", "kind": "image", "label": "dress-01"},
        {"id": "caption:-1", "kind": "caption", "label": "in black"},
    ]
    assert out["edges"] == [
        {"source": "image:7", "target": "attribute:12", "relation": "has_attribute", "weight": 0.0},
        {"source": "image:3", "target": "attribute:12", "relation": "has_attribute", "weight": 0.25},
        {"source": "caption:-1", "target": "attribute:12", "relation": "mentions", "weight": -0.5},
    ]
    assert out["product"] == "dress-02" and out["candidate"] == "dress-01" and out["text"] == exp.text


def test_other_channels_get_no_page_payloads(engine: FakeEngine) -> None:
    for channel in ("rest", "slack", "telegram", "cmdline"):
        chat = WebChat(channel)
        out = chat.turn(ActionSearch(), "show me red dresses", "search")
        out += chat.turn(ActionSelect(), "the first one", "select")
        out += chat.turn(ActionExplain(), "why the second one?", "explain")
        assert not [m for m in out if m.get("custom")], channel
