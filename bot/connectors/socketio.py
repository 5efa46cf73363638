"""The widget's socket.io channel: product cards of a turn arrive as one carousel.

Stock :class:`SocketIOInput` with ``session_persistence``; the output differs (the stock handler
hard-codes its output class, so the user-message handler is registered again here), and a message
goes through :func:`bot.limits.check` first: an over-long or rate-limited one is answered with the
clear message on this socket, never passed on to NLU; so is an event that is not an object with a
string ``message`` (:data:`MALFORMED_TEXT`). Events bigger than TAILOR_MAX_BODY_BYTES are
dropped by engine.io.

Senders (:mod:`bot.identity`): the session id the client chose, anonymous; one in a reserved namespace
("staff:...", "slack:...", "telegram:...") is refused with a clear message. A message whose
``customData`` (rasa-webchat sends the page's customData with every message) or metadata carries a
``staff_token`` runs as ``staff:<name>`` if the token is valid; an invalid or expired one is answered
with a clear message and the turn is not run. Replies go to the socket's session room either way; the
token is not passed on to Rasa (it would be stored in the tracker).
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
from bot.identity import (
    RESERVED_TEXT,
    StaffTokenError,
    reserved_prefix,
    staff_sender,
    staff_token_text,
    verify_staff_token,
)
from bot.limits import check, default_gate

logger = logging.getLogger(__name__)
STAFF_TOKEN_KEY = "staff_token"  # in the message's customData (the web page) or metadata
#: The answer to a user_uttered event that is not ``{"message": <text>, "session_id": ...}``.
MALFORMED_TEXT = (
    "I couldn't read that message: send an object with the text as 'message' "
    '({"message": "show me red dresses", "session_id": "<id>"}).'
)


class TailorSocketIOOutput(CardBatchingOutput, SocketIOOutput):
    """Sends the cards of a turn as one generic-template carousel, other messages as usual."""

    def __init__(self, sio: Any, bot_message_evt: str, room: str | None = None) -> None:
        super().__init__(sio, bot_message_evt)
        self.buffer = CardBuffer()
        self.room = room  # the socket's session room when the sender id is not it (staff:<name>)

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await super()._send_message(self.room or socket_id, response)

    async def send_cards(self, recipient: str, cards: list[Card]) -> None:
        """The cards as one generic-template carousel."""
        await self._send_message(recipient, webchat_carousel(cards))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """A custom payload (``{"data": ...}``, e.g. the storefront's) to the same room as the rest."""
        await super().send_custom_json(self.room or recipient_id, json_message, **kwargs)


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
                logger.warning("socket.io %s event that is not {'message': <text>, ...} refused", self.user_message_evt)
                await TailorSocketIOOutput(sio, self.bot_message_evt, sid).send_text_message(sid, MALFORMED_TEXT)
                return
            if self.session_persistence:
                if not data.get("session_id"):
                    logger.warning("socket.io message without session_id refused (session_persistence is on)")
                    await TailorSocketIOOutput(sio, self.bot_message_evt, sid).send_text_message(sid, MALFORMED_TEXT)
                    return
                room = str(data["session_id"])
            else:
                room = sid
            output = TailorSocketIOOutput(sio, self.bot_message_evt, room)
            if reserved_prefix(room) is not None:
                logger.warning("socket.io session id %.60r in a reserved namespace refused", room)
                await TailorSocketIOOutput(sio, self.bot_message_evt, sid).send_text_message(sid, RESERVED_TEXT)
                return
            metadata = _metadata(data, self.metadata_key)
            token = metadata.pop(STAFF_TOKEN_KEY, None) or _metadata(data, "customData").get(STAFF_TOKEN_KEY)
            sender_id = room
            if token:
                try:
                    sender_id = staff_sender(verify_staff_token(token))
                except StaffTokenError as err:
                    logger.warning("socket.io staff token refused (%s): %s", err.reason, err)
                    await output.send_text_message(room, staff_token_text(err))
                    return
            text = data.get("message", "")
            rejection = check(sender_id, text)
            if rejection is not None:
                await output.send_text_message(sender_id, rejection.text)
                return
            message = UserMessage(text, output, sender_id, input_channel=self.name(), metadata=metadata)
            await handle_turn(on_new_message, message)

        return bp
