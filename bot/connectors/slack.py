"""Slack: Rasa's signed-request verification, with products as one Block Kit message per turn.

Settings come from the environment (never from files in the repo):
    SLACK_BOT_TOKEN        bot token (xoxb-...), used to post replies
    SLACK_SIGNING_SECRET   the app's signing secret; requests whose X-Slack-Signature does not match
                           (or are older than 5 minutes) are rejected with 400 by Rasa's SlackInput
    SLACK_CHANNEL          optional channel the bot answers in besides DMs and mentions
    SLACK_API_URL          optional API base URL (tests point it at a local fake; default Slack's)
Without a signing secret the channel stays mounted but rejects every request. Input limits
(:mod:`bot.limits`): bodies over TAILOR_MAX_BODY_BYTES get 413; over-long or rate-limited messages are
answered in Slack with the clear message and never reach NLU; a signed body that is not what Slack
sends (not a JSON object, an ``event`` that is not one, a ``text`` that is not a string, a form without
its JSON ``payload``) gets 400 with a reason (Rasa's handler answered 500).
Slack's Event Subscriptions and Interactivity URLs: ``<public rasa url>/webhooks/slack/webhook``.
The sender id is ``slack:<user id>`` (:mod:`bot.identity`), set only for a request whose signature was
checked, so TAILOR_STAFF can name Slack users as staff (with ``conversation_granularity`` "channel" or
"thread" it is ``slack:<user>_<channel>[_<thread>]``, which TAILOR_STAFF would have to name as such).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot, SlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.connectors.guard import cap_body, error_response
from bot.connectors.turns import CardBatchingOutput, handle_turn
from bot.formatting import Card, CardBuffer, plain_text, slack_blocks
from bot.identity import SLACK, platform_id, slack_sender
from bot.limits import MalformedRequestError, check

logger = logging.getLogger(__name__)


SLACK_FIX = "send what Slack's Events API or interactivity sends (https://api.slack.com/apis/events-api)"


def _malformed(code: str, message: str) -> MalformedRequestError:
    return MalformedRequestError(400, code, message, fix=SLACK_FIX)


def _wrong(data: dict[str, Any], key: str, kind: type) -> bool:
    """Whether ``data[key]`` is present (not None) and not a ``kind``."""
    return data.get(key) is not None and not isinstance(data[key], kind)


def slack_body_problem(body: bytes, content_type: str) -> MalformedRequestError | None:
    """Why a signed Slack request body cannot be read (the 400 to answer), else None: the parts Rasa's
    SlackInput reads must have the types Slack sends.

    ``content_type``: the request's; other types than JSON and form-encoded are left to Rasa (it answers
    them without reading the body).
    """
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return _malformed("invalid_json", f"The body is not valid JSON ({err}).")
        if not isinstance(data, dict):
            return _malformed("not_an_object", f"The body is a JSON {type(data).__name__}.")
        if _wrong(data, "event", dict):
            return _malformed("bad_event", "'event' is not a JSON object.")
        event = data.get("event") or {}
        for key in ("text", "user", "channel"):
            if _wrong(event, key, str):
                return _malformed("bad_event", f"'event.{key}' is not a string.")
        if _wrong(data, "authed_users", list) or _wrong(data, "authorizations", list):
            return _malformed("bad_event", "'authed_users' or 'authorizations' is not a list.")
        if not all(isinstance(a, dict) for a in data.get("authorizations") or []):
            return _malformed("bad_event", "'authorizations' is not a list of objects.")
        return None
    if content_type == "application/x-www-form-urlencoded":
        raw = parse_qs(body.decode("utf-8", errors="replace")).get("payload") or [""]
        try:
            payload = json.loads(raw[0])
        except json.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            return _malformed("bad_payload", "The form has no 'payload' field holding a JSON object.")
        user, actions = payload.get("user"), payload.get("actions")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            return _malformed("bad_payload", "'payload.user' is not an object with a string 'id'.")
        if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
            return _malformed("bad_payload", "'payload.actions' is not a non-empty list of objects.")
        if _wrong(payload, "message", dict) or _wrong(payload, "channel", dict):
            return _malformed("bad_payload", "'payload.message' or 'payload.channel' is not an object.")
    return None


class TailorSlackBot(CardBatchingOutput, SlackBot):
    """Slack output: the cards of a turn become one message of image, text and button blocks."""

    def __init__(
        self,
        token: str,
        slack_channel: str | None = None,
        thread_id: str | None = None,
        proxy: str | None = None,
        base_url: str | None = None,
    ) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        if base_url:
            self.client = AsyncWebClient(token, proxy=proxy, base_url=base_url)
        self.buffer = CardBuffer()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Send to the event's channel, else to the Slack user behind ``slack:<user id>``."""
        await super().send_response(platform_id(recipient_id, SLACK), message)

    async def send_cards(self, recipient: str, cards: list[Card]) -> None:
        """The cards as one Block Kit message."""
        await self._post_message(
            channel=self.slack_channel or recipient, as_user=True, text=plain_text(cards), blocks=slack_blocks(cards)
        )


