"""While the action server is down, Rasa says "one moment" instead of answering nothing.

Rasa 3.6 logs a failed custom-action call (connection refused, a 5xx, a wrong token) and then sends
the shopper no message at all: HTTP 200 with an empty list. :func:`apply` wraps
``RemoteAction.run`` so that such a failure becomes one clear bot message; a rejection the action
server sends on purpose (``ActionExecutionRejection``, HTTP 400) still propagates as before.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

ONE_MOMENT = "One moment, please: the shop's search is restarting. Try again in a few seconds."


def apply() -> None:
    """Install the wrapper on Rasa's RemoteAction once (no-op outside the Rasa environment)."""
    try:
        # heavy: rasa, only in .venv-rasa; this runs inside the Rasa server
        from rasa.core.actions.action import ActionExecutionRejection, RemoteAction, create_bot_utterance
        from rasa.shared.exceptions import RasaException
    except ImportError:
        return
    original = RemoteAction.run
    if getattr(original, "__module__", "") == __name__:
        return

    @functools.wraps(original)
    async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Any]:
        try:
            return await original(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise
        except RasaException as err:
            log.error("custom action %s failed (%s): answering 'one moment'", self.name(), err)
            return [create_bot_utterance({"text": ONE_MOMENT})]

    run.__module__ = __name__
    RemoteAction.run = run
    log.debug("action-server outage message installed")
