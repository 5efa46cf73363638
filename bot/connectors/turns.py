"""What every connector does with a turn: buffer its product cards, send them together, in order.

Each output channel keeps a :class:`~bot.formatting.CardBuffer`; these helpers are the one send /
flush logic around it (the channels differ only in how a batch of cards is sent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage

from bot.formatting import Card, CardBuffer

SendCards = Callable[[str, list[Card]], Awaitable[None]]


async def flush_cards(buffer: CardBuffer, send_cards: SendCards) -> None:
    """Send the buffered cards (if any) to their recipient with ``send_cards``, emptying the buffer."""
    recipient, cards = buffer.recipient, buffer.drain()
    if cards and recipient is not None:
        await send_cards(recipient, cards)


async def send_in_order(
    buffer: CardBuffer,
    recipient_id: str,
    message: dict[str, Any],
    flush: Callable[[], Awaitable[None]],
    send: Callable[[str, dict[str, Any]], Awaitable[None]],
) -> None:
    """Buffer ``message`` if it is a card; otherwise ``flush`` the buffered cards, then ``send`` it."""
    if buffer.offer(recipient_id, message):
        return
    await flush()
    await send(recipient_id, message)


async def handle_turn(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> None:
    """Run one turn, then flush the cards its output channel still holds (also when the turn fails)."""
    try:
        await on_new_message(message)
    finally:
        flush = getattr(message.output_channel, "flush", None)
        if flush is not None:
            await flush()
