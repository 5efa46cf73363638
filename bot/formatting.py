"""Channel payloads, built in one place: product cards for the web widget, Slack and Telegram.

The actions send channel-neutral Rasa messages. A product is one message with ``text`` ("1. Black
linen dress"), ``image`` (its URL) and ``buttons`` (Select / I like this). The connectors collect the
cards of a turn (:class:`CardBuffer`) and send them as one carousel (widget), one Block Kit message
(Slack) or a media group plus an inline keyboard (Telegram). REST and ``rasa shell`` get the plain
messages (text + buttons, then the image URL).

Runs in the Rasa environment (Python 3.10): standard library only.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

SLACK_MAX_BLOCKS = 50
TELEGRAM_MAX_CALLBACK = 64  # bytes, Telegram's limit on callback_data
TELEGRAM_MAX_MEDIA = 10  # photos per media group
_NUMBER = re.compile(r"^\s*#?(\d+)[.):]?\s")


@dataclass(frozen=True)
class Card:
    """One product: its line of text, image URL and buttons (``{"title", "payload"}``)."""

    text: str
    image: str
    buttons: tuple[dict[str, str], ...]

    @property
    def number(self) -> str:
        """The number the text starts with ("1" of "1. Black dress"), or ""."""
        m = _NUMBER.match(self.text)
        return m.group(1) if m else ""


def is_card(message: dict[str, Any]) -> bool:
    """True for a product message: an image with buttons."""
    return bool(message.get("image")) and bool(message.get("buttons"))


def card_from(message: dict[str, Any]) -> Card:
    """The :class:`Card` of a product message."""
    buttons = tuple(
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))} for b in message["buttons"]
    )
    return Card(text=str(message.get("text") or ""), image=str(message["image"]), buttons=buttons)


class CardBuffer:
    """Collects the product cards of one turn so they can be sent together."""

    def __init__(self) -> None:
        self.cards: list[Card] = []
        self.recipient: str | None = None

    def offer(self, recipient_id: str, message: dict[str, Any]) -> bool:
        """Keep ``message`` if it is a card (returns True); otherwise the caller sends it."""
        if not is_card(message):
            return False
        self.cards.append(card_from(message))
        self.recipient = recipient_id
        return True

    def drain(self) -> list[Card]:
        """The collected cards, emptying the buffer."""
        cards, self.cards = self.cards, []
        return cards


# -- web widget (rasa-webchat 1.0.1) ------------------------------------------------------------
def webchat_carousel(cards: list[Card]) -> dict[str, Any]:
    """A generic-template attachment: the widget shows it as a carousel of cards with buttons."""
    elements = []
    for card in cards:
        buttons = [{"type": "postback", "title": b["title"], "payload": b["payload"]} for b in card.buttons]
        elements.append(
            {
                "title": card.text,
                "subtitle": "",
                "image_url": card.image,
                "default_action": buttons[0] if buttons else {"type": "postback", "title": card.text, "payload": ""},
                "buttons": buttons,
            }
        )
    return {"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": elements}}}


# -- Slack Block Kit ------------------------------------------------------------------------------
def slack_blocks(cards: list[Card]) -> list[dict[str, Any]]:
    """Per card: an image block, its text, and an actions block with its buttons (<= 50 blocks)."""
    blocks: list[dict[str, Any]] = []
    for i, card in enumerate(cards):
        if len(blocks) + 3 > SLACK_MAX_BLOCKS:
            break
        blocks.append({"type": "image", "image_url": card.image, "alt_text": card.text[:2000] or "product"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{card.text}*"}})
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"tailor-{i}-{j}",
                        "text": {"type": "plain_text", "text": b["title"][:75]},
                        "value": b["payload"][:2000],
                    }
                    for j, b in enumerate(card.buttons[:5])
                ],
            }
        )
    return blocks


def plain_text(cards: list[Card]) -> str:
    """Notification / fallback text: the card lines."""
    return "\n".join(card.text for card in cards)


# -- Telegram ---------------------------------------------------------------------------------------
class CallbackStore:
    """Keeps payloads that exceed Telegram's 64-byte callback_data behind short keys (recent ones)."""

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._store: OrderedDict[str, str] = OrderedDict()

    def shorten(self, payload: str) -> str:
        """``payload`` itself if it fits, else a short key ``tk:<hash>`` remembered here."""
        if len(payload.encode()) <= TELEGRAM_MAX_CALLBACK:
            return payload
        key = "tk:" + hashlib.sha1(payload.encode()).hexdigest()[:16]
        self._store[key] = payload
        self._store.move_to_end(key)
        while len(self._store) > self.capacity:
            self._store.popitem(last=False)
        return key

    def expand(self, data: str) -> str:
        """The payload behind ``data`` (``data`` unchanged when it is not a known key)."""
        return self._store.get(data, data)


def telegram_media(cards: list[Card]) -> list[list[dict[str, str]]]:
    """Media groups (<= 10 photos each) of the cards, each photo captioned with the card text."""
    media = [{"type": "photo", "media": c.image, "caption": c.text[:1024]} for c in cards]
    return [media[i : i + TELEGRAM_MAX_MEDIA] for i in range(0, len(media), TELEGRAM_MAX_MEDIA)]


def telegram_keyboard(cards: list[Card], store: CallbackStore) -> dict[str, Any]:
    """An inline keyboard: one row per card, its buttons labelled with the card number."""
    rows = []
    for card in cards:
        prefix = f"#{card.number} " if card.number else ""
        rows.append(
            [{"text": f"{prefix}{b['title']}", "callback_data": store.shorten(b["payload"])} for b in card.buttons]
        )
    return {"inline_keyboard": rows}
