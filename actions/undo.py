"""The undo action: "undo that" / "forget what I said" cancels the shopper's last teaching turn."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.engine_provider import get_engine
from actions.respond import ERROR_RESPONSES, guarded, list_slot, shown, title_of
from actions.storefront import send_state
from retrieval.catalog.taxonomy import split_key
from retrieval.errors import InteractionError, PermissionDeniedError

log = logging.getLogger(__name__)

LAST_INTERACTION = "last_interaction"  # slot: id of the shopper's last metadata / like / dislike receipt
UNDO_ERRORS = (
    (PermissionDeniedError, "utter_undo_failed"),
    (InteractionError, "utter_undo_failed"),
    *ERROR_RESPONSES,
)
UNDONE = {"metadata": "utter_undone_metadata", "like": "utter_undone_like", "dislike": "utter_undone_dislike"}


def remembered(receipt: Any) -> list[EventType]:
    """Slot events that let a later "undo that" find this interaction."""
    return [SlotSet(LAST_INTERACTION, int(receipt.interaction_id))]


class ActionUndo(Action):
    """Undo ("undo that"): the engine forgets the shopper's last metadata statement, like or dislike."""

    def name(self) -> str:
        return "action_undo"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        last = tracker.get_slot(LAST_INTERACTION)
        if last is None:
            dispatcher.utter_message(response="utter_nothing_to_undo")
            return []
        on_screen = {it["image_id"]: it["title"] for it in shown(tracker)}

        def step() -> list[EventType]:
            engine = get_engine()
            receipt = engine.undo(int(last), tracker.sender_id)
            titles = [on_screen.get(i) or title_of(engine.describe(i).caption) for i in receipt.image_ids]
            quoted = " and ".join(f'"{t}"' for t in titles)
            values = " and ".join(split_key(a)[1] for a in receipt.attributes)
            dispatcher.utter_message(response=UNDONE[receipt.kind], titles=quoted, attributes=values)
            events: list[EventType] = [SlotSet(LAST_INTERACTION, None)]
            if receipt.kind == "dislike":  # it may be shown again in this conversation too
                events.append(
                    SlotSet("excluded", [i for i in list_slot(tracker, "excluded") if i not in receipt.image_ids])
                )
            if receipt.kind == "like":  # the web page takes its heart off
                return send_state(dispatcher, tracker, events, unliked=receipt.image_ids)
            return events

        return guarded(dispatcher, step, self.name(), UNDO_ERRORS)
