"""Actions that teach the engine: metadata statements, likes, dislikes; and starting over.

Each teaching action remembers its receipt in the ``last_interaction`` slot, so "undo that"
(:mod:`actions.undo`) can cancel it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.choose import targets
from actions.engine_provider import get_engine, get_taxonomy, settings
from actions.references import resolve
from actions.respond import guarded, list_slot, run_query, show_page, shown, user_text
from actions.storefront import send_state
from actions.undo import remembered
from retrieval.catalog.taxonomy import split_key
from retrieval.errors import InteractionError

log = logging.getLogger(__name__)

_VERB = re.compile(r"\b(is|are|was|has|have|'s|made|comes|feels|looks)\b")


def subject(statement: str) -> str:
    """The part of a statement before its verb: "the second one" in "the second one is linen"."""
    m = _VERB.search(statement.lower())
    return statement[: m.start()] if m else ""


def which_one(tracker: Tracker) -> str:
    """The answer to a turn that names no product: "which one?" when there are products to name, else
    (before any search: "I like it", "that one is linen") "let's find something first".
    """
    return "utter_which_one" if shown(tracker) or tracker.get_slot("selected") else "utter_need_results"


def _quoted_titles(items: list[dict[str, Any]]) -> str:
    return " and ".join(
        f'#{it["number"]} "{it["title"]}"' if it["number"] != "?" else f'"{it["title"]}"' for it in items
    )


class ActionAddMetadata(Action):
    """Record a statement ("that one is linen") on the product it is about, confirm what was recorded."""

    def name(self) -> str:
        return "action_add_metadata"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = user_text(tracker)
        on_screen = shown(tracker)

        def step() -> list[EventType]:
            about = resolve(subject(text), on_screen, get_taxonomy())
            if not about:
                about = targets(tracker, attribute_groups=set()) or (on_screen if len(on_screen) == 1 else [])
            if len(about) != 1:
                dispatcher.utter_message(response=which_one(tracker))
                return []
            item = about[0]
            receipt = get_engine().add_metadata(item["image_id"], text, tracker.sender_id)
            values = [split_key(a)[1] for a in receipt.attributes] or [receipt.message or text]
            response = "utter_metadata_pending" if receipt.scope == "pending" else "utter_metadata_recorded"
            dispatcher.utter_message(response=response, title=item["title"], attributes=" and ".join(values))
            return remembered(receipt)

        return guarded(dispatcher, step, self.name())


def like_of(tracker: Tracker, ids: list[str]) -> tuple[str | None, str, list[str]]:
    """The (candidate, words, liked ids) a like of ``ids`` records, from the query on screen.

    A product is liked among the results of the query that showed it. The picked product is the
    candidate of its own modifications ("like this but in black"), not one of their results, and the
    engine refuses a like of the candidate alone: "I like it" about the pick is recorded for the search
    that found it (no candidate, the search words), as it is right after the pick. Liked together with
    results of the modification, the pick is their candidate (``liked_from``) and they are the liked ones.
    """
    query = tracker.get_slot("query") if isinstance(tracker.get_slot("query"), dict) else {}
    candidate = query.get("candidate") or None
    words = query.get("text") or tracker.get_slot("last_text") or ""
    if candidate is None or candidate not in ids:
        return candidate, words, ids
    others = [i for i in ids if i != candidate]
    if others:
        return candidate, words, others
    return None, tracker.get_slot("search_text") or "", ids


class ActionLike(Action):
    """Record a like: "I like the first and third" or the "I like this" button."""

    def name(self) -> str:
        return "action_like"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        on_screen = shown(tracker)

        def step() -> list[EventType]:
            liked = targets(tracker)
            if not liked and len(on_screen) == 1:
                liked = on_screen
            if not liked:
                dispatcher.utter_message(response=which_one(tracker))
                return []
            candidate, words, ids = like_of(tracker, [it["image_id"] for it in liked])
            receipt = get_engine().like(candidate, words, ids, tracker.sender_id)
            dispatcher.utter_message(response="utter_liked", titles=_quoted_titles(liked))
            return send_state(dispatcher, tracker, remembered(receipt), liked=[it["image_id"] for it in liked])

        return guarded(dispatcher, step, self.name())


class ActionDislike(Action):
    """Dislike ("not that one"): hide it for this shopper, then show the list again without it."""

    def name(self) -> str:
        return "action_dislike"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        on_screen = shown(tracker)

        def step() -> list[EventType]:
            gone = targets(tracker) or (on_screen if len(on_screen) == 1 else [])
            if not gone:
                dispatcher.utter_message(response=which_one(tracker))
                return []
            engine = get_engine()
            excluded = list_slot(tracker, "excluded")
            events: list[EventType] = []
            for item in gone:
                try:
                    events = remembered(engine.dislike(item["image_id"], tracker.sender_id))
                except InteractionError as err:  # the engine cannot learn from it: still hide it in this chat
                    log.info("dislike not recorded by the engine (%s); excluded in the conversation only", err)
                if item["image_id"] not in excluded:
                    excluded.append(item["image_id"])
                dispatcher.utter_message(response="utter_disliked", title=item["title"])
            events.append(SlotSet("excluded", excluded))
            if tracker.get_slot("selected") in {it["image_id"] for it in gone}:
                events += [
                    SlotSet("selected", None),
                    SlotSet("selected_title", None),
                    SlotSet("selected_category", None),
                ]
            query = tracker.get_slot("query")
            if isinstance(query, dict) and query.get("text"):
                page = int(tracker.get_slot("page") or 0)
                size = settings().page_size
                results = run_query(
                    query["kind"], query["text"], query.get("candidate"), (page + 1) * size, tracker, excluded
                )
                events += show_page(dispatcher, results, page, query, None)
            return events

        return send_state(dispatcher, tracker, guarded(dispatcher, step, self.name()))


class ActionWarmUp(Action):
    """Not in the domain: the launcher calls it once at startup so the engine loads before any shopper."""

    def name(self) -> str:
        return "action_warm_up"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        try:
            get_engine()
        except Exception as err:  # noqa: BLE001 - reported to the operator who started the servers, not to a shopper
            log.error("the engine could not be loaded: %s", err)
            dispatcher.utter_message(text=f"engine not loaded: {err}")
        return []


class ActionStartOver(Action):
    """Start over: forget the results, the selection and the modifications."""

    def name(self) -> str:
        return "action_start_over"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_start_over")
        return send_state(dispatcher, tracker, [AllSlotsReset()])
