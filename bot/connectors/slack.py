"""Slack: Rasa's signed-request verification, with products as one Block Kit message per turn.

Settings come from the environment (never from files in the repo):
    SLACK_BOT_TOKEN        bot token (xoxb-...), used to post replies
    SLACK_SIGNING_SECRET   the app's signing secret; requests whose X-Slack-Signature does not match
                           (or are older than 5 minutes) are rejected with 400 by Rasa's SlackInput
    SLACK_CHANNEL          optional channel the bot answers in besides DMs and mentions
    SLACK_API_URL          optional API base URL (tests point it at a local fake; default Slack's)
Without a signing secret the channel stays mounted but rejects every request.
Slack's Event Subscriptions and Interactivity URLs: ``<public rasa url>/webhooks/slack/webhook``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot, SlackInput
from sanic.request import Request
from slack_sdk.web.async_client import AsyncWebClient

from bot.connectors.turns import flush_cards, handle_turn, send_in_order
from bot.formatting import Card, CardBuffer, plain_text, slack_blocks

logger = logging.getLogger(__name__)


class TailorSlackBot(SlackBot):
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
        """Buffer cards; flush them before any other message so the order is kept."""
        await send_in_order(self.buffer, recipient_id, message, self.flush, super().send_response)

    async def flush(self) -> None:
        """Post the buffered cards as one Block Kit message."""
        await flush_cards(self.buffer, self._send_cards)

    async def _send_cards(self, recipient: str, cards: list[Card]) -> None:
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

    def get_output_channel(self, channel: str | None = None, thread_id: str | None = None) -> OutputChannel:
        """A :class:`TailorSlackBot` for the channel (and thread) of the event."""
        return TailorSlackBot(
            self.slack_token, channel or self.slack_channel, thread_id, self.proxy, getattr(self, "api_url", None)
        )

    async def process_message(
        self,
        request: Request,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        text: str,
        sender_id: str | None,
        metadata: dict | None,
    ) -> Any:
        """Rasa's handling (answers Slack at once, works in the background), then flush the cards."""
        return await super().process_message(request, partial(handle_turn, on_new_message), text, sender_id, metadata)
