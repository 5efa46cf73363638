"""Actions about one shown product: select it, and explain why it was shown."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.engine_provider import get_engine, get_taxonomy
from actions.modifications import ModState
from actions.references import resolve
from actions.respond import entity_values, guarded, mod_events, seen_ids, shown, shown_item, user_text
from actions.storefront import send_explanation, send_state
from retrieval.errors import UnknownItemError

ALL_SHOWN = re.compile(r"\b(these|those|them|all|each|every)\b")  # "why these?" asks about every card
ALL_GROUPS = None  # any mentioned value may identify a shown product ("the black one", "the dress")


def targets(
    tracker: Tracker, *, attribute_groups: set[str] | None = ALL_GROUPS, use_selected: bool = True
) -> list[dict[str, Any]]:
    """The products a turn refers to: button ids, numbers, attributes; else the selected product.

    Button ids that are no longer on screen are described by the engine if this conversation showed
    them earlier; an id it never showed (a forged ``/like{"product": ...}``) or the engine does not know
    raises :class:`retrieval.errors.UnknownItemError`, which the caller's guard turns into words.
    """
    on_screen = shown(tracker)
    ids = entity_values(tracker, "product")
    items = resolve(user_text(tracker), on_screen, get_taxonomy(), product_ids=ids, attribute_groups=attribute_groups)
    if ids and not items:
        seen = seen_ids(tracker)
        unseen = [i for i in ids if i not in seen]
        if unseen:
            shown_here = "was not shown in this conversation"
            raise UnknownItemError(f"Product {unseen[0][:80]!r} {shown_here}.", fix="search first")
        items = [shown_item("?", get_engine().describe(i)) for i in ids]
    if not items and use_selected and tracker.get_slot("selected"):
        sel = tracker.get_slot("selected")
        match = [it for it in on_screen if it["image_id"] == sel]
        items = match or [{"number": "?", "image_id": sel, "title": tracker.get_slot("selected_title") or sel}]
    return items


class ActionSelect(Action):
    """Select a result ("the second one", "#3", "the black one", the Select button) to modify next."""

    def name(self) -> str:
        return "action_select"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if not shown(tracker) and not entity_values(tracker, "product"):
            dispatcher.utter_message(response="utter_need_results")
            return []

        def step() -> list[EventType]:
            picked = targets(tracker, use_selected=False) or (shown(tracker) if len(shown(tracker)) == 1 else [])
            if len(picked) != 1:
                dispatcher.utter_message(response="utter_which_one")
                return []
            item = picked[0]
            if item["number"] == "?":
                dispatcher.utter_message(response="utter_selected_product", title=item["title"])
            else:
                dispatcher.utter_message(response="utter_selected", number=item["number"], title=item["title"])
            return [
                SlotSet("selected", item["image_id"]),
                SlotSet("selected_title", item["title"]),
                SlotSet("selected_category", item.get("category")),
                *mod_events(ModState()),
            ]

        return send_state(dispatcher, tracker, guarded(dispatcher, step, self.name()))


class ActionExplain(Action):
    """Explain "why this one?": the engine's graph explanation of a shown product for the current query."""

    def name(self) -> str:
        return "action_explain"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        on_screen = shown(tracker)
        query = tracker.get_slot("query")
        if not on_screen or not isinstance(query, dict):
            dispatcher.utter_message(response="utter_need_results")
            return []

        def step() -> list[EventType]:
            picked = targets(tracker, use_selected=False)
            if not picked and ALL_SHOWN.search(user_text(tracker).lower()):  # "why these?": every card
                picked = on_screen
            if not picked:  # "why this one?": the selected product if it is on screen, else the top result
                sel = tracker.get_slot("selected")
                picked = [it for it in on_screen if it["image_id"] == sel] or on_screen[:1]
            for item in picked:
                exp = get_engine().explain(
                    query.get("candidate"), query.get("text", ""), item["image_id"], user=tracker.sender_id
                )
                text = exp.text or ", ".join(exp.matched + exp.shared)
                dispatcher.utter_message(
                    response="utter_explanation", number=item["number"], title=item["title"], explanation=text
                )
                send_explanation(dispatcher, tracker, item, exp, query.get("candidate"))
            return []

        return guarded(dispatcher, step, self.name())
