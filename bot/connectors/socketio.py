"""The widget's socket.io channel: product cards of a turn arrive as one carousel.

Stock :class:`SocketIOInput` with ``session_persistence``; the output differs (the stock handler
hard-codes its output class, so the user-message handler is registered again here), and a message
goes through :func:`bot.limits.check` first: an over-long or rate-limited one is answered with the
clear message on this socket, never passed on to NLU. Events bigger than TAILOR_MAX_BODY_BYTES are
dropped by engine.io.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.connectors.turns import CardBatchingOutput, handle_turn
from bot.formatting import Card, CardBuffer, webchat_carousel
from bot.limits import check, default_gate

logger = logging.getLogger(__name__)


class TailorSocketIOOutput(CardBatchingOutput, SocketIOOutput):
    """Sends the cards of a turn as one generic-template carousel, other messages as usual."""

    def __init__(self, sio: Any, bot_message_evt: str) -> None:
        super().__init__(sio, bot_message_evt)
        self.buffer = CardBuffer()

    async def send_cards(self, recipient: str, cards: list[Card]) -> None:
        """The cards as one generic-template carousel."""
        await self._send_message(recipient, webchat_carousel(cards))


def _metadata(data: dict[str, Any], key: str = "metadata") -> dict[str, Any]:
    """The message's metadata: an object, or a JSON string of one (anything else: none)."""
    metadata = data.get(key) or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except json.JSONDecodeError:
            logger.warning("socket.io message metadata is not JSON; ignored")
            return {}
    return metadata if isinstance(metadata, dict) else {}


class TailorSocketIOInput(SocketIOInput):
    """socket.io input whose replies go through :class:`TailorSocketIOOutput`."""

    def get_output_channel(self) -> TailorSocketIOOutput | None:
        """Output channel for messages the server pushes outside a turn."""
        return TailorSocketIOOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The stock blueprint, with the user-message handler replaced."""
        bp = super().blueprint(on_new_message)
        sio = self.sio

        if sio.eio is not None:  # engine.io drops bigger packets itself (and the connection with them)
            sio.eio.max_http_buffer_size = default_gate().limits.max_body_bytes

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict) or not isinstance(data.get("message", ""), str):
                logger.warning("socket.io %s event that is not {'message': <text>, ...} ignored", self.user_message_evt)
                return
            output = TailorSocketIOOutput(sio, self.bot_message_evt)
            if self.session_persistence:
                if not data.get("session_id"):
                    logger.warning("socket.io message without session_id ignored (session_persistence is on)")
                    return
                sender_id = str(data["session_id"])
            else:
                sender_id = sid
            text = data.get("message", "")
            rejection = check(sender_id, text)
            if rejection is not None:
                await output.send_text_message(sender_id, rejection.text)
                return
            metadata = _metadata(data, self.metadata_key)
            message = UserMessage(text, output, sender_id, input_channel=self.name(), metadata=metadata)
            await handle_turn(on_new_message, message)

        return bp
