"""What every connector does with a turn: buffer its product cards, send them together, in order.

Each output channel keeps a :class:`~bot.formatting.CardBuffer`; these helpers are the one send /
flush logic around it (the channels differ only in how a batch of cards is sent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from bot.formatting import Card, CardBuffer
from bot.limits import clean_text

SendCards = Callable[[str, list[Card]], Awaitable[None]]


async def flush_cards(buffer: CardBuffer, send_cards: SendCards) -> None:
    """Send the buffered cards (if any) to their recipient with ``send_cards``, emptying the buffer."""
    recipient, cards = buffer.recipient, buffer.drain()
    if cards and recipient is not None:
        await send_cards(recipient, cards)


class CardBatchingOutput(OutputChannel):
    """Mixin for an output channel that sends a turn's cards as one batch (Slack, socket.io).

    Put it before the Rasa output class (``class X(CardBatchingOutput, SlackBot)``); set
    ``self.buffer`` in ``__init__`` and implement :meth:`send_cards`.
    """

    buffer: CardBuffer

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Buffer cards; flush them before any other message so the order is kept."""
        if self.buffer.offer(recipient_id, message):
            return
        await self.flush()
        await super().send_response(recipient_id, message)

    async def flush(self) -> None:
        """Send the buffered cards (if any) as one batch."""
        await flush_cards(self.buffer, self.send_cards)

    async def send_cards(self, recipient: str, cards: list[Card]) -> None:
        """Send one batch of cards to ``recipient`` (the channel's own format)."""
        raise NotImplementedError


async def handle_turn(on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> None:
    """Run one turn on the cleaned text (:func:`bot.limits.clean_text`), then flush the cards its output
    channel still holds (also when the turn fails).
    """
    if isinstance(message.text, str):
        message.text = clean_text(message.text)
    try:
        await on_new_message(message)
    finally:
        flush = getattr(message.output_channel, "flush", None)
        if flush is not None:
            await flush()