class TailorSlackInput(SlackInput):
    """Rasa's SlackInput (signature check included) configured from the environment."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Build from credentials.yml values, falling back to the SLACK_* environment variables."""
        creds = dict(credentials or {})
        channel = cls(
            creds.get("slack_token") or os.environ.get("SLACK_BOT_TOKEN", ""),
            creds.get("slack_channel") or os.environ.get("SLACK_CHANNEL") or None,
            creds.get("proxy"),
            creds.get("slack_retry_reason_header", "x-slack-retry-reason"),
            creds.get("slack_retry_number_header", "x-slack-retry-num"),
            creds.get("errors_ignore_retry"),
            creds.get("use_threads", False),
            creds.get("slack_signing_secret") or os.environ.get("SLACK_SIGNING_SECRET", ""),
            creds.get("conversation_granularity", "sender"),
        )
        channel.api_url = creds.get("api_url") or os.environ.get("SLACK_API_URL") or None
        return channel

    def _validate_credentials(self) -> None:
        if not self.slack_signing_secret:
            logger.warning("SLACK_SIGNING_SECRET is not set: the Slack webhook rejects every request")

    def is_request_from_slack_authentic(self, request: Request) -> bool:
        """Rasa's HMAC check; always False without a signing secret."""
        return bool(self.slack_signing_secret) and super().is_request_from_slack_authentic(request)

    def _get_conversation_id(self, sender_id: str | None, channel_id: str | None, thread_id: str | None) -> str | None:
        """Rasa's conversation id, namespaced ``slack:...`` (only called after the signature check)."""
        conversation = super()._get_conversation_id(sender_id, channel_id, thread_id)
        return slack_sender(conversation) if conversation else conversation

    def get_output_channel(self, channel: str | None = None, thread_id: str | None = None) -> OutputChannel:
        """A :class:`TailorSlackBot` for the channel (and thread) of the event."""
        return TailorSlackBot(
            self.slack_token, channel or self.slack_channel, thread_id, self.proxy, getattr(self, "api_url", None)
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's Slack blueprint behind the body-size cap (413 before the signature is even read) and,
        once the signature is checked, the body's shape (:func:`slack_body_problem`: 400 with a reason).
        """
        bp = cap_body(super().blueprint(on_new_message))

        @bp.middleware("request")
        async def _shape(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or not self.is_request_from_slack_authentic(request):
                return None  # Rasa's handler answers an unsigned request (400)
            problem = slack_body_problem(request.body or b"", request.headers.get("content-type", ""))
            if problem is None:
                return None
            logger.warning("Slack request refused (%d %s): %s", problem.status, problem.code, problem.message)
            return error_response(problem)

        return bp

    async def process_message(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        text: str,
        sender_id: str | None,
        metadata: dict | None,
    ) -> Any:
        """Rasa's handling (answers Slack at once, works in the background), then flush the cards.

        An over-long or rate-limited message is answered in Slack with the clear message instead.
        """
        rejection = check(sender_id or "", text if isinstance(text, str) else "")
        if rejection is None:
            return await super().process_message(
                request, partial(handle_turn, on_new_message), text, sender_id, metadata
            )
        meta = metadata or {}
        out = self.get_output_channel(meta.get("out_channel"), meta.get("thread_id") if self.use_threads else None)
        task = asyncio.create_task(out.send_text_message(platform_id(sender_id or "", SLACK), rejection.text))
        self._background_tasks.add(task)  # Rasa's set: a reference until the task is done
        task.add_done_callback(self._background_tasks.discard)
        return response.text("")
