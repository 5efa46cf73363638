"""The custom actions, turn by turn, with hand-built trackers and the fake engine (real rasa-sdk)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import engine_provider
from actions.browse import ActionClarify, ActionModify, ActionSearch, ActionShowMore
from actions.choose import ActionExplain, ActionSelect
from actions.feedback import ActionAddMetadata, ActionDislike, ActionLike, ActionStartOver
from actions.modifications import unmet_phrase
from actions.undo import ActionUndo
from retrieval.engine.fake import FakeEngine
from retrieval.errors import InvalidQueryError, ModelNotFoundError

SLOTS = (
    "selected_category",
    "results",
    "page",
    "query",
    "selected",
    "selected_title",
    "modifications",
    "mod_notes",
    "last_text",
    "search_text",
    "excluded",
    "last_interaction",
)


class Chat:
    """Runs actions like Rasa would: a tracker built from the slots, SlotSet events applied after."""

    def __init__(self, sender: str = "shopper-1") -> None:
        self.sender = sender
        self.slots: dict[str, Any] = dict.fromkeys(SLOTS)
        self.events: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []  # every event so far, as Rasa sends the tracker's events

    def turn(self, action: Any, text: str, intent: str, entities: list[dict[str, Any]] | None = None) -> list[dict]:
        message = {"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or []}
        tracker = Tracker(self.sender, dict(self.slots), message, list(self.history), False, None, {}, "action_listen")
        dispatcher = CollectingDispatcher()
        self.events = action.run(dispatcher, tracker, {})
        self.history += self.events
        for ev in self.events:
            if ev["event"] == "slot":
                self.slots[ev["name"]] = ev["value"]
            elif ev["event"] == "reset_slots":
                self.slots = dict.fromkeys(SLOTS)
        return dispatcher.messages


def cards(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m.get("response") == "utter_product_card"]


def responses(messages: list[dict]) -> list[str]:
    return [m["response"] for m in messages if m.get("response")]


@pytest.fixture()
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    monkeypatch.setenv("TAILOR_PUBLIC_URL", "http://shop.test:9000")
    monkeypatch.delenv("TAILOR_PAGE_SIZE", raising=False)
    fake = FakeEngine.load()
    engine_provider.set_engine(fake)
    yield fake
    engine_provider.set_engine(None)


def test_search_shows_four_numbered_cards_with_images_and_state(engine: FakeEngine) -> None:
    chat = Chat()
    out = chat.turn(ActionSearch(), "show me black dresses", "search")
    shown = cards(out)
    assert [c["number"] for c in shown] == [1, 2, 3, 4]
    assert all(c["image_url"].startswith("http://shop.test:9000/images/images/") for c in shown)
    assert {c["image_id"] for c in shown} >= {"dress-01", "dress-05", "dress-08"}
    assert responses(out)[0] == "utter_results_header" and responses(out)[-1] == "utter_results_footer"
    assert chat.slots["query"] == {"kind": "search", "text": "show me black dresses", "candidate": None}
    assert [r["number"] for r in chat.slots["results"]] == [1, 2, 3, 4] and chat.slots["selected"] is None
    assert engine.calls[-1][0] == "search" and engine.calls[-1][1][2] == "shopper-1"


def test_page_size_is_configurable(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_PAGE_SIZE", "2")
    assert len(cards(Chat().turn(ActionSearch(), "red dress", "search"))) == 2


def test_select_by_ordinal_hash_attribute_and_button(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "show me dresses", "search")
    results = chat.slots["results"]
    out = chat.turn(ActionSelect(), "the second one", "select")
    assert chat.slots["selected"] == results[1]["image_id"] and responses(out) == ["utter_selected"]
    chat.turn(ActionSelect(), "#3", "select")
    assert chat.slots["selected"] == results[2]["image_id"]
    colour = results[0]["caption"].split()[0]  # first word of a fixture caption is its colour
    if sum(r["caption"].startswith(colour) for r in results) == 1:
        chat.turn(ActionSelect(), f"the {colour} one", "select")
        assert chat.slots["selected"] == results[0]["image_id"]
    chat.turn(ActionSelect(), "/select", "select", [{"entity": "product", "value": results[3]["image_id"]}])
    assert chat.slots["selected"] == results[3]["image_id"]
    out = chat.turn(ActionSelect(), "that one", "select")
    assert responses(out) == ["utter_which_one"]
    chat.turn(ActionShowMore(), "more", "show_more")  # a button of the first page still works
    out = chat.turn(ActionSelect(), "/select", "select", [{"entity": "product", "value": results[0]["image_id"]}])
    assert responses(out) == ["utter_selected_product"] and chat.slots["selected"] == results[0]["image_id"]


def test_modifications_apply_to_selection_and_accumulate(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "show me red dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    picked = chat.slots["selected"]
    out = chat.turn(ActionModify(), "like this but in black", "modify")
    assert engine.calls[-1][:1] == ("modify",) and engine.calls[-1][1][0] == picked
    assert chat.slots["modifications"] == ["color:black"] and cards(out)
    assert picked not in [c["image_id"] for c in cards(out)]
    chat.turn(ActionModify(), "longer", "modify")
    assert engine.calls[-1][1][1] == "longer, black"  # "longer" keeps black
    assert chat.slots["modifications"] == ["color:black"] and chat.slots["mod_notes"] == ["longer"]
    chat.turn(ActionModify(), "in navy with a belt", "modify")
    assert chat.slots["modifications"] == ["color:navy", "details:belt"]  # exclusive colour replaced
    assert "black" not in engine.calls[-1][1][1] and "longer" in engine.calls[-1][1][1]
    chat.turn(ActionModify(), "with pockets", "modify")
    assert chat.slots["modifications"] == ["color:navy", "details:belt", "details:pockets"]  # independent adds
    assert engine.calls[-1][1][0] == picked  # always the selected product


def test_a_change_too_few_products_carry_is_said_not_hidden(engine: FakeEngine) -> None:
    """Issue 11: the answer names what it could not meet, then shows the closest products."""
    chat = Chat()
    chat.turn(ActionSearch(), "show me red dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    out = chat.turn(ActionModify(), "in green with long sleeves and a zip", "modify")
    notes = [m for m in out if m.get("response") == "utter_modify_unmet"]
    assert len(notes) == 1 and cards(out), responses(out)
    assert notes[0]["missing"] == "green, long sleeve and zip"
    assert responses(out).index("utter_modify_unmet") < responses(out).index("utter_product_card")
    chat = Chat("shopper-2")
    chat.turn(ActionSearch(), "show me red dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    out = chat.turn(ActionModify(), "in black", "modify")
    assert "utter_modify_unmet" not in responses(out), "a request four products meet needs no apology"


def test_unmet_values_in_words() -> None:
    assert unmet_phrase(["color:red"]) == "red"
    assert unmet_phrase(["category:skirt", "-details:hood", "sleeve:long-sleeve"]) == (
        "a skirt, without hood and long sleeve"
    )


def test_search_words_after_a_selection(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "show me red dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    assert chat.slots["selected_category"] == "dress"
    chat.turn(ActionSearch(), "with pockets", "search")  # NLU said search; it refines the selection
    assert engine.calls[-1][0] == "modify" and chat.slots["modifications"] == ["details:pockets"]
    chat.turn(ActionSearch(), "a longer dress", "search")  # same category: still a refinement
    assert engine.calls[-1][0] == "modify" and chat.slots["selected"]
    chat.turn(ActionSearch(), "a leather jacket", "search")  # another category: a new search
    assert engine.calls[-1][0] == "search" and chat.slots["selected"] is None
    chat.turn(ActionSelect(), "the first one", "select")
    chat.turn(ActionSearch(), "show me black shirts", "search")
    assert engine.calls[-1][0] == "search" and chat.slots["modifications"] == []


def test_modify_before_selection_refines_the_search(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "red dresses", "search")
    out = chat.turn(ActionModify(), "in black", "modify")
    assert engine.calls[-1][0] == "search" and "red" not in engine.calls[-1][1][0]
    assert cards(out)[0]["image_id"] in {"dress-01", "dress-05", "dress-08"}


def test_show_more_pages_until_exhausted(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "dress", "search")
    first = [r["image_id"] for r in chat.slots["results"]]
    out = chat.turn(ActionShowMore(), "show more", "show_more")
    second = [r["image_id"] for r in chat.slots["results"]]
    assert responses(out)[0] == "utter_more_header" and not set(first) & set(second) and chat.slots["page"] == 1
    for _ in range(3):
        out = chat.turn(ActionShowMore(), "more", "show_more")
    assert responses(out) == ["utter_no_more_results"]


def test_explain_uses_engine_explanation(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "black dress", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    chat.turn(ActionModify(), "in red", "modify")
    out = chat.turn(ActionExplain(), "why the second one?", "explain")
    assert responses(out) == ["utter_explanation"] and out[0]["number"] == 2
    assert "replaces black" in out[0]["explanation"]
    assert engine.calls[-1] == ("explain", (chat.slots["selected"], "in red", chat.slots["results"][1]["image_id"]))


def test_how_come_you_picked_explains_the_named_card_and_why_these_every_card(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "show me dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    chat.turn(ActionModify(), "nice, but with long sleeves and in red", "modify")
    out = chat.turn(ActionExplain(), "how come you picked the first one?", "explain")
    assert responses(out) == ["utter_explanation"] and out[0]["number"] == 1
    assert engine.calls[-1][1][2] == chat.slots["results"][0]["image_id"]
    assert chat.slots["selected"] and "red" in chat.slots["query"]["text"]  # the pick is unchanged
    out = chat.turn(ActionExplain(), "why these?", "explain")
    assert [m["number"] for m in out] == [c["number"] for c in chat.slots["results"]]


def _refuse(*_args: Any, **_kwargs: Any) -> None:
    """What the real engine does with text of no known word (retrieval/catalog/wording.py)."""
    raise InvalidQueryError("I don't recognise any word in 'asdkjh qwpoe'.", fix="describe the product in words")


def test_noise_after_a_pick_gets_a_clarifying_answer(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "show me dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    chat.turn(ActionModify(), "in red", "modify")
    before = dict(chat.slots)
    monkeypatch.setattr(engine, "modify", _refuse)
    monkeypatch.setattr(engine, "search", _refuse)
    assert responses(chat.turn(ActionModify(), "asdkjh qwpoe", "modify")) == ["utter_unclear_change"]
    assert responses(chat.turn(ActionSearch(), "asdkjh qwpoe", "search")) == ["utter_unclear_change"]
    assert chat.slots == before  # neither the pick nor its changes moved
    assert responses(chat.turn(ActionClarify(), "uh", "nlu_fallback")) == ["utter_unclear_change"]
    fresh = Chat()  # nothing picked: the general answers
    assert responses(fresh.turn(ActionSearch(), "asdkjh qwpoe", "search")) == ["utter_invalid_query"]
    assert responses(fresh.turn(ActionClarify(), "uh", "nlu_fallback")) == ["utter_default"]


def test_noise_is_judged_on_its_own_words_not_on_the_carried_changes(
    engine: FakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real engine would see "asdkjh qwpoe, red" (the earlier change carried) and answer it."""
    from retrieval.catalog.taxonomy import Taxonomy
    from retrieval.catalog.wording import Lexicon

    chat = Chat()
    chat.turn(ActionSearch(), "show me dresses", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    chat.turn(ActionModify(), "in red", "modify")
    before = dict(chat.slots)
    lexicon = Lexicon({"in", "make", "it"} | {w for p in Taxonomy.load().phrases for w in p.split()})
    monkeypatch.setattr(type(engine), "lexicon", lexicon, raising=False)
    calls = len(engine.calls)
    assert responses(chat.turn(ActionModify(), "asdkjh qwpoe", "modify")) == ["utter_unclear_change"]
    assert responses(chat.turn(ActionSearch(), "asdkjh qwpoe", "search")) == ["utter_unclear_change"]
    assert len(engine.calls) == calls and chat.slots == before
    assert cards(chat.turn(ActionModify(), "make it blck", "modify"))  # a typo next to known words is a query


def test_metadata_resolves_the_product_and_changes_the_next_answer(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "dresses", "search")
    second = chat.slots["results"][1]
    out = chat.turn(ActionAddMetadata(), "the second one is made of silk", "add_metadata")
    assert responses(out) == ["utter_metadata_recorded"] and out[0]["attributes"] == "silk"
    assert engine.calls[-1] == ("add_metadata", (second["image_id"], "the second one is made of silk", "shopper-1"))
    out = chat.turn(ActionSearch(), "silk dress", "search")
    assert cards(out)[0]["image_id"] == second["image_id"]
    out = chat.turn(ActionAddMetadata(), "the first one is lovely", "add_metadata")
    assert responses(out) == ["utter_interaction_failed"] and "no attribute" in out[0]["detail"]


def test_metadata_about_that_one_uses_the_selection(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "shirts", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    chat.turn(ActionAddMetadata(), "that one is linen", "add_metadata")
    assert engine.calls[-1][1][0] == chat.slots["selected"]


def test_like_first_and_third(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "dresses", "search")
    ids = [r["image_id"] for r in chat.slots["results"]]
    out = chat.turn(ActionLike(), "I like the first and third", "like")
    assert engine.calls[-1] == ("like", (None, "dresses", (ids[0], ids[2]), "shopper-1"))
    assert responses(out) == ["utter_liked"] and "#1" in out[0]["titles"] and "#3" in out[0]["titles"]


def test_i_like_it_about_the_pick_records_a_like_of_the_pick(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "show me red dresses", "search")
    chat.turn(ActionSelect(), "the second one", "select")
    picked = chat.slots["selected"]
    out = chat.turn(ActionLike(), "I like it", "like")
    assert engine.calls[-1] == ("like", (None, "show me red dresses", (picked,), "shopper-1"))
    assert responses(out) == ["utter_liked"] and isinstance(chat.slots["last_interaction"], int)
    chat.turn(ActionModify(), "like this but in black", "modify")
    assert chat.slots["query"]["candidate"] == picked  # the pick is the candidate, not a result, of its modification
    for words in ("I like it", "I like this one", "love it"):
        out = chat.turn(ActionLike(), words, "like")
        # the real engine refuses a like of the candidate alone: the pick is liked for the search that found it
        assert engine.calls[-1] == ("like", (None, "show me red dresses", (picked,), "shopper-1")), words
        assert responses(out) == ["utter_liked"]
    first = chat.slots["results"][0]["image_id"]
    chat.turn(ActionLike(), "I like the first one", "like")
    assert engine.calls[-1] == ("like", (picked, chat.slots["query"]["text"], (first,), "shopper-1"))


def test_dislike_excludes_and_refreshes(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "black dress", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    gone = chat.slots["selected"]
    out = chat.turn(ActionDislike(), "not that one", "dislike")
    assert responses(out)[0] == "utter_disliked" and chat.slots["excluded"] == [gone]
    assert chat.slots["selected"] is None and gone not in [c["image_id"] for c in cards(out)]
    chat.turn(ActionSearch(), "black dress", "search")
    assert gone not in [r["image_id"] for r in chat.slots["results"]]


def test_undo_forgets_the_last_statement_then_has_nothing_to_undo(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "dresses", "search")
    second = chat.slots["results"][1]
    before = [c["image_id"] for c in cards(chat.turn(ActionSearch(), "silk dress", "search"))]
    chat.turn(ActionSearch(), "dresses", "search")
    chat.turn(ActionAddMetadata(), "the second one is made of silk", "add_metadata")
    stated = chat.slots["last_interaction"]
    assert (
        isinstance(stated, int)
        and cards(chat.turn(ActionSearch(), "silk dress", "search"))[0]["image_id"] == (second["image_id"])
    )
    out = chat.turn(ActionUndo(), "no, undo it", "undo")
    assert responses(out) == ["utter_undone_metadata"] and out[0]["titles"] == f'"{second["title"]}"'
    assert out[0]["attributes"] == "silk" and ("undo", (stated, "shopper-1")) in engine.calls
    assert chat.slots["last_interaction"] is None and "material:silk" not in engine.items[second["image_id"]].attrs
    assert [c["image_id"] for c in cards(chat.turn(ActionSearch(), "silk dress", "search"))] == before
    calls = len(engine.calls)
    assert responses(chat.turn(ActionUndo(), "undo that", "undo")) == ["utter_nothing_to_undo"]
    assert len(engine.calls) == calls  # nothing asked of the engine


def test_undo_a_dislike_shows_the_product_again(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "black dress", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    gone = chat.slots["selected"]
    title = chat.slots["selected_title"]
    chat.turn(ActionDislike(), "not that one", "dislike")
    assert chat.slots["excluded"] == [gone] and chat.slots["last_interaction"] is not None
    out = chat.turn(ActionUndo(), "scratch that", "undo")
    assert responses(out) == ["utter_undone_dislike"] and out[0]["titles"] == f'"{title}"'  # no longer on screen
    assert chat.slots["excluded"] == [] and engine.hidden == {}
    chat.turn(ActionSearch(), "black dress", "search")
    assert gone in [r["image_id"] for r in chat.slots["results"]]


def test_undo_a_like_and_errors_from_the_engine(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "dresses", "search")
    chat.turn(ActionLike(), "I like the first and third", "like")
    out = chat.turn(ActionUndo(), "forget what I said", "undo")
    assert responses(out) == ["utter_undone_like"] and out[0]["titles"].count('"') == 4 and engine.liked == {}
    other = engine.dislike(chat.slots["results"][0]["image_id"], "someone-else")
    chat.slots["last_interaction"] = other.interaction_id  # not this shopper's
    out = chat.turn(ActionUndo(), "undo that", "undo")
    assert responses(out) == ["utter_undo_failed"] and "not one of yours" in out[0]["detail"]
    assert "someone-else" not in out[0]["detail"]  # an error never names another user
    assert engine.hidden == {"someone-else": {other.image_ids[0]}}  # nothing changed
    engine.undo(other.interaction_id, "someone-else")
    out = chat.turn(ActionUndo(), "undo that", "undo")
    assert responses(out) == ["utter_undo_failed"] and "already undone" in out[0]["detail"]


def test_start_over_clears_everything(engine: FakeEngine) -> None:
    chat = Chat()
    chat.turn(ActionSearch(), "dress", "search")
    chat.turn(ActionSelect(), "the first one", "select")
    out = chat.turn(ActionStartOver(), "start over", "start_over")
    assert responses(out) == ["utter_start_over"] and chat.events == [{"event": "reset_slots", "timestamp": None}]
    assert chat.slots["selected"] is None and chat.slots["results"] is None


def test_turns_without_results_ask_for_a_search(engine: FakeEngine) -> None:
    for action, text, intent in [
        (ActionSelect(), "the second one", "select"),
        (ActionShowMore(), "more", "show_more"),
        (ActionExplain(), "why?", "explain"),
        (ActionLike(), "I like it", "like"),
        (ActionDislike(), "not that one", "dislike"),
        (ActionAddMetadata(), "that one is linen", "add_metadata"),
    ]:
        assert responses(Chat().turn(action, text, intent)) == ["utter_need_results"]


def test_engine_errors_become_friendly_responses(engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = Chat()
    assert responses(chat.turn(ActionSearch(), "   ", "search")) == ["utter_invalid_query"]
    chat.slots.update(selected="no-such-id", selected_title="Ghost")
    assert responses(chat.turn(ActionModify(), "in black", "modify")) == ["utter_unknown_item"]
    out = chat.turn(ActionSelect(), "/select", "select", [{"entity": "product", "value": "gone-01"}])
    assert responses(out) == ["utter_unknown_item"]

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine, "search", boom)
    assert responses(Chat().turn(ActionSearch(), "dress", "search")) == ["utter_engine_error"]


def test_missing_model_is_reported_not_crashed(monkeypatch: pytest.MonkeyPatch) -> None:
    engine_provider.set_engine(None)

    def missing() -> None:
        raise ModelNotFoundError("No engine model in build/demo/engine.", fix="run make demo")

    monkeypatch.setattr(engine_provider, "_load", missing)
    assert responses(Chat().turn(ActionSearch(), "dress", "search")) == ["utter_engine_unavailable"]


def test_conversation_with_the_real_engine(tiny_model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same actions on :class:`retrieval.engine.facade.Engine` (a tiny trained model): the contract holds."""
    from retrieval.engine.facade import Engine, EngineConfig
    from retrieval.interactions.overlay import UserState

    monkeypatch.setenv("TAILOR_PUBLIC_URL", "http://shop.test")
    # a fresh engine (interactions edit it) whose log stays in memory, not in the shared model directory
    engine = Engine.load(tiny_model, cfg=EngineConfig(log_url="sqlite:///:memory:"))
    engine_provider.set_engine(engine)
    try:
        chat = Chat("real-shopper")
        out = chat.turn(ActionSearch(), "show me red dresses", "search")
        assert len(cards(out)) == 4 and all(c["image_url"].startswith("http://shop.test/images/") for c in cards(out))
        chat.turn(ActionSelect(), "the first one", "select")
        picked = chat.slots["selected"]
        out = chat.turn(ActionModify(), "like this but in black", "modify")
        assert cards(out) and picked not in [c["image_id"] for c in cards(out)]
        assert chat.slots["query"] == {"kind": "modify", "text": "like this but in black", "candidate": picked}
        out = chat.turn(ActionExplain(), "why the second one?", "explain")
        assert responses(out) == ["utter_explanation"] and out[0]["explanation"]
        out = chat.turn(ActionAddMetadata(), "the first one is made of linen", "add_metadata")
        assert responses(out)[0] == "utter_metadata_pending"  # a shopper, not staff: kept in their own scope
        out = chat.turn(ActionLike(), "I like the first and third", "like")
        assert responses(out)[0] == "utter_liked"
        gone = chat.slots["results"][0]["image_id"]
        out = chat.turn(ActionDislike(), "not the first one", "dislike")
        assert responses(out)[0] == "utter_disliked" and gone not in [c["image_id"] for c in cards(out)]
        out = chat.turn(ActionModify(), "longer", "modify")
        assert "black" in chat.slots["query"]["text"] and gone not in [c["image_id"] for c in cards(out)]
        out = chat.turn(ActionUndo(), "undo that", "undo")
        assert responses(out) == ["utter_undone_dislike"] and chat.slots["excluded"] == []
        assert engine.node(gone) not in engine.users.get("real-shopper", UserState()).hidden
        assert responses(chat.turn(ActionUndo(), "undo that", "undo")) == ["utter_nothing_to_undo"]
    finally:
        engine_provider.set_engine(None)


def test_a_shopper_can_like_or_select_only_what_was_shown_to_them(engine: FakeEngine) -> None:
    chat = Chat("forger")
    product = [{"entity": "product", "value": "dress-01"}]
    for action, intent in ((ActionLike(), "like"), (ActionSelect(), "select"), (ActionDislike(), "dislike")):
        out = chat.turn(action, '/like{"product": "dress-01"}', intent, product)  # before any search
        assert responses(out) in (["utter_unknown_item"], ["utter_need_results"]), (intent, out)
    chat.turn(ActionSearch(), "black dresses", "search")
    shown_now = [r["image_id"] for r in chat.slots["results"]]
    never = next(i for i in sorted(engine.items) if i not in shown_now)
    for action, intent in ((ActionLike(), "like"), (ActionSelect(), "select")):
        out = chat.turn(action, "/x", intent, [{"entity": "product", "value": never}])
        assert responses(out) == ["utter_unknown_item"], (intent, out)
    assert engine.liked == {} and chat.slots["selected"] is None and chat.slots["last_interaction"] is None
    chat.turn(ActionSearch(), "red coats", "search")  # an earlier card scrolled back: still likeable
    first = next(i for i in shown_now if i not in [r["image_id"] for r in chat.slots["results"]])
    out = chat.turn(ActionLike(), "/like", "like", [{"entity": "product", "value": first}])
    assert engine.liked == {"forger": {first}}, out
