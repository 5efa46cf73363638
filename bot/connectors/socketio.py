"""The widget's socket.io channel: product cards of a turn arrive as one carousel.

Stock :class:`SocketIOInput` with ``session_persistence``; only the output differs (the stock
handler hard-codes its output class, so the user-message handler is registered again here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.connectors.turns import flush_cards, handle_turn, send_in_order
from bot.formatting import Card, CardBuffer, webchat_carousel

logger = logging.getLogger(__name__)


class TailorSocketIOOutput(SocketIOOutput):
    """Sends the cards of a turn as one generic-template carousel, other messages as usual."""

    def __init__(self, sio: Any, bot_message_evt: str) -> None:
        super().__init__(sio, bot_message_evt)
        self.buffer = CardBuffer()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Buffer cards; flush them before any other message so the order is kept."""
        await send_in_order(self.buffer, recipient_id, message, self.flush, super().send_response)

    async def flush(self) -> None:
        """Send the buffered cards (if any) as one carousel."""
        await flush_cards(self.buffer, self._send_cards)

    async def _send_cards(self, recipient: str, cards: list[Card]) -> None:
        await self._send_message(recipient, webchat_carousel(cards))


class TailorSocketIOInput(SocketIOInput):
    """socket.io input whose replies go through :class:`TailorSocketIOOutput`."""

    def get_output_channel(self) -> TailorSocketIOOutput | None:
        """Output channel for messages the server pushes outside a turn."""
        return TailorSocketIOOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The stock blueprint, with the user-message handler replaced."""
        bp = super().blueprint(on_new_message)
        sio = self.sio

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: dict) -> None:
            output = TailorSocketIOOutput(sio, self.bot_message_evt)
            if self.session_persistence:
                if not data.get("session_id"):
                    logger.warning("socket.io message without session_id ignored (session_persistence is on)")
                    return
                sender_id = data["session_id"]
            else:
                sender_id = sid
            metadata = data.get(self.metadata_key, {})
            if isinstance(metadata, str):
                metadata = json.loads(metadata)
            message = UserMessage(
                data.get("message", ""), output, sender_id, input_channel=self.name(), metadata=metadata
            )
            await handle_turn(on_new_message, message)

        return bp
