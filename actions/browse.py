"""Actions that fetch products: search, modify (refine), show more."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.engine_provider import get_engine, get_taxonomy, settings
from actions.modifications import ModState, from_text, merge, phrase, query_text, unmet_phrase
from actions.respond import (
    ERROR_RESPONSES,
    MODIFY,
    SEARCH,
    guarded,
    mod_events,
    mod_state,
    run_query,
    show_page,
    user_text,
)
from actions.storefront import send_state
from retrieval.api import Ranked
from retrieval.catalog.taxonomy import CATEGORY
from retrieval.errors import InvalidQueryError

SEARCH_WORDS = re.compile(
    r"\b(show|find|search|looking|look for|browse|want|need|buy|do you have|got any|any other|new|different)\b"
)


# After a pick, words the engine cannot read ("asdkjh qwpoe") are an unclear change, not a search.
CHANGE_ERRORS = ((InvalidQueryError, "utter_unclear_change"), *ERROR_RESPONSES)


def names_a_word(text: str) -> bool:
    """Whether this turn's own words hold a word the engine knows (its ``lexicon``; an engine without one
    knows every word). Checked before earlier changes are added to the query, which would hide noise.
    """
    lexicon = getattr(get_engine(), "lexicon", None)
    return lexicon is None or bool(lexicon.known(text))


def starts_new_search(text: str, selected_category: str | None) -> bool:
    """Whether words parsed as a search start over even though a product is selected.

    "show me jeans" or "a blazer" (another category) do; "with pockets" or "a longer dress" (the
    selected product's category) refine the selected product instead.
    """
    if SEARCH_WORDS.search(text.lower()):
        return True
    categories = {m.value for m in get_taxonomy().find_mentions(text) if m.group == CATEGORY}
    return bool(categories) and selected_category not in categories


class ActionSearch(Action):
    """A new search: "show me red summer dresses". Clears the selection and the modifications.

    With a product selected, words that do not ask for something new ("with pockets") are a
    modification of it (see :func:`starts_new_search`).
    """

    def name(self) -> str:
        return "action_search"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = user_text(tracker)
        selected = tracker.get_slot("selected")
        if selected and text and not starts_new_search(text, tracker.get_slot("selected_category")):
            return ActionModify().run(dispatcher, tracker, domain)

        def step() -> list[EventType]:
            results = run_query(SEARCH, text, None, settings().page_size, tracker)
            query = {"kind": SEARCH, "text": text, "candidate": None}
            header = ("utter_results_header", {"count": len(results), "query_text": text})
            events = show_page(dispatcher, results, 0, query, header)
            return [
                SlotSet("search_text", text),
                SlotSet("last_text", text),
                SlotSet("selected", None),
                SlotSet("selected_title", None),
                SlotSet("selected_category", None),
                *mod_events(ModState()),
                *events,
            ]

        return send_state(dispatcher, tracker, guarded(dispatcher, step, self.name()))


class ActionModify(Action):
    """A refinement: "like this but black". Applies to the selected product; accumulates turn by turn.

    Before anything is selected it refines the current search words instead; with no search yet it
    searches.
    """

    def name(self) -> str:
        return "action_modify"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = user_text(tracker)
        taxonomy = get_taxonomy()
        selected = tracker.get_slot("selected")
        search_text = tracker.get_slot("search_text")

        def step() -> list[EventType]:
            size = settings().page_size
            if (selected or search_text) and not names_a_word(text):  # "asdkjh qwpoe": earlier words must not carry it
                dispatcher.utter_message(response="utter_unclear_change" if selected else "utter_invalid_query")
                return []
            if selected:
                before = mod_state(tracker)
                after = merge(before, text, taxonomy)
                words = query_text(before, after, text, taxonomy)
                results = run_query(MODIFY, words, selected, size, tracker)
                changes = ", ".join([*(phrase(k) for k in after.keys), *after.notes]) or text.strip()
                header = (
                    "utter_modified_header",
                    {"title": tracker.get_slot("selected_title") or "", "changes": changes},
                )
                query = {"kind": MODIFY, "text": words, "candidate": selected}
                unmet = results.unmet if isinstance(results, Ranked) else ()
                note = ("utter_modify_unmet", {"missing": unmet_phrase(unmet)}) if unmet else None
                return [
                    *mod_events(after),
                    SlotSet("last_text", text),
                    *show_page(dispatcher, results, 0, query, header, note),
                ]
            if search_text:
                before = from_text(search_text, taxonomy)
                after = merge(before, text, taxonomy)
                words = query_text(before, after, text, taxonomy)
            else:
                words = text
            results = run_query(SEARCH, words, None, size, tracker)
            query = {"kind": SEARCH, "text": words, "candidate": None}
            header = ("utter_results_header", {"count": len(results), "query_text": words})
            return [
                SlotSet("search_text", words),
                SlotSet("last_text", text),
                *show_page(dispatcher, results, 0, query, header),
            ]

        events = guarded(dispatcher, step, self.name(), CHANGE_ERRORS if selected else ERROR_RESPONSES)
        return send_state(dispatcher, tracker, events)


class ActionClarify(Action):
    """A turn the NLU could not place: after a pick, ask for a change in words; else the general hint."""

    def name(self) -> str:
        return "action_clarify"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_unclear_change" if tracker.get_slot("selected") else "utter_default")
        return []


class ActionShowMore(Action):
    """The next page of the current result list ("show more")."""

    def name(self) -> str:
        return "action_show_more"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        query = tracker.get_slot("query")
        if not isinstance(query, dict) or not query.get("text"):
            dispatcher.utter_message(response="utter_need_results")
            return []
        page = int(tracker.get_slot("page") or 0) + 1
        cfg = settings()
        if page >= cfg.max_pages:
            dispatcher.utter_message(response="utter_no_more_results")
            return []

        def step() -> list[EventType]:
            size = cfg.page_size
            results = run_query(query["kind"], query["text"], query.get("candidate"), (page + 1) * size, tracker)
            first = page * size + 1
            header = (
                "utter_more_header",
                {"first": first, "last": min(len(results), first + size - 1), "query_text": query["text"]},
            )
            return show_page(dispatcher, results, page, query, header)

        return send_state(dispatcher, tracker, guarded(dispatcher, step, self.name()))
