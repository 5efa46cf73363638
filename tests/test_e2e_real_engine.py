"""A whole conversation over REST on the REAL engine: real Rasa server + real action server serving
a copy of ``tiny_model`` (the tiny generated catalog) on loopback.

Every answer is checked against the engine itself (loaded in this process from the same model):
the products shown, the refinement, the explanation; the metadata statement and the like are
checked in the interaction log the action server's engine wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_e2e_rest import Shopper, get, images, texts

from retrieval.interactions.log import InteractionLog, LogConfig

pytestmark = pytest.mark.stack

SENDER = "real-engine-shopper"


def shown_ids(stack: Any, messages: list[dict[str, Any]]) -> list[str]:
    """Image ids of the cards of one answer, from their URLs (``<web>/images/<image_path>``)."""
    prefix = stack.web + "/images/"
    urls = images(messages)
    assert urls and all(u.startswith(prefix) for u in urls), urls
    return urls


def logged(stack: Any, kind: str) -> list[Any]:
    """The shopper's rows of ``kind`` in the interaction log of the served model."""
    path = stack.model_dir / "interactions.db"
    assert path.is_file(), "the engine wrote no interaction log"
    log = InteractionLog(LogConfig(f"sqlite:///{path}"), readonly=True)
    try:
        return [r for r in log.list(user=SENDER) if r.kind == kind]
    finally:
        log.close()


def test_full_conversation_on_the_real_engine(real_chat_stack: Any, tiny_engine: Any) -> None:
    stack, engine = real_chat_stack, tiny_engine
    shopper = Shopper(stack, SENDER)
    assert "tailor" in " ".join(texts(shopper.say("hello")))

    # search: the engine's first four results, as cards whose images are served
    out = shopper.say("show me black dresses")
    urls = shown_ids(stack, out)
    results = shopper.slots()["results"]
    expected = engine.search("show me black dresses", k=4, user=SENDER)
    assert [r["image_id"] for r in results] == [r.image_id for r in expected]
    assert len(urls) == 4 and [u.split("/images/", 1)[1] for u in urls] == [r.image_path for r in expected]
    status, ctype, body = get(urls[0])
    assert status == 200 and ctype == "image/jpeg" and body[:2] == b"\xff\xd8"
    cards = [m for m in out if m.get("buttons")]
    assert len(cards) == 4 and [b["title"] for b in cards[0]["buttons"]] == ["Select", "I like this"]

    # select
    out = shopper.say("the second one")
    assert "You picked #2" in " ".join(texts(out))
    pick = results[1]
    assert shopper.slots()["selected"] == pick["image_id"]

    # modify: the engine's modify of the pick with the words the dialogue composed
    out = shopper.say("like this but in red")
    state = shopper.slots()
    assert state["modifications"] == ["color:red"]
    assert state["query"]["kind"] == "modify" and state["query"]["candidate"] == pick["image_id"]
    assert "red" in state["query"]["text"]
    modified = state["results"]
    expected = engine.modify(pick["image_id"], state["query"]["text"], k=4, user=SENDER)
    assert [r["image_id"] for r in modified] == [r.image_id for r in expected]
    assert len(images(out)) == 4 and all(r["product_id"] != pick["product_id"] for r in modified)

    # explain: the engine's graph explanation of the top result for this query
    out = shopper.say("why this one?")
    exp = engine.explain(pick["image_id"], state["query"]["text"], modified[0]["image_id"])
    words = exp.text or ", ".join(exp.matched + exp.shared)
    assert words and f"#1 {modified[0]['title']}: {words}" in texts(out)

    # metadata: confirmed to the shopper and recorded (pending: a shopper is not trusted staff)
    out = shopper.say("the first one is made of silk")
    reply = " ".join(texts(out))
    assert "noted" in reply and "silk" in reply and "couldn't record" not in reply, reply
    [row] = logged(stack, "metadata")
    assert row.payload["image_id"] == modified[0]["image_id"] and "material:silk" in row.payload["attributes"]
    assert row.scope == "pending"

    # like: confirmed and recorded with the query it answered
    out = shopper.say("I like the first and third")
    assert any(t.startswith("Glad you like #1") and "#3" in t for t in texts(out)), texts(out)
    [row] = logged(stack, "like")
    assert row.payload["liked_ids"] == [modified[0]["image_id"], modified[2]["image_id"]]
    assert row.payload["candidate_id"] == pick["image_id"]

    # modify again: red is kept, pockets added, still the same pick
    out = shopper.say("with pockets")
    state = shopper.slots()
    assert state["modifications"] == ["color:red", "details:pockets"]
    assert state["query"]["candidate"] == pick["image_id"]
    assert "red" in state["query"]["text"] and "pocket" in state["query"]["text"]
    assert len(images(out)) == 4 and all(r["product_id"] != pick["product_id"] for r in state["results"])


def test_bounded_load_16_conversations_x_20_turns(real_chat_stack: Any) -> None:
    """The short form of ``bench/chat_load.py`` (16 x 200 in the README): 16 concurrent conversations of
    20 turns each through REST on the real engine, every turn answered (latency is the bench's job).
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("chat_load", Path(__file__).parent.parent / "bench" / "chat_load.py")
    assert spec and spec.loader
    chat_load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chat_load)
    out = chat_load.run_load(f"{real_chat_stack.rasa}/webhooks/rest/webhook", 16, 20, 0.0, 600.0)
    assert out["turns"] == 16 * 20 and out["errors"] == 0, out["error_examples"]
