"""Telegram: product photos as a media group with an inline keyboard, no setWebhook at startup.

Rasa's TelegramInput calls setWebhook when the server starts (and aborts offline) and asks Telegram
``getMe`` on every update; this connector does neither. Set the webhook once, when the server has a
public HTTPS URL, with ``python -m bot.telegram_webhook --url https://HOST/webhooks/telegram/webhook``.

Environment:
    TELEGRAM_TOKEN          bot token from @BotFather
    TELEGRAM_SECRET_TOKEN   secret Telegram echoes in X-Telegram-Bot-Api-Secret-Token (set by the
                            command above); updates without it are rejected with 403
    TELEGRAM_API_URL        optional API base URL (tests point it at a local fake)
Input limits (:mod:`bot.limits`): bodies over TAILOR_MAX_BODY_BYTES get 413, non-object bodies and updates
whose message / callback parts are not shaped as Telegram's (a message that is a string, a text that is
a number, no chat) 400 with a reason;
over-long or rate-limited messages are answered in the chat with the clear message, never read by NLU.
The sender id is ``telegram:<user id>`` of the update's sender (the chat id if it has none;
:mod:`bot.identity`), set only for an update carrying the secret token; replies go to the update's chat.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput, TelegramOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.connectors.guard import cap_body, error_response
from bot.connectors.turns import flush_cards, handle_turn
from bot.formatting import CallbackStore, Card, CardBuffer, plain_text, telegram_keyboard, telegram_media
from bot.identity import TELEGRAM, platform_id, telegram_sender
from bot.limits import MalformedRequestError, check

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
START_COMMAND = "/start"


def _markup(cards: list[Card], store: CallbackStore) -> InlineKeyboardMarkup:
    rows = telegram_keyboard(cards, store)["inline_keyboard"]
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(**b) for b in row] for row in rows])


UPDATE_FIX = "POST a Telegram Update object (https://core.telegram.org/bots/api#update)"


def _bad_update(message: str) -> MalformedRequestError:
    return MalformedRequestError(400, "bad_update", message, fix=UPDATE_FIX)


def _check_message(msg: Any, where: str) -> None:
    """The parts of a Message this connector reads: ``chat.id``, ``from.id``, ``text``."""
    if not isinstance(msg, dict):
        raise _bad_update(f"'{where}' is not a JSON object.")
    chat, sender = msg.get("chat"), msg.get("from")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int) or isinstance(chat.get("id"), bool):
        raise _bad_update(f"'{where}.chat' is not an object with a numeric 'id'.")
    if sender is not None and (not isinstance(sender, dict) or not isinstance(sender.get("id"), int)):
        raise _bad_update(f"'{where}.from' is not an object with a numeric 'id'.")
    if msg.get("text") is not None and not isinstance(msg["text"], str):
        raise _bad_update(f"'{where}.text' is not a string.")


def _update(body: bytes) -> Update:
    """The Telegram update in a webhook body; :class:`MalformedRequestError` (400) if it is not a JSON object
    or a part this connector reads (message, edited_message, callback_query) is not shaped as Telegram's.
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedRequestError(
            400, "invalid_json", f"The body is not valid JSON ({err}).", fix=UPDATE_FIX
        ) from None
    if not isinstance(data, dict):
        raise MalformedRequestError(400, "not_an_object", f"The body is a JSON {type(data).__name__}.", fix=UPDATE_FIX)
    for key in ("message", "edited_message"):
        if data.get(key) is not None:
            _check_message(data[key], key)
    query = data.get("callback_query")
    if query is not None:
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            raise _bad_update("'callback_query' is not an object with a string 'id'.")
        sender = query.get("from")
        if not isinstance(sender, dict) or not isinstance(sender.get("id"), int):
            raise _bad_update("'callback_query.from' is not an object with a numeric 'id'.")
        if query.get("data") is not None and not isinstance(query["data"], str):
            raise _bad_update("'callback_query.data' is not a string.")
        if query.get("message") is not None:
            _check_message(query["message"], "callback_query.message")
    return Update(**data)


