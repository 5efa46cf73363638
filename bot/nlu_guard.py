"""Messages the assistant must not act on, whatever DIET makes of them: bad payloads and markup.

Rasa 3.6 reads ``/<intent>{<entities>}`` as that intent when the domain has it (the cards' ``/select{...}``
and ``/like{...}`` buttons). For any other intent name it only warns and hands the text to DIET, which
took "/nonexistent_intent" for a modification; a payload of a known intent whose entities do not parse
("/like{not json", ``{"product": 5}``, ``{"product": {"$ne": null}}``, an entity the domain lacks) kept
the intent without them, so "/like{not json" liked the picked product. DIET also read
"<script>alert(1)</script>" as "undo" (0.74): it would have undone the shopper's last like.

:func:`apply` wraps ``RegexMessageHandler.process`` (the last NLU step) so that such a message gets the
``nlu_fallback`` intent: the "unclear message" rule answers it with ``action_clarify`` ("Sorry, I didn't
get that ...", or "I didn't catch a change there ..." after a pick) and nothing changes.
:func:`not_understood` is the pure rule (no Rasa).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Collection
from typing import Any

log = logging.getLogger(__name__)

#: Rasa's payload syntax (``YAMLStoryReader._regex_message_pattern``): /intent[@confidence][{entities}]
PAYLOAD = re.compile(r"^/(?P<intent>[^{@]+)(?P<confidence>@[0-9.]+)?(?P<entities>{.+})?(?P<rest>.*)")
#: An HTML / XML tag: nobody shopping for clothes types one ("<3" is not one).
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>")


def _payload_problem(match: re.Match[str], intents: Collection[str], entities: Collection[str]) -> str | None:
    if match.group("intent").strip() not in intents:
        return "names no intent of the assistant"
    if match.group("rest").strip():
        return "has unreadable arguments"
    raw = match.group("entities")
    if raw is None:
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return "has entities that are not JSON"
    if not isinstance(parsed, dict):
        return "has entities that are not a JSON object"
    for name, value in parsed.items():
        values = value if isinstance(value, list) else [value]
        if name not in entities or not values or not all(isinstance(v, str) and v.strip() for v in values):
            return f"has an entity {str(name)[:40]!r} that is not a known name with text values"
    return None


def not_understood(text: str, intents: Collection[str], entities: Collection[str]) -> str | None:
    """Why NLU must not act on ``text`` (a payload naming an unknown intent, with unreadable or forged
    entities, or text holding markup), else None. ``intents`` / ``entities``: the domain's.
    """
    stripped = text.strip()
    if stripped.startswith("/"):
        match = PAYLOAD.match(stripped)
        problem = "names no intent of the assistant" if match is None else _payload_problem(match, intents, entities)
        return None if problem is None else f"the payload {problem}"
    if MARKUP.search(stripped):
        return "the message holds markup"
    return None


def apply() -> None:
    """Install the wrapper on Rasa's RegexMessageHandler once (no-op outside the Rasa environment)."""
    try:
        # heavy: rasa, only in .venv-rasa; this runs inside the Rasa server
        from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
        from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
        from rasa.shared.nlu.constants import (
            ENTITIES,
            INTENT,
            INTENT_NAME_KEY,
            INTENT_RANKING_KEY,
            PREDICTED_CONFIDENCE_KEY,
            TEXT,
        )
    except ImportError:
        return
    original = RegexMessageHandler.process
    if getattr(original, "__module__", "") == __name__:
        return

    @functools.wraps(original)
    def process(self: Any, messages: list[Any], domain: Any = None) -> list[Any]:
        out = original(self, messages, domain)
        if domain is None:  # NLU-only use: no intents to compare with
            return out
        for message in out:
            text = message.get(TEXT)
            reason = not_understood(text, domain.intents, domain.entities) if isinstance(text, str) else None
            if reason is not None:
                log.info("%.60r: %s; answered as not understood (nlu_fallback)", text, reason)
                fallback = {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, fallback, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [fallback], add_to_output=True)
                message.set(ENTITIES, [], add_to_output=True)
        return out

    process.__module__ = __name__
    RegexMessageHandler.process = process
    log.debug("NLU guard installed: bad payloads and markup are not understood")
