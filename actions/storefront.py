"""What the web page's storefront panel shows, sent beside the chat messages (web widget only).

The page (``bot/web/static/storefront.js``) reads two custom payloads from the widget's socket; the
widget itself shows neither (rasa-webchat has no component for them). On the socket.io channel a
custom payload is ``{"data": {...}}``:

* ``{"storefront": {...}}`` after a turn that changes what is shown (:func:`state`): the results on
  screen, the pick (image, full name, attributes), the changes asked for it as removable chips (each
  with the messages that re-run the query without it), and the products liked (or un-liked by "undo
  that") this turn;
* ``{"explanation": {...}}`` after "why this one?" (:func:`explanation`): the graph nodes and edges of
  the engine's explanation and of the words (``query_edges``), each edge with the model's ``weight``
  for it (0.0: not weighed).

Other channels (REST, ``rasa shell``, Slack, Telegram) get neither: they would print them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.engine_provider import get_engine, settings
from actions.modifications import phrase
from actions.respond import title_of
from retrieval.api import Explanation, GraphNode
from retrieval.catalog.taxonomy import split_key
from retrieval.errors import TailorError

log = logging.getLogger(__name__)

WEB_CHANNEL = "socketio"  # the widget's connector (bot.connectors.socketio.TailorSocketIOInput)
ASKS_TO_SEARCH = re.compile(r"\s*(show|find|search|look|i'm looking|i am looking|i want|i need)\b", re.IGNORECASE)
SLOTS_READ = ("results", "selected", "selected_title", "modifications", "mod_notes", "search_text", "query")


def on_web(tracker: Tracker) -> bool:
    """Whether the turn came from the web widget."""
    return bool(tracker.get_latest_input_channel() == WEB_CHANNEL)


def slots_after(tracker: Tracker, events: Iterable[EventType]) -> dict[str, Any]:
    """The slots this page reads, as they are once ``events`` (SlotSet, AllSlotsReset) are applied."""
    slots = {name: tracker.get_slot(name) for name in SLOTS_READ}
    for event in events:
        if event.get("event") == "slot" and event.get("name") in slots:
            slots[event["name"]] = event.get("value")
        elif event.get("event") == "reset_slots":
            slots = dict.fromkeys(SLOTS_READ)
    return slots


def select_payload(image_id: str) -> str:
    """The message the Select button sends (domain.yml ``utter_product_card``)."""
    return '/select{"product": "' + image_id + '"}'


def chips(slots: dict[str, Any]) -> list[dict[str, Any]]:
    """The changes asked for the pick, in order; each with ``say``: the messages that leave it out.

    Leaving a change out is said as the shopper would: pick the product again (which clears the
    changes) and ask for the others ("like this but long sleeve, shinier"); with none left, search again
    for the words that found it and pick it.
    """
    selected = slots.get("selected")
    if not selected:
        return []
    keys = [str(k) for k in slots.get("modifications") or []]
    notes = [str(n) for n in slots.get("mod_notes") or []]
    labels = [phrase(k) for k in keys] + notes
    out = []
    for i, label in enumerate(labels):
        rest = labels[:i] + labels[i + 1 :]
        if rest:
            say = [select_payload(selected), "like this but " + ", ".join(rest)]
        elif slots.get("search_text"):
            words = str(slots["search_text"])
            say = [words if ASKS_TO_SEARCH.match(words) else "show me " + words, select_payload(selected)]
        else:
            say = [select_payload(selected)]
        out.append({"key": keys[i] if i < len(keys) else "", "label": label, "say": say})
    return out


def _pick(slots: dict[str, Any], user: str) -> dict[str, Any] | None:
    """The selected product as the panel shows it (attributes from the engine's ``describe``)."""
    selected = slots.get("selected")
    if not selected:
        return None
    try:
        found = get_engine().describe(str(selected), user=user)
    except TailorError as err:  # the panel then shows the name only; the chat already answered
        log.warning("storefront: no details for the pick %s: %s", selected, err)
        title = slots.get("selected_title") or selected
        return {"image_id": selected, "title": title, "image_url": "", "attributes": []}
    attributes = [{"group": split_key(k)[0], "value": split_key(k)[1]} for k in found.explanation.shared]
    return {
        "image_id": found.image_id,
        "title": title_of(found.caption),
        "category": found.category,
        "image_url": settings().image_url(found.image_path),
        "attributes": attributes,
    }


def state(
    tracker: Tracker, events: Iterable[EventType], liked: Iterable[str] = (), unliked: Iterable[str] = ()
) -> dict[str, Any]:
    """The storefront payload after ``events``: results, pick, change chips, (un)liked ids, query words."""
    slots = slots_after(tracker, list(events))
    results = [
        {
            "number": it.get("number"),
            "image_id": it.get("image_id"),
            "title": it.get("title"),
            "category": it.get("category"),
            "image_url": settings().image_url(str(it.get("image_path") or "")),
        }
        for it in slots.get("results") or []
        if isinstance(it, dict)
    ]
    query = slots.get("query") if isinstance(slots.get("query"), dict) else {}
    return {
        "results": results,
        "query": (query or {}).get("text") or "",
        "pick": _pick(slots, tracker.sender_id),
        "changes": chips(slots),
        "liked": list(liked),
        "unliked": list(unliked),
    }


def send_state(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    events: list[EventType],
    liked: Iterable[str] = (),
    unliked: Iterable[str] = (),
) -> list[EventType]:
    """Send the storefront payload after ``events`` to the web page (other channels: nothing); return ``events``."""
    if on_web(tracker):
        dispatcher.utter_message(json_message={"data": {"storefront": state(tracker, events, liked, unliked)}})
    return events


def _node_id(node: GraphNode) -> str:
    return f"{node.ntype}:{node.node_id}"


def explanation(item: dict[str, Any], exp: Explanation, candidate: str | None) -> dict[str, Any]:
    """The explanation payload: the graph behind ``exp`` for the shown product ``item``."""
    nodes: dict[str, dict[str, Any]] = {}
    edges = []
    for edge in (*exp.edges, *exp.query_edges):  # the graph's edges, then the words' own (caption id -1)
        for node in (edge.src, edge.dst):
            nodes.setdefault(_node_id(node), {"id": _node_id(node), "kind": node.ntype, "label": node.label})
        weight = float(edge.weight)  # 0.0: not weighed by the model
        edges.append(
            {"source": _node_id(edge.src), "target": _node_id(edge.dst), "relation": edge.relation, "weight": weight}
        )
    return {
        "product": item["image_id"],
        "candidate": candidate,
        "number": item.get("number"),
        "title": item.get("title"),
        "text": exp.text,
        "nodes": list(nodes.values()),
        "edges": edges,
    }


def send_explanation(
    dispatcher: CollectingDispatcher, tracker: Tracker, item: dict[str, Any], exp: Explanation, candidate: str | None
) -> None:
    """Send the explanation payload to the web page (other channels: nothing)."""
    if on_web(tracker):
        dispatcher.utter_message(json_message={"data": {"explanation": explanation(item, exp, candidate)}})
