"""REST (``POST /webhooks/rest/webhook``): Rasa's RestInput with the input limits of :mod:`bot.limits`.

Same URL, request and answer as Rasa's ``rest:`` channel (``?stream=true`` included), but the body is
checked before the message reaches NLU:
    body over TAILOR_MAX_BODY_BYTES                      -> 413 {"error": "body_too_large", "reason": ...}
    not JSON, not an object, sender / message not strings -> 400 {"error": ..., "reason": ...}
    sender in a reserved namespace ("staff:", "slack:",    -> 400 {"error": "bad_sender", "reason":
        "telegram:", :mod:`bot.identity`)                     "reserved_sender", "message": ...}
    sender over its rate                                 -> 429 {"error": "rate_limited", ...} + Retry-After
    message over TAILOR_MAX_MESSAGE_CHARS                -> 200 [{"recipient_id": sender, "text": "That message
                                                            is too long ..."}] (a normal bot reply, not read)
"""

from __future__ import annotations

import logging
import math
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from bot.connectors.guard import error_response
from bot.identity import reserved_prefix
from bot.limits import InputGate, MalformedRequestError, Reason, clean_text, default_gate, parse_message_body

logger = logging.getLogger(__name__)


def reserved_sender(sender: str) -> MalformedRequestError | None:
    """The 400 for a sender id that claims an authenticated identity's namespace, else None."""
    prefix = reserved_prefix(sender)
    if prefix is None:
        return None
    return MalformedRequestError(
        400, "bad_sender", f"'sender' starts with {prefix!r}, a namespace only authenticated channels use.",
        fix="choose a sender id that does not start with staff:, slack: or telegram:",
    )  # fmt: skip


class TailorRestInput(RestInput):
    """Rasa's REST channel behind the request-size, message-length and per-sender rate limits."""

    gate: InputGate | None = None  # None: the process-wide default_gate()

    @classmethod
    def name(cls) -> str:
        """``rest``: the URL stays ``/webhooks/rest/webhook``."""
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """``GET /webhooks/rest/`` health, ``POST /webhooks/rest/webhook`` messages."""
        bp = Blueprint("custom_webhook_TailorRestInput", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse | ResponseStream:
            gate = self.gate or default_gate()
            try:
                body = parse_message_body(request.body or b"", gate.limits)
            except MalformedRequestError as err:
                logger.warning("REST request refused (%d %s): %s", err.status, err.code, err.message)
                return error_response(err)
            if (reserved := reserved_sender(body.sender)) is not None:
                logger.warning("REST sender %.60r in a reserved namespace refused (400)", body.sender)
                return response.json({**reserved.as_json(), "reason": "reserved_sender", "message": str(reserved)},
                                     status=reserved.status)  # fmt: skip
            rejection = gate.check(body.sender, body.text)
            if rejection is not None and rejection.reason is Reason.RATE_LIMITED:
                retry = max(1, math.ceil(rejection.retry_after))
                return response.json(
                    {"error": "rate_limited", "reason": rejection.text, "retry_after": retry},
                    status=429, headers={"Retry-After": str(retry)},
                )  # fmt: skip
            collector = CollectingOutputChannel()
            if rejection is not None:
                await collector.send_text_message(body.sender, rejection.text)
                return response.json(collector.messages)
            channel, text = body.input_channel or self.name(), clean_text(body.text)
            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                stream = self.stream_response(on_new_message, text, body.sender, channel, body.metadata)
                return response.stream(stream, content_type="text/event-stream")
            message = UserMessage(text, collector, body.sender, input_channel=channel, metadata=body.metadata)
            try:
                await on_new_message(message)
            except CancelledError:
                logger.error("REST turn of %.60r timed out", body.sender)
            except Exception:  # Rasa's behaviour: log the failure, answer what was said so far
                logger.exception("REST turn of %.60r failed", body.sender)
            return response.json(collector.messages)

        return bp
