"""The HTTP side of :mod:`bot.limits` for the webhook channels: the body-size cap and JSON errors."""

from __future__ import annotations

import logging

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.limits import InputGate, MalformedRequestError, body_too_large, default_gate

logger = logging.getLogger(__name__)


def error_response(err: MalformedRequestError) -> HTTPResponse:
    """``err`` as an HTTP error with a JSON reason (``{"error": code, "reason": ...}``)."""
    return response.json(err.as_json(), status=err.status)


def cap_body(bp: Blueprint, gate: InputGate | None = None) -> Blueprint:
    """Answer 413 to any request of ``bp``'s routes whose body is over the cap, before its handler runs."""

    @bp.middleware("request")
    async def _cap(request: Request) -> HTTPResponse | None:
        current = gate or default_gate()
        size = len(request.body or b"")
        if not current.body_too_large(size):
            return None
        logger.warning("%s: request body of %d bytes refused (413)", request.path, size)
        return error_response(body_too_large(size, current.limits))

    return bp
