"""A local stand-in for the Slack Web API and the Telegram Bot API that records every call.

The Rasa server under test gets ``SLACK_API_URL=<fake>/slack/`` and ``TELEGRAM_API_URL=<fake>/tg``,
so the connectors' outbound calls land here instead of the internet; tests read :attr:`calls`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


def _message(chat_id: Any, n: int) -> dict[str, Any]:
    return {"message_id": n, "date": int(time.time()), "chat": {"id": int(chat_id or 1), "type": "private"}}


class FakePlatforms:
    """Records ``(platform, method, payload)``; answers like the real APIs do on success."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype:
                    payload = json.loads(body or "{}")
                else:
                    payload = {k: v[0] for k, v in parse_qs(body).items()}
                    for key in ("reply_markup", "media", "blocks"):
                        if isinstance(payload.get(key), str):
                            payload[key] = json.loads(payload[key])
                platform = "slack" if self.path.startswith("/slack/") else "telegram"
                method = self.path.rstrip("/").rsplit("/", 1)[-1]
                with outer._cond:
                    outer.calls.append((platform, method, payload))
                    n = len(outer.calls)
                    outer._cond.notify_all()
                if platform == "slack":
                    answer: dict[str, Any] = {"ok": True, "channel": payload.get("channel"), "ts": f"{n}.0"}
                elif method == "sendMediaGroup":
                    answer = {"ok": True, "result": [_message(payload.get("chat_id"), n) for _ in payload["media"]]}
                elif method in ("sendMessage", "sendPhoto"):
                    answer = {"ok": True, "result": _message(payload.get("chat_id"), n)}
                else:
                    answer = {"ok": True, "result": True}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, platform: str, method: str, after: int = 0, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Payloads of ``method`` calls recorded after index ``after``; waits until at least one arrives."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [p for pl, m, p in self.calls[after:] if pl == platform and m == method]
                if found or time.monotonic() > deadline:
                    return found
                self._cond.wait(timeout=0.5)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
