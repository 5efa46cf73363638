r"""Set (or delete) the Telegram webhook once the Rasa server has a public HTTPS URL.

    TELEGRAM_TOKEN=... TELEGRAM_SECRET_TOKEN=... \
        python -m bot.telegram_webhook --url https://HOST/webhooks/telegram/webhook
    python -m bot.telegram_webhook --delete

Standard library only (runs in either environment). TELEGRAM_SECRET_TOKEN must be the value the
Rasa server has: Telegram sends it back on every update and the connector rejects updates without it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request

API = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org")


def call(method: str, payload: dict, token: str, api: str = API, timeout: float = 20.0) -> dict:
    """POST one Bot API method and return its JSON answer."""
    req = urllib.request.Request(
        f"{api.rstrip('/')}/bot{token}/{method}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; prints Telegram's answer."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="public HTTPS URL of /webhooks/telegram/webhook")
    parser.add_argument("--delete", action="store_true", help="remove the webhook instead")
    args = parser.parse_args(argv)
    token, secret = os.environ.get("TELEGRAM_TOKEN", ""), os.environ.get("TELEGRAM_SECRET_TOKEN", "")
    if not token:
        print("error: set TELEGRAM_TOKEN (from @BotFather)", file=sys.stderr)
        return 2
    if args.delete:
        print(json.dumps(call("deleteWebhook", {}, token)))
        return 0
    if not args.url or not secret:
        print("error: pass --url and set TELEGRAM_SECRET_TOKEN (the Rasa server needs the same value)", file=sys.stderr)
        return 2
    payload = {
        "url": args.url,
        "secret_token": secret,
        "allowed_updates": ["message", "edited_message", "callback_query"],
    }
    answer = call("setWebhook", payload, token)
    print(json.dumps(answer))
    return 0 if answer.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