class TailorTelegramOutput(TelegramOutput):
    """One turn's output: cards go out as photos (a media group) with one inline keyboard."""

    def __init__(self, access_token: str, store: CallbackStore, api_url: str | None = None) -> None:
        kwargs = {"server": TelegramAPIServer.from_base(api_url)} if api_url else {}
        Bot.__init__(self, access_token, **kwargs)
        self.store = store
        self.buffer = CardBuffer()
        self.chat_id: int | None = None  # the update's chat; else the recipient's id without "telegram:"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """Buffer cards; the next plain text carries their keyboard (or it is sent on its own)."""
        recipient_id = str(self.chat_id) if self.chat_id is not None else platform_id(recipient_id, TELEGRAM)
        if self.buffer.offer(recipient_id, message):
            return
        plain = message.get("text") and not any(message.get(k) for k in ("buttons", "quick_replies", "image"))
        if self.buffer.cards and plain:
            await self.flush(keyboard_text=message["text"])
            rest = {k: v for k, v in message.items() if k != "text"}
            await super().send_response(recipient_id, rest)
            return
        await self.flush()
        await super().send_response(recipient_id, message)

    async def flush(self, keyboard_text: str | None = None) -> None:
        """Send the buffered cards: photos, then the keyboard on ``keyboard_text`` (or the card lines)."""
        await flush_cards(self.buffer, partial(self._send_cards, keyboard_text=keyboard_text))

    async def _send_cards(self, chat: str, cards: list[Card], keyboard_text: str | None = None) -> None:
        markup = _markup(cards, self.store)
        if len(cards) == 1 and keyboard_text is None:
            await self.send_photo(chat, cards[0].image, caption=cards[0].text, reply_markup=markup)
            return
        for group in telegram_media(cards):
            if len(group) == 1:
                await self.send_photo(chat, group[0]["media"], caption=group[0]["caption"])
            else:
                await self.send_media_group(
                    chat, [InputMediaPhoto(media=m["media"], caption=m["caption"]) for m in group]
                )
        await self.send_message(chat, keyboard_text or plain_text(cards), reply_markup=markup)


class TailorTelegramInput(TelegramInput):
    """Telegram webhook input; verifies Telegram's secret token header instead of calling getMe."""

    store = CallbackStore()

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        """Build from credentials.yml values, falling back to the TELEGRAM_* environment variables."""
        creds = dict(credentials or {})
        channel = cls(
            creds.get("access_token") or os.environ.get("TELEGRAM_TOKEN", ""),
            creds.get("verify") or os.environ.get("TELEGRAM_BOT_NAME", ""),
            creds.get("webhook_url") or os.environ.get("TELEGRAM_WEBHOOK_URL", ""),
            debug_mode=False,
        )
        channel.secret_token = creds.get("secret_token") or os.environ.get("TELEGRAM_SECRET_TOKEN", "")
        channel.api_url = creds.get("api_url") or os.environ.get("TELEGRAM_API_URL") or None
        if not (channel.access_token and channel.secret_token):
            logger.warning("TELEGRAM_TOKEN / TELEGRAM_SECRET_TOKEN not set: the Telegram webhook rejects updates")
        return channel

    def get_output_channel(self) -> TailorTelegramOutput:
        """A fresh output for one turn (no setWebhook call)."""
        return TailorTelegramOutput(self.access_token, self.store, getattr(self, "api_url", None))

    def _authentic(self, request: Request) -> bool:
        secret = getattr(self, "secret_token", "")
        given = request.headers.get(SECRET_HEADER, "")
        return bool(self.access_token and secret) and hmac.compare_digest(given.encode(), secret.encode())

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """``GET /webhooks/telegram/`` health, ``POST /webhooks/telegram/webhook`` updates."""
        bp = Blueprint("telegram_webhook", __name__)

        cap_body(bp)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self._authentic(request):
                return response.text("forbidden", status=403)
            try:
                update = _update(request.body or b"")
            except MalformedRequestError as err:
                logger.warning("Telegram update refused (%d %s): %s", err.status, err.code, err.message)
                return error_response(err)
            out = self.get_output_channel()
            text: str | None
            try:
                if update.callback_query is not None:
                    await out.answer_callback_query(update.callback_query.id)
                    msg, text = update.callback_query.message, self.store.expand(update.callback_query.data or "")
                    user = update.callback_query.from_user
                else:
                    msg = update.message or update.edited_message
                    text = msg.text if msg is not None else None
                    user = msg.from_user if msg is not None else None
                if msg is None or not text:
                    return response.text("success")
                out.chat_id = msg.chat.id
                sender = telegram_sender(user.id if user is not None else msg.chat.id)
                rejection = check(sender, text)
                if rejection is not None:  # answered here, never read by NLU; 200 so Telegram does not retry
                    await out.send_message(msg.chat.id, rejection.text)
                    return response.text("success")
                if text.strip() == START_COMMAND:
                    text = "hi"
                user_msg = UserMessage(text, out, sender, input_channel=self.name(),
                                       metadata=self.get_metadata(request))  # fmt: skip
                await handle_turn(on_new_message, user_msg)
            finally:
                await out.close()
            return response.text("success")

        return bp
