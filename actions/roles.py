"""Who is staff: the server-side role configuration (``TAILOR_STAFF``), read by the engine provider.

A sender id the actions see is either an identity a channel authenticated, namespaced by that
channel (:mod:`bot.identity` writes them), or an anonymous one a REST / socket.io client chose::

    slack:<Slack user id>       after the Slack request signature check
    telegram:<Telegram user id> after the webhook's secret-token check
    staff:<name>                a web page user with a valid signed staff token (TAILOR_STAFF_SECRET)

No client can choose an id in these namespaces (the REST and socket.io connectors refuse them), so
``TAILOR_STAFF`` (comma / space separated, e.g. ``"slack:U0123, telegram:42, staff:anna"``) is the one
source of staff roles: the engine's ``EngineConfig.trusted``. An entry outside the namespaces would be
forgeable by any client, so it is ignored with a warning. Standard library only.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

log = logging.getLogger(__name__)

STAFF_ENV = "TAILOR_STAFF"
SLACK, TELEGRAM, STAFF = "slack:", "telegram:", "staff:"
#: The namespaces of authenticated identities; a client-chosen sender id may start with none of them.
IDENTITY_PREFIXES: tuple[str, ...] = (SLACK, TELEGRAM, STAFF)


def staff_identities(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The staff identities of ``TAILOR_STAFF`` in ``env`` (default ``os.environ``), in order, deduplicated.

    The namespace is matched case-insensitively and written lower case ("Slack:U1" -> "slack:U1");
    the id after it is kept as it is (Slack user ids are case-sensitive). Entries outside the
    namespaces, or with nothing after the namespace, are logged and ignored.
    """
    raw = (os.environ if env is None else env).get(STAFF_ENV, "")
    found: list[str] = []
    for entry in (e for e in re.split(r"[\s,]+", raw) if e):
        prefix = next((p for p in IDENTITY_PREFIXES if entry.lower().startswith(p)), None)
        ident = entry[len(prefix) :] if prefix else ""
        if prefix is None or not ident:
            log.warning(
                "%s entry %.60r ignored: staff must be %s<id> (a bare id could be chosen by any client)",
                STAFF_ENV, entry, "<id>, ".join(IDENTITY_PREFIXES),
            )  # fmt: skip
            continue
        if prefix + ident not in found:
            found.append(prefix + ident)
    return tuple(found)
