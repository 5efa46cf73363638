r"""Chat-turn latency through REST: Rasa server + action server + engine, N concurrent conversations.

    .venv/bin/python bench/chat_load.py [--conversations 16] [--turns 200] [--think-ms 0] \
        [--fake-engine | (real engine from TAILOR_MODEL_DIR)] [--rasa-url URL] [--json FILE]

Without ``--rasa-url`` it starts the action and Rasa servers on free loopback ports itself
(bot/launch.py) and stops them afterwards. Each conversation plays the scripted shopping conversation
below, over and over, for ``--turns`` turns (closed loop: the saturation case); ``--think-ms T`` adds a
pause of 0.5-1.5 x T (seeded) between a shopper's turns, the way people chat. Bounded: at most
conversations x turns turns, and ``--max-seconds`` overall. Warm-up turns are not counted. A turn
that fails (an HTTP error, a timeout, an empty answer) is counted, not fatal; the exit status is 1 if
any failed. Prints p50 / p90 / p99 / max per turn and per intent; targets: p50 <= 120 ms, p99 <= 400 ms.
The per-sender rate limit (bot/limits.py, 60 turns a minute, burst 30) applies: a closed loop of more
than 30 turns per conversation needs ``--think-ms 1000`` or more, as a person's pace would.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from retrieval.config import write_json  # noqa: E402  (pure Python: both environments)

SCRIPT = (
    ("search", "show me black dresses"),
    ("select", "the second one"),
    ("like", "I like it"),
    ("modify", "like this but in red"),
    ("modify", "longer"),
    ("explain", "why this one?"),
    ("metadata", "the first one is made of silk"),
    ("like", "I like the first and third"),
    ("more", "show more"),
    ("modify", "with pockets"),
    ("start_over", "start over"),
)


class TurnFailedError(RuntimeError):
    """A chat turn got no answer."""


def post(url: str, sender: str, text: str) -> float:
    """One REST turn; returns its latency in ms (raises on HTTP errors, timeouts or an empty answer)."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        answer = json.loads(resp.read())
    ms = 1000.0 * (time.perf_counter() - start)
    if not answer:
        raise TurnFailedError(f"no answer to {text!r}")
    return ms


def run_load(url: str, conversations: int, turns: int, think_ms: float, max_seconds: float) -> dict:
    """Play the script for ``turns`` turns in each of ``conversations`` threads; return latency statistics
    and the failed turns (``errors``: count, ``error_examples``: the first few).
    """
    from retrieval.metrics import percentiles

    samples: list[tuple[str, float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    run_id = f"{os.getpid()}-{int(time.time())}"

    def pause(rng: random.Random) -> None:
        if think_ms:
            time.sleep(rng.uniform(0.5, 1.5) * think_ms / 1000.0)

    def conversation(i: int) -> None:
        sender = f"load-{run_id}-{i}"
        rng = random.Random(i)
        for text in ("hi", "show me a dress", "start over"):  # warm-up (loads the engine), not counted
            post(url, sender, text)
        pause(rng)  # shoppers do not all type at the same instant
        for turn in range(turns):
            kind, text = SCRIPT[turn % len(SCRIPT)]
            if time.monotonic() > deadline:
                return
            try:
                ms = post(url, sender, text)
            except (OSError, TurnFailedError, ValueError) as err:  # urllib's HTTP / URL errors are OSErrors
                with lock:
                    errors.append(f"{kind} {text!r}: {err}")
            else:
                with lock:
                    samples.append((kind, ms))
            pause(rng)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=conversations) as pool:
        for f in [pool.submit(conversation, i) for i in range(conversations)]:
            f.result()
    wall = time.perf_counter() - start
    all_ms = [ms for _, ms in samples] or [0.0]
    by_kind = {}
    for kind in dict.fromkeys(k for k, _ in SCRIPT):
        ms = [m for k, m in samples if k == kind]
        if ms:
            by_kind[kind] = {"n": len(ms), **percentiles(ms, digits=1)}
    return {
        "conversations": conversations,
        "turns": len(samples) + len(errors),
        "errors": len(errors),
        "error_examples": errors[:5],
        "think_ms": think_ms,
        "wall_s": round(wall, 1),
        "turns_per_s": round(len(samples) / wall, 2),
        **percentiles(all_ms, qs=(50, 90, 99), digits=1),
        "max_ms": round(max(all_ms), 1),
        "mean_ms": round(statistics.fmean(all_ms), 1),
        "by_turn": by_kind,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--turns", type=int, default=30, help="turns per conversation (the script repeats)")
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause between a shopper's turns")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop starting turns after this")
    parser.add_argument("--rasa-url", default=None, help="use a running Rasa server instead of starting one")
    parser.add_argument("--fake-engine", action="store_true", help="serve the test fake engine")
    parser.add_argument("--model", default=os.environ.get("TAILOR_RASA_MODEL", str(REPO / "models" / "tailor.tar.gz")))
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    from bot.launch import free_port, start_action_server, start_rasa_server, stop_all

    services = []
    try:
        if args.rasa_url:
            base = args.rasa_url.rstrip("/")
        else:
            logs = Path(tempfile.mkdtemp(prefix="tailor-load-"))
            env = {"TAILOR_FAKE_ENGINE": "1"} if args.fake_engine else {}
            print(f"starting servers (logs in {logs})...", flush=True)
            services.append(start_action_server(free_port(), logs, env))
            services.append(start_rasa_server(args.model, free_port(), services[0].url, logs, env=env))
            base = services[1].url
        out = run_load(f"{base}/webhooks/rest/webhook", args.conversations, args.turns, args.think_ms, args.max_seconds)
    finally:
        stop_all(services)
    out["engine"] = "fake (retrieval/engine/fake.py)" if args.fake_engine else "as configured (TAILOR_MODEL_DIR)"
    out["cpus"] = os.cpu_count()
    print(f"\n{out['turns']} chat turns, {out['conversations']} concurrent conversations, engine: {out['engine']}")
    print(f"  errors {out['errors']}" + "".join(f"\n    {e}" for e in out["error_examples"]))
    print(f"  p50 {out['p50_ms']} ms   p90 {out['p90_ms']} ms   p99 {out['p99_ms']} ms   max {out['max_ms']} ms")
    print(f"  throughput {out['turns_per_s']} turns/s over {out['wall_s']} s (targets: p50 <= 120 ms, p99 <= 400 ms)")
    for kind, s in out["by_turn"].items():
        print(f"  {kind:11s} n={s['n']:4d}  p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms")
    if args.json:
        write_json(out, args.json)
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
