r"""What the shopper sees through the running chat (REST): satisfaction of changes and simulated sessions.

    .venv/bin/python bench/chat_satisfaction.py --engine MODEL_DIR [--requests 60] [--sessions 30] \
        [--rasa-url URL] [--model models/tailor.tar.gz] [--json FILE]

The same requests and sessions as ``tailor evaluate --only satisfaction,session``
(:mod:`retrieval.evaluation.satisfaction`, :mod:`retrieval.evaluation.session`), sent as a shopper sends
them through Rasa's REST channel: a search for the candidate's category, the card's Select button
(``/select{"product": ID}``), then the change in words. The products shown are read from the card
messages (their Select buttons carry the image ids) and scored against the catalog's ground truth, so
the README can show the chat's figures next to the engine's. Without ``--rasa-url`` it starts the action
server (``TAILOR_MODEL_DIR=--engine``) and Rasa on free loopback ports (bot/launch.py) and stops them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import ClassVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from retrieval.config import write_json  # noqa: E402  (pure Python: both environments)

SELECT = re.compile(r'/select\{"product":\s*"([^"]+)"\}')


def post(url: str, sender: str, text: str) -> list[dict]:
    """One REST turn; the bot's messages."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read()) or []


def shown_ids(messages: list[dict]) -> list[str]:
    """Image ids of the product cards in ``messages``, in order."""
    out = []
    for msg in messages:
        for button in msg.get("buttons") or []:
            found = SELECT.search(button.get("payload", ""))
            if found and found.group(1) not in out:
                out.append(found.group(1))
    return out


class Chat:
    """A shopper's conversation through REST (one sender per request or session)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sender = f"sat-{uuid.uuid4().hex[:10]}"

    silent: ClassVar[list[dict]] = []  # turns answered without product cards: {"text", "reply"}

    def say(self, text: str) -> list[str]:
        """Send ``text``; the ids of the cards shown in reply (a reply without cards is kept in ``silent``)."""
        messages = post(self.url, self.sender, text)
        ids = shown_ids(messages)
        if not ids:
            Chat.silent.append({"text": text, "reply": " / ".join(m.get("text", "") for m in messages)[:200]})
        return ids

    def select(self, image_id: str) -> None:
        """Press a card's Select button."""
        post(self.url, self.sender, "/select" + json.dumps({"product": image_id}))


def run(url: str, catalog_root: str, requests: int, sessions: int, seed: int) -> dict:
    """Both measurements through the chat at ``url``."""
    from retrieval.catalog.datasets.demo import load_demo
    from retrieval.catalog.taxonomy import Taxonomy
    from retrieval.evaluation.satisfaction import Truth, measure
    from retrieval.evaluation.session import run_sessions

    truth = Truth.from_catalog(load_demo(catalog_root, check_images=False))
    taxonomy = Taxonomy.load()
    chats: dict[str, Chat] = {}  # shown image id -> the session's conversation (empty for requests)

    def modify(candidate: str, text: str, k: int) -> list[str]:
        chat = chats.get(candidate)
        if chat is None:  # a shopper searches before picking: the chat has results on screen
            chat = Chat(url)
            chat.say("show me " + truth.category[candidate].replace("-", " "))
            Chat.silent = [s for s in Chat.silent if not s["text"].startswith("show me ")]
        chat.select(candidate)
        ids = chat.say(text)
        if candidate in chats:
            chats.update(dict.fromkeys(ids, chat))
        return ids

    def search(text: str, k: int) -> list[str]:
        chat = Chat(url)
        ids = chat.say(text)
        for i in ids:  # the session's later turns continue this conversation
            chats[i] = chat
        return ids

    sat = measure(modify, truth, taxonomy, per_arity=requests, seed=seed)
    ses = run_sessions(search, modify, truth, taxonomy, n=sessions, seed=seed, k=4)
    silent = Chat.silent
    return {"satisfaction": sat, "session": ses, "no_cards": {"turns": len(silent), "examples": silent[:40]}}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", required=True, help="engine model directory (TAILOR_MODEL_DIR)")
    parser.add_argument("--catalog", default=None, help="catalog with meta/attributes.jsonl (default: the engine's)")
    parser.add_argument("--requests", type=int, default=60, help="requests per number of changes")
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rasa-url", default=None, help="use a running Rasa server instead of starting one")
    parser.add_argument("--model", default=str(REPO / "models" / "tailor.tar.gz"), help="Rasa model")
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    catalog = args.catalog or json.loads((Path(args.engine) / "catalog.json").read_text())["path"]

    from bot.launch import free_port, start_action_server, start_rasa_server, stop_all
    from retrieval.evaluation.shopper import markdown

    services = []
    try:
        if args.rasa_url:
            base = args.rasa_url.rstrip("/")  # its action server must serve --engine
        else:
            logs = Path(tempfile.mkdtemp(prefix="tailor-satisfaction-"))
            env = {"TAILOR_MODEL_DIR": str(Path(args.engine).resolve())}
            print(f"starting servers (logs in {logs})...", flush=True)
            services.append(start_action_server(free_port(), logs, env))
            services.append(start_rasa_server(args.model, free_port(), services[0].url, logs, env=env))
            base = services[1].url
        out = run(f"{base}/webhooks/rest/webhook", catalog, args.requests, args.sessions, args.seed)
    finally:
        stop_all(services)
    out["through"] = "chat (Rasa REST)"
    print(markdown(out))
    print(f"turns answered without product cards: {out['no_cards']['turns']}")
    if args.json:
        write_json(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
