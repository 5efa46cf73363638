"""Sender ids from identities a channel authenticated, and the web page's signed staff tokens.

The actions (and the engine's trust, :mod:`actions.roles`) see one sender id per person:
    Slack      ``slack:<user id>``      set only after Rasa's Slack signature check
    Telegram   ``telegram:<user id>``   set only after the webhook's secret-token check
    web page   ``staff:<name>``         set only for a valid staff token (below)
    REST, socket.io: the id the client chose, which must not start with any of these namespaces
        (:func:`reserved_prefix`: case-insensitive, after dropping whitespace and invisible characters),
        so a client cannot claim an identity another channel vouches for.

A staff token is ``<name>.<expiry>.<signature>``: ``expiry`` in Unix seconds, ``signature`` the
HMAC-SHA256 of name and expiry under the server secret TAILOR_STAFF_SECRET (at least 16 characters),
base64url. ``python -m bot.launch staff-token NAME [--hours 12]`` mints one; the socket.io connector
verifies it (constant-time compare, then expiry). Without the secret no token is accepted. A token
cannot be revoked before it expires except by changing the secret (which revokes every token).
Standard library only (the connectors import it in the Rasa environment).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
import unicodedata
from collections.abc import Mapping

from actions.roles import IDENTITY_PREFIXES, SLACK, STAFF, TELEGRAM
from retrieval.errors import ConfigError, TailorError

STAFF_SECRET_ENV = "TAILOR_STAFF_SECRET"
MIN_SECRET_CHARS = 16
MAX_TOKEN_CHARS = 256
MAX_TOKEN_HOURS = 24 * 31
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SIGNED = "tailor-staff-v1:"  # domain separation: the secret signs nothing else in this format

RESERVED_TEXT = (
    "That session id is reserved for signed-in accounts, so I did not read your message. "
    "Reload the page to start a new session."
)


def slack_sender(user_id: str) -> str:
    """The sender id of a Slack user whose request signature was checked."""
    return SLACK + user_id


def telegram_sender(user_id: int | str) -> str:
    """The sender id of a Telegram user whose update carried the webhook's secret token."""
    return TELEGRAM + str(user_id)


def staff_sender(name: str) -> str:
    """The sender id of a web page user with a valid staff token."""
    return STAFF + name


def platform_id(sender_id: str, prefix: str) -> str:
    """``sender_id`` without ``prefix`` (the id the platform's API knows), or unchanged if it lacks it."""
    return sender_id[len(prefix) :] if sender_id.startswith(prefix) else sender_id


def _folded(text: str) -> str:
    """``text`` compatibility-normalized, case-folded, without whitespace and invisible (format) characters."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf").casefold()


def reserved_prefix(sender_id: str) -> str | None:
    """The namespace a client-chosen ``sender_id`` claims ("staff:", "slack:", "telegram:"), else None.

    Matched after NFKC normalization and case folding, with whitespace and zero-width / other format
    characters removed anywhere, so " Staff:anna", "slack:U1" after a zero-width space and "ｓｌａｃｋ:U1"
    are refused too.
    """
    folded = _folded(sender_id)
    return next((p for p in IDENTITY_PREFIXES if folded.startswith(p)), None)


# -- staff tokens -------------------------------------------------------------------------------------
class StaffTokenError(TailorError):
    """A staff token that is malformed, forged or expired; ``reason`` says which."""

    def __init__(self, reason: str, message: str, *, fix: str) -> None:
        self.reason = reason
        super().__init__(message, fix=fix)


def staff_secret(env: Mapping[str, str] | None = None) -> str | None:
    """TAILOR_STAFF_SECRET of ``env`` (default ``os.environ``), or None if unset or empty."""
    return (os.environ if env is None else env).get(STAFF_SECRET_ENV, "").strip() or None


def _check_secret(secret: str | None) -> str:
    if not secret:
        raise ConfigError(f"{STAFF_SECRET_ENV} is not set: staff sign-in is off.",
                          fix=f"set {STAFF_SECRET_ENV} to a random string of {MIN_SECRET_CHARS}+ characters "
                              "in the Rasa server's environment")  # fmt: skip
    if len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"{STAFF_SECRET_ENV} has {len(secret)} characters.",
                          fix=f"use at least {MIN_SECRET_CHARS}, e.g. `python -c 'import secrets; "
                              "print(secrets.token_urlsafe(32))'`")  # fmt: skip
    return secret


def _signature(secret: str, name: str, expiry: int) -> str:
    digest = hmac.new(secret.encode(), f"{_SIGNED}{name}.{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mint_staff_token(name: str, hours: float = 12.0, *, secret: str | None = None, now: float | None = None) -> str:
    """A staff token for ``name`` valid for ``hours``, signed with ``secret`` (default TAILOR_STAFF_SECRET).

    Raises:
        ConfigError: no (or a too short) secret, a name that is not 1-64 of ``a-z 0-9 _ -``, or hours
            outside (0, 744].
    """
    key = _check_secret(secret if secret is not None else staff_secret())
    name = name.strip().lower()
    if not NAME_RE.fullmatch(name):
        raise ConfigError(f"Staff name {name[:64]!r} is not allowed.", fix="use 1-64 of a-z, 0-9, '_' and '-'")
    if not 0 < hours <= MAX_TOKEN_HOURS:
        raise ConfigError(f"--hours {hours} is out of range.", fix=f"use a number of hours in (0, {MAX_TOKEN_HOURS}]")
    expiry = int((time.time() if now is None else now) + hours * 3600)
    return f"{name}.{expiry}.{_signature(key, name, expiry)}"


def verify_staff_token(token: str, *, secret: str | None = None, now: float | None = None) -> str:
    """The staff name a valid ``token`` was minted for.

    The signature is compared in constant time before the expiry is read.

    Raises:
        StaffTokenError: ``reason`` "disabled" (no secret), "malformed", "bad_signature" or "expired".
    """
    fix = "ask for a new staff link (`python -m bot.launch staff-token NAME`)"
    try:
        key = _check_secret(secret if secret is not None else staff_secret())
    except ConfigError as err:
        raise StaffTokenError("disabled", "Staff sign-in is off on this server.", fix=err.fix or "") from None
    parts = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3 or not NAME_RE.fullmatch(parts[0]) or not re.fullmatch(r"[0-9]{1,12}", parts[1]):
        raise StaffTokenError("malformed", "The staff token is not <name>.<expiry>.<signature>.", fix=fix)
    name, expiry, sig = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(_signature(key, name, expiry).encode(), sig.encode("utf-8", "replace")):
        raise StaffTokenError("bad_signature", "The staff token's signature is not valid.", fix=fix)
    if (time.time() if now is None else now) >= expiry:
        raise StaffTokenError("expired", "The staff token has expired.", fix=fix)
    return name


def staff_token_text(err: StaffTokenError) -> str:
    """The chat answer to a message sent with a refused staff token (the message is not read)."""
    return f"{err.message} I did not read your message: open the chat without the staff link, or ask for a new one."
