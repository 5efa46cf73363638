"""Input limits (bot/limits.py) before NLU: the pure checks, and the REST channel of the real stack."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from bot.limits import (
    InputGate,
    Limits,
    MalformedRequestError,
    RateLimiter,
    Reason,
    clean_text,
    parse_message_body,
    too_long_text,
)
from retrieval.errors import ConfigError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- unit: no Rasa, no server --------------------------------------------------------------------
@pytest.mark.unit
def test_limits_defaults_and_environment_overrides() -> None:
    assert Limits.from_env({}) == Limits(2000, 256 * 1024, 256, 60.0, 30)
    env = {"TAILOR_MAX_MESSAGE_CHARS": "500", "TAILOR_MAX_BODY_BYTES": "4096", "TAILOR_RATE_PER_MIN": "0"}
    limits = Limits.from_env({**env, "TAILOR_RATE_BURST": " 5 "})
    assert (limits.max_message_chars, limits.max_body_bytes, limits.rate_per_min, limits.burst) == (500, 4096, 0, 5)


@pytest.mark.unit
@pytest.mark.parametrize(
    "env", [{"TAILOR_MAX_MESSAGE_CHARS": "lots"}, {"TAILOR_MAX_BODY_BYTES": "0"}, {"TAILOR_RATE_PER_MIN": "-1"}]
)
def test_limits_bad_settings_say_how_to_fix_them(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="Fix:"):
        Limits.from_env(env)


@pytest.mark.unit
def test_rate_limiter_burst_then_rate_per_sender() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate_per_min=60, burst=3, clock=clock)
    assert [limiter.take("ann") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("ann") == pytest.approx(1.0)  # one token a second
    assert limiter.take("bob") == 0.0  # another sender has their own bucket
    clock.now += 0.5
    assert limiter.take("ann") == pytest.approx(0.5)  # a refused message does not spend a token
    clock.now += 0.5
    assert limiter.take("ann") == 0.0 and limiter.take("ann") > 0.0
    clock.now += 3600
    assert [limiter.take("ann") for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(1.0)]  # refills to burst only


@pytest.mark.unit
def test_rate_limiter_off_and_bounded_memory() -> None:
    off = RateLimiter(rate_per_min=0, burst=1)
    assert all(off.take("ann") == 0.0 for _ in range(100)) and len(off) == 0
    clock = FakeClock()
    limiter = RateLimiter(rate_per_min=1, burst=1, max_senders=2, clock=clock)
    for sender in ("a", "b", "c"):
        limiter.take(sender)
    assert len(limiter) == 2
    assert limiter.take("a") == 0.0  # forgotten (least recently seen): a fresh bucket
    assert limiter.take("c") > 0.0


@pytest.mark.unit
def test_gate_answers_long_messages_clearly_and_passes_others() -> None:
    gate = InputGate(Limits(rate_per_min=0), clock=FakeClock())
    assert gate.check("ann", "show me red dresses") is None
    assert gate.check("ann", '/select{"product": "women/dresses/51727804/51727804_0.jpeg"}') is None
    assert gate.check("ann", "x" * 2000) is None
    rejection = gate.check("ann", "x" * 1_000_000)
    assert rejection is not None and rejection.reason is Reason.TOO_LONG
    assert rejection.text == (
        "That message is too long (1,000,000 characters); please keep it to 2,000 characters or fewer."
    )
    assert too_long_text(2001, 2000).startswith("That message is too long (2,001 characters)")


@pytest.mark.unit
def test_gate_rate_limits_a_flood_of_long_messages_too() -> None:
    clock = FakeClock()
    gate = InputGate(Limits(rate_per_min=6, burst=2), clock=clock)
    reasons = [r.reason if r else None for r in (gate.check("ann", "x" * 5000) for _ in range(3))]
    assert reasons == [Reason.TOO_LONG, Reason.TOO_LONG, Reason.RATE_LIMITED]
    limited = gate.check("ann", "hi")
    assert limited is not None and limited.retry_after == pytest.approx(10.0) and "wait 10 s" in limited.text
    assert gate.check("bob", "hi") is None
    clock.now += 10
    assert gate.check("ann", "hi") is None
    assert gate.body_too_large(256 * 1024 + 1) and not gate.body_too_large(256 * 1024)


@pytest.mark.unit
def test_parse_message_body_accepts_rasa_rest_bodies() -> None:
    body = parse_message_body(json.dumps({"sender": "ann", "message": "hi"}).encode(), Limits())
    assert (body.sender, body.text, body.metadata, body.input_channel) == ("ann", "hi", None, None)
    full = {"sender": "ann", "message": "", "metadata": {"k": 1}, "input_channel": "bench"}
    body = parse_message_body(json.dumps(full).encode(), Limits())
    assert body.metadata == {"k": 1} and body.input_channel == "bench"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'["show me red dresses"]', 400, "not_an_object"),
        (b"not json", 400, "invalid_json"),
        (b"\xff\xfe{", 400, "invalid_json"),
        (b'{"sender": "ann", "message": 42}', 400, "bad_message"),
        (b'{"sender": "ann"}', 400, "bad_message"),
        (b'{"message": "hi"}', 400, "bad_sender"),
        (b'{"sender": 7, "message": "hi"}', 400, "bad_sender"),
        (json.dumps({"sender": "a" * 257, "message": "hi"}).encode(), 400, "bad_sender"),
        (b'{"sender": "ann", "message": "hi", "metadata": [1]}', 400, "bad_metadata"),
        (json.dumps({"sender": "ann", "message": "x" * 300_000}).encode(), 413, "body_too_large"),
    ],
)
def test_parse_message_body_refuses_malformed_bodies_with_a_reason(body: bytes, status: int, code: str) -> None:
    with pytest.raises(MalformedRequestError) as err:
        parse_message_body(body, Limits())
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.as_json()["reason"] and "Fix:" in err.value.as_json()["reason"]


# -- stack: the real Rasa server + action server (fake engine) ------------------------------------
def rest(stack: Any, body: bytes) -> tuple[int, Any, dict[str, str]]:
    req = urllib.request.Request(f"{stack.rasa}/webhooks/rest/webhook", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def say(stack: Any, sender: str, text: str) -> tuple[int, Any, dict[str, str]]:
    return rest(stack, json.dumps({"sender": sender, "message": text}).encode())


def user_texts(stack: Any, sender: str) -> list[str]:
    with urllib.request.urlopen(f"{stack.rasa}/conversations/{sender}/tracker", timeout=60) as resp:
        return [e.get("text") or "" for e in json.loads(resp.read())["events"] if e["event"] == "user"]


@pytest.mark.stack
def test_rest_one_megabyte_message_does_not_stall_another_shopper(chat_stack: Any) -> None:
    assert say(chat_stack, "limits-warm", "hi")[0] == 200  # the first turn of a session is not measured
    huge = json.dumps({"sender": "limits-huge", "message": "a" * 1_000_000}).encode()
    results: list[tuple[int, Any, dict[str, str]]] = []
    barrier = threading.Barrier(4)

    def flood() -> None:
        barrier.wait()
        results.append(rest(chat_stack, huge))

    threads = [threading.Thread(target=flood) for _ in range(3)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.monotonic()
    status, answer, _ = say(chat_stack, "limits-shopper", "show me red dresses")
    latency = time.monotonic() - start
    for t in threads:
        t.join(timeout=120)
    print(f"concurrent shopper's turn while 3 x 1 MB messages were rejected: {latency * 1000:.0f} ms")
    assert status == 200 and any(m.get("image") for m in answer)
    assert latency < 1.0, f"the other shopper waited {latency:.2f} s"
    assert [r[0] for r in results] == [413, 413, 413]
    assert results[0][1]["error"] == "body_too_large" and "1,000,0" in results[0][1]["reason"]
    assert user_texts(chat_stack, "limits-huge") == []  # never reached the tracker


@pytest.mark.stack
def test_rest_long_message_gets_a_clear_reply_and_is_not_read(chat_stack: Any) -> None:
    status, answer, _ = say(chat_stack, "limits-long", "red dress " * 10_000)
    assert status == 200
    assert answer == [
        {
            "recipient_id": "limits-long",
            "text": "That message is too long (100,000 characters); please keep it to 2,000 characters or fewer.",
        }
    ]
    assert user_texts(chat_stack, "limits-long") == []
    status, answer, _ = say(chat_stack, "limits-long", "show me red dresses")  # the next normal turn is answered
    assert status == 200 and any(m.get("image") for m in answer)


@pytest.mark.stack
def test_rest_malformed_bodies_get_400_with_a_reason(chat_stack: Any) -> None:
    status, answer, _ = rest(chat_stack, b'["show me red dresses"]')
    assert status == 400 and answer["error"] == "not_an_object" and "JSON list" in answer["reason"]
    status, answer, _ = rest(chat_stack, b'{"sender": "limits-bad", "message": {"text": "hi"}}')
    assert status == 400 and answer["error"] == "bad_message" and "'message'" in answer["reason"]
    status, answer, _ = rest(chat_stack, b"{not json")
    assert status == 400 and answer["error"] == "invalid_json"
    status, answer, _ = say(chat_stack, "limits-bad", '/select{"product": "dress-01"}')  # payloads still work
    assert status == 200 and answer
    status, answer, _ = say(chat_stack, "limits-bad", "show me red dresses")
    assert status == 200 and any(m.get("image") for m in answer)


@pytest.mark.stack
def test_rest_flooding_sender_gets_429_others_are_answered(chat_stack: Any) -> None:
    limits = Limits.from_env()
    if limits.rate_per_min <= 0:
        pytest.skip("TAILOR_RATE_PER_MIN=0: no rate limit to test")
    statuses = [say(chat_stack, "limits-flood", "x" * 5000)[0] for _ in range(limits.burst)]
    assert statuses == [200] * limits.burst  # each answered "too long", each spent a token
    status, answer, headers = say(chat_stack, "limits-flood", "hi")
    assert status == 429 and answer["error"] == "rate_limited" and int(headers["Retry-After"]) >= 1
    assert "wait" in answer["reason"]
    status, answer, _ = say(chat_stack, "limits-other", "hi")
    assert status == 200 and answer


@pytest.mark.unit
@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("red\x00dress", "red dress"),
        ("show me red\u200bdresses", "show me red dresses"),
        ("\u200b\u200b\u200b", ""),
        ("\u202eesserd der\u202c", "esserd der"),
        ("bla\u200dck  dress\r\n", "black  dress"),
        ("cafe\u0301", "caf\u00e9"),
        ("\ufeffhello\x7f", "hello"),
        ("أريد فستان أحمر", "أريد فستان أحمر"),
        ('/like{"product": "dress-01"}', '/like{"product": "dress-01"}'),
    ],
)
def test_clean_text_before_nlu(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
