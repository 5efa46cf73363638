"""Shared pieces of the actions: reading the conversation state, showing a page of products, and
turning engine errors into friendly ``utter_*`` responses (the wording lives in domain.yml).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.engine_provider import get_engine, settings
from actions.modifications import ModState
from retrieval.api import Result
from retrieval.errors import (
    ConfigError,
    InteractionError,
    InvalidQueryError,
    ModelNotFoundError,
    PermissionDeniedError,
    TailorError,
    UnknownItemError,
)

log = logging.getLogger(__name__)

SEARCH = "search"
MODIFY = "modify"


def title_of(caption: str) -> str:
    """A product title from its caption ("black linen dress" -> "Black linen dress")."""
    caption = " ".join(caption.split()) or "Untitled product"
    return caption[0].upper() + caption[1:]


def shown_item(number: int | str, result: Result) -> dict[str, Any]:
    """What the ``results`` slot keeps about a shown product (``number`` "?" when it is not on screen)."""
    return {
        "number": number,
        "image_id": result.image_id,
        "product_id": result.product_id,
        "title": title_of(result.caption),
        "caption": result.caption,
        "category": result.category,
        "image_path": result.image_path,
    }


def shown(tracker: Tracker) -> list[dict[str, Any]]:
    """The products on screen (the ``results`` slot), [] if none."""
    value = tracker.get_slot("results")
    return list(value) if isinstance(value, list) else []


def seen_ids(tracker: Tracker) -> set[str]:
    """Image ids shown to this shopper in this conversation: every ``results`` slot an action set (the
    tracker's events come from the Rasa server, not the client), plus what is on screen now.
    """
    seen = {str(it.get("image_id")) for it in shown(tracker)}
    for event in tracker.events:
        value = event.get("value") if event.get("event") == "slot" and event.get("name") == "results" else None
        if isinstance(value, list):
            seen.update(str(it.get("image_id")) for it in value if isinstance(it, dict))
    return seen


def list_slot(tracker: Tracker, name: str) -> list[str]:
    """A list slot as a list of strings ([] when unset)."""
    value = tracker.get_slot(name)
    return [str(v) for v in value] if isinstance(value, list) else []


def mod_state(tracker: Tracker) -> ModState:
    """The accumulated modifications."""
    return ModState(tuple(list_slot(tracker, "modifications")), tuple(list_slot(tracker, "mod_notes")))


def mod_events(state: ModState) -> list[EventType]:
    """Slot events storing ``state``."""
    return [SlotSet("modifications", list(state.keys)), SlotSet("mod_notes", list(state.notes))]


def user_text(tracker: Tracker) -> str:
    """The shopper's last words ("" for a button payload such as ``/select{...}``)."""
    text = (tracker.latest_message or {}).get("text") or ""
    return "" if text.startswith("/") else text


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    """All values of ``entity`` in the last message, in order, without duplicates."""
    out: list[str] = []
    for ent in (tracker.latest_message or {}).get("entities", []) or []:
        value = ent.get("value")
        if ent.get("entity") == entity and isinstance(value, str) and value not in out:
            out.append(value)
    return out


def run_query(
    kind: str, text: str, candidate: str | None, k: int, tracker: Tracker, excluded: list[str] | None = None
) -> list[Result]:
    """One engine call: ``search`` or ``modify`` for the shopper, excluding what they rejected."""
    engine = get_engine()
    exclude = tuple(list_slot(tracker, "excluded") if excluded is None else excluded)
    if kind == MODIFY and candidate:
        return engine.modify(candidate, text, k=k, exclude=exclude, user=tracker.sender_id)
    return engine.search(text, k=k, user=tracker.sender_id, exclude=exclude)


def show_page(
    dispatcher: CollectingDispatcher,
    results: list[Result],
    page: int,
    query: dict[str, Any],
    header: tuple[str, dict[str, Any]] | None,
    note: tuple[str, dict[str, Any]] | None = None,
) -> list[EventType]:
    """Show page ``page`` (0-based) of ``results`` as numbered cards; return the slot events.

    ``header`` and then ``note`` (a response name and its arguments) come before the cards.
    """
    size = settings().page_size
    items = [shown_item(i + 1, r) for i, r in enumerate(results[page * size : (page + 1) * size])]
    if not items:
        if page == 0:
            dispatcher.utter_message(response="utter_no_results", query_text=query.get("text", ""))
        else:
            dispatcher.utter_message(response="utter_no_more_results")
        return [SlotSet("results", []), SlotSet("page", 0.0), SlotSet("query", query)] if page == 0 else []
    for line in (header, note):
        if line:
            dispatcher.utter_message(response=line[0], **line[1])
    for item in items:
        dispatcher.utter_message(
            response="utter_product_card",
            number=item["number"],
            title=item["title"],
            image_url=settings().image_url(item["image_path"]),
            image_id=item["image_id"],
        )
    dispatcher.utter_message(response="utter_results_footer")
    return [SlotSet("results", items), SlotSet("page", float(page)), SlotSet("query", query)]


ERROR_RESPONSES: tuple[tuple[type[BaseException], str], ...] = (
    (UnknownItemError, "utter_unknown_item"),
    (InvalidQueryError, "utter_invalid_query"),
    (InteractionError, "utter_interaction_failed"),
    (PermissionDeniedError, "utter_interaction_failed"),
    (ModelNotFoundError, "utter_engine_unavailable"),
    (ConfigError, "utter_engine_unavailable"),
    (ImportError, "utter_engine_unavailable"),
)


def guarded(
    dispatcher: CollectingDispatcher,
    step: Callable[[], list[EventType]],
    action: str,
    responses: tuple[tuple[type[BaseException], str], ...] = ERROR_RESPONSES,
) -> list[EventType]:
    """Run ``step``; an engine error becomes its friendly response (the first class of ``responses`` it
    is an instance of) instead of a crash or silence.
    """
    try:
        return step()
    except Exception as err:  # every failure must still answer the shopper
        for cls, response in responses:
            if isinstance(err, cls):
                log.warning("%s: %s", action, err)
                detail = err.message if isinstance(err, TailorError) else str(err)
                dispatcher.utter_message(response=response, detail=detail)
                return []
        log.exception("%s failed", action)
        dispatcher.utter_message(response="utter_engine_error")
        return []
