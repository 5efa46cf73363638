r"""One replica against two on real stores (issue 16): chat-turn throughput and latency through HAProxy.

    .venv/bin/python bench/replicas_load.py [--replicas 1,2] [--conversations 16] [--turns 30] \
        [--think-ms 0] [--fake-engine] [--json FILE]

For each replica count N it starts ``python -m bot.replicas demo --replicas N`` on free loopback ports
(PostgreSQL tracker store and interaction log, Redis lock store, HAProxy in front; the real engine
from TAILOR_MODEL_DIR unless ``--fake-engine``), plays ``bench/chat_load.py``'s scripted conversations
through the balancer's REST URL, stops it, and prints throughput, p50 / p99 and the ratio to the first
count. Closed loop by default (every shopper types again at once): the saturation case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from chat_load import run_load  # noqa: E402

from bot.launch import free_port  # noqa: E402
from retrieval.config import write_json  # noqa: E402


def start(n: int, fake: bool, model: str, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """The launcher with ``n`` replicas; returns it and the balancer's port once every server is up."""
    ports = [free_port() for _ in range(5 + 2 * n)]
    rasa, actions, web, pg, redis = ports[:5]
    cmd = [sys.executable, "-m", "bot.replicas", "demo", "--replicas", str(n), "--model", model,
           "--rasa-port", str(rasa), "--action-port", str(actions), "--web-port", str(web),
           "--rasa-ports", ",".join(map(str, ports[5:5 + n])), "--action-ports", ",".join(map(str, ports[5 + n:])),
           "--pg-port", str(pg), "--redis-port", str(redis), "--data-dir", str(root / "data"),
           "--log-dir", str(root / "logs")]  # fmt: skip
    if fake:
        cmd.append("--fake-engine")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("TAILOR_ACTION_TOKEN", None)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids, want = root / "logs" / "pids.json", 4 + 2 * n
    deadline = time.monotonic() + 1200
    while not (pids.is_file() and len(json.loads(pids.read_text())) == want):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the {n}-replica stack did not start; see {root / 'logs'}")
        time.sleep(1)
    return proc, rasa


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", default="1,2", help="replica counts to compare")
    parser.add_argument("--conversations", type=int, default=16)
    parser.add_argument("--turns", type=int, default=30, help="turns per conversation")
    parser.add_argument("--think-ms", type=float, default=0.0)
    parser.add_argument("--fake-engine", action="store_true", help="serve the test fake engine")
    parser.add_argument("--model", default=os.environ.get("TAILOR_RASA_MODEL", str(REPO / "models" / "tailor.tar.gz")))
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    results = []
    for n in (int(x) for x in args.replicas.split(",")):
        root = Path(tempfile.mkdtemp(prefix=f"tailor-bench-{n}-"))
        root.chmod(0o755)  # PostgreSQL (user postgres) keeps its data under it
        print(f"starting {n} replica(s) (logs in {root / 'logs'})...", flush=True)
        proc = None
        try:
            proc, port = start(n, args.fake_engine, args.model, root)
            url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"
            out = run_load(url, args.conversations, args.turns, args.think_ms, 900.0)
        finally:
            if proc is not None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(120)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if out["errors"]:
            print(f"  kept the logs: {root / 'logs'}; first errors: {out['error_examples']}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
        results.append({"replicas": n, **out})
        print(f"  {n} replica(s): {out['turns']} turns, errors {out['errors']}, {out['turns_per_s']} turns/s, "
              f"p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms", flush=True)  # fmt: skip
    base = results[0]["turns_per_s"] or 1.0
    print(
        f"\n{'replicas':>8}  {'turns/s':>8}  {'ratio':>6}  {'p50 ms':>8}  {'p99 ms':>8}  errors"
        f"  (cpus {os.cpu_count()})"
    )
    for r in results:
        print(f"{r['replicas']:>8}  {r['turns_per_s']:>8}  {r['turns_per_s'] / base:>6.2f}  {r['p50_ms']:>8}  "
              f"{r['p99_ms']:>8}  {r['errors']}")  # fmt: skip
    if args.json:
        write_json(
            {"engine": "fake" if args.fake_engine else "real", "cpus": os.cpu_count(), "runs": results}, args.json
        )
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
