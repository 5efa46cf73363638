"""The web page: the chat widget, its script, and the catalog images over HTTP (standard library only).

    python -m bot.serve --images build/demo/catalog [--port 8080] [--rasa-url http://localhost:5005]

Routes: ``/`` (the page), ``/static/<file>`` (bot/web/static), ``/images/<path>`` (files under the
catalog root: images only, no path traversal), ``/healthz``. Image URLs the actions send are
``$TAILOR_PUBLIC_URL/images/<path>``, so TAILOR_PUBLIC_URL must be where this server is reachable
(Slack and Telegram fetch images from it, so for them it must be public).
"""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import os
import threading
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
WEB_DIR = Path(__file__).resolve().parent / "web"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})
STATIC_SUFFIXES = frozenset({".js", ".css", ".png", ".svg", ".ico", ".map"})


def safe_path(root: Path, rel: str, suffixes: frozenset[str]) -> Path | None:
    """``root/rel`` if it is an existing regular file inside ``root`` with an allowed suffix, else None.

    ``rel`` is the still-percent-encoded URL path below the route; ``..``, absolute paths, NUL
    bytes, backslashes and symlinks leading outside ``root`` are refused.
    """
    rel = unquote(rel)
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
        return None
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    root = root.resolve()
    try:
        path = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file() or path.suffix.lower() not in suffixes:
        return None
    return path


class Handler(BaseHTTPRequestHandler):
    """GET / HEAD only; everything it serves is read-only."""

    server_version = "tailor-web"

    def __init__(self, *args, images: Path, web_dir: Path, page_config: dict, **kwargs) -> None:
        self.images, self.web_dir, self.page_config = images, web_dir, page_config
        super().__init__(*args, **kwargs)

    def log_message(self, fmt: str, *args: object) -> None:  # route access logs to logging
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _send(self, status: int, body: bytes, ctype: str, head: bool, cache: str = "no-cache") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            page = (self.web_dir / "index.html").read_text()
            page = page.replace("__TAILOR_CONFIG__", json.dumps(self.page_config))
            self._send(HTTPStatus.OK, page.encode(), "text/html; charset=utf-8", head)
        elif path == "/healthz":
            self._send(HTTPStatus.OK, b'{"status": "ok"}', "application/json", head)
        elif path.startswith("/static/"):
            self._file(safe_path(self.web_dir / "static", path[len("/static/") :], STATIC_SUFFIXES), head, "no-cache")
        elif path.startswith("/images/"):
            found = safe_path(self.images, path[len("/images/") :], IMAGE_SUFFIXES)
            self._file(found, head, "public, max-age=3600")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head)

    def _file(self, path: Path | None, head: bool, cache: str) -> None:
        if path is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain", head)
            return
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, path.read_bytes(), ctype, head, cache)


def make_server(
    images: str | Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    rasa_url: str = "http://localhost:5005",
    web_dir: str | Path = WEB_DIR,
) -> ThreadingHTTPServer:
    """A ready (not yet serving) HTTP server; ``port=0`` picks a free port."""
    config = {"socketUrl": rasa_url.rstrip("/"), "socketPath": "/socket.io/"}
    handler = partial(Handler, images=Path(images), web_dir=Path(web_dir), page_config=config)
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Serve ``server`` in a daemon thread (tests); stop with ``server.shutdown()``."""
    thread = threading.Thread(target=server.serve_forever, name="tailor-web", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    env = os.environ.get
    parser = argparse.ArgumentParser(description="tailor's web page, widget script and catalog images")
    parser.add_argument("--images", default=env("TAILOR_CATALOG_DIR", "build/demo/catalog"), help="catalog root")
    parser.add_argument("--host", default=env("TAILOR_WEB_HOST", "127.0.0.1"), help="bind address")
    parser.add_argument("--port", type=int, default=int(env("TAILOR_WEB_PORT", "8080")), help="port")
    parser.add_argument(
        "--rasa-url", default=env("TAILOR_RASA_PUBLIC_URL", "http://localhost:5005"), help="Rasa URL the browser uses"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    images = Path(args.images)
    if not images.is_dir():
        log.warning("catalog root %s does not exist yet: image URLs will answer 404", images)
    if not (WEB_DIR / "static" / "webchat.js").is_file():
        log.warning("bot/web/static/webchat.js is missing: run `make setup` (installs rasa-webchat@1.0.1)")
    server = make_server(images, args.host, args.port, args.rasa_url)
    log.info("serving the chat page on http://%s:%d/ (images from %s)", args.host, server.server_port, images)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
