"""The action server: rasa-sdk's app on loopback, every call authenticated with a shared token.

    TAILOR_ACTION_TOKEN=... python -m actions.server [--port 5055] [--host 127.0.0.1]

rasa-sdk's own server listens on 0.0.0.0 and runs any action for anyone who can reach it (a forged
tracker could undo another shopper's interaction). This one binds to loopback unless told otherwise
(``--host`` / TAILOR_ACTION_HOST) and answers ``/webhook`` and ``/actions`` only to a request whose
``Authorization: Bearer <token>`` header matches TAILOR_ACTION_TOKEN (compared in constant time); the
Rasa server sends that header from its endpoints file (``bot.launch`` writes both from one token per
run). ``/health`` needs no token and says only whether the engine loaded. An unexpected error
answers 500 with a generic message: never the request body, never another user's data.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import engine_provider

log = logging.getLogger(__name__)

TOKEN_ENV = "TAILOR_ACTION_TOKEN"
HOST_ENV = "TAILOR_ACTION_HOST"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055
#: The one path served without the token: the health probe (it reveals no user data).
HEALTH_PATH = "/health"


class MissingTokenError(SystemExit):
    """The server was started without a token: it would accept calls from anyone."""


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant-time comparison)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def make_app(token: str, package: str = "actions") -> Sanic:
    """rasa-sdk's app for ``package`` behind the token check, with /health reporting the engine."""
    if not token:
        raise MissingTokenError(
            f"error: {TOKEN_ENV} is empty; set it to a secret shared with the Rasa server's endpoints file "
            "(python -m bot.launch does this for every run)"
        )
    app: Sanic = create_app(package, cors_origins="")

    async def gate(request: Request) -> HTTPResponse | None:
        if request.path == HEALTH_PATH:  # rasa-sdk's own /health always says ok: this one reports the engine
            status = engine_provider.engine_status()
            failed = status["engine"] == "failed"
            return response.json({"status": "unhealthy" if failed else "ok", **status}, status=503 if failed else 200)
        if authorized(request.headers.get("authorization"), token):
            return None
        log.warning("refused %s %s from %s: missing or wrong token", request.method, request.path, request.ip)
        return response.json({"error": "unauthorized: the action server needs its token"}, status=401)

    async def on_error(request: Request, exception: Exception) -> HTTPResponse:
        log.error("action server error on %s %s", request.method, request.path, exc_info=exception)
        return response.json({"error": "the action server failed; see its log"}, status=500)

    app.register_middleware(gate, "request")
    app.error_handler.add(Exception, on_error)  # replaces rasa-sdk's, which echoes the request body
    return app


def main(argv: list[str] | None = None) -> int:
    """Start the action server (blocks)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--host", default=os.environ.get(HOST_ENV, DEFAULT_HOST), help="bind address")
    parser.add_argument("--actions", default="actions", help="the package of actions to serve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = make_app(os.environ.get(TOKEN_ENV, ""), args.actions)
    except MissingTokenError as err:
        print(err, file=sys.stderr)  # noqa: T201 - a command-line error for the operator
        return 2
    log.info("action server on http://%s:%d (token required)", args.host, args.port)
    app.run(args.host, args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
