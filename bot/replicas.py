"""Several replicas of the assistant on real stores (issue 16): ``make demo REPLICAS=2``.

    python -m bot.replicas demo [--replicas 2] [--model models/tailor.tar.gz] [--fake-engine]

starts PostgreSQL, Redis and HAProxy on loopback (:mod:`bot.stores`, data in ``--data-dir``, default
``build/replicas``), N Rasa servers (direct ports 5105, 5205, ...: tracker store SQLTrackerStore on
PostgreSQL, lock store RedisLockStore) and N action servers (5155, 5255, ...: one interaction log in
PostgreSQL, which each follows), and the web page. HAProxy serves the same public URLs as the single
demo: :5005 (REST, socket.io: sticky on the client address) and the action endpoint :5055 the Rasa
servers call; the page is :8080. Every process is supervised (:mod:`bot.supervisor`: a killed one is
restarted; pids in ``LOG_DIR/pids.json``); Ctrl-C stops them all. One worker per Rasa server (two cores
here); with the Redis lock store ``SANIC_WORKERS`` may be raised (the pools are sized for it).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bot.launch import (
    DEFAULT_MODEL,
    REPO,
    Service,
    start_action_server,
    start_rasa_server,
    start_web_server,
    stop_all,
    wait_rasa,
)
from bot.stores import (
    Ports,
    haproxy_config,
    max_connections,
    rasa_store_env,
    start_haproxy,
    start_postgres,
    start_redis,
    store_endpoints,
    tracker_index,
    wait_balanced,
)
from bot.supervisor import Supervisor
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)


def _ports(text: str | None, base: int, n: int) -> list[int]:
    """``5105,5205`` -> [5105, 5205]; None -> base + 100 * i for replica i = 1..n."""
    ports = [int(p) for p in text.split(",")] if text else [base + 100 * i for i in range(1, n + 1)]
    if len(ports) != n:
        raise ConfigError(f"{len(ports)} ports given for {n} replicas.", fix="give one port per replica")
    return ports


def demo(args: argparse.Namespace) -> int:
    """Start the stores, the balancer, N Rasa and N action servers and the page; block until Ctrl-C."""
    n = args.replicas
    log_dir, data = Path(args.log_dir), Path(args.data_dir)
    rasa_ports = _ports(args.rasa_ports, 5005, n)
    action_ports = _ports(args.action_ports, 5055, n)
    ports = Ports(args.pg_port, args.redis_port)
    public = os.environ.get("TAILOR_PUBLIC_URL", f"http://localhost:{args.web_port}")
    rasa_public = os.environ.get("TAILOR_RASA_PUBLIC_URL", f"http://localhost:{args.rasa_port}")
    balancer = f"http://127.0.0.1:{args.action_port}"
    env = {"TAILOR_PUBLIC_URL": public, "TAILOR_LOG_URL": f"postgresql://tailor@127.0.0.1:{ports.postgres}/tailor"}
    if args.fake_engine:
        env["TAILOR_FAKE_ENGINE"] = "1"
    images = args.images
    if args.fake_engine and not args.images_given:
        from retrieval.engine.fake import FIXTURE_DIR  # lazy: the launcher is standard library only (fake: YAML)

        images = str(FIXTURE_DIR)
    supervisor: Supervisor[Service] = Supervisor(log_dir / "pids.json")
    started: list[tuple[Service, Callable[[], Service]]] = []

    def named(name: str, start: Callable[[], Service]) -> Callable[[], Service]:
        def again() -> Service:
            service = start()
            service.name = name
            return service

        return again

    def rasa(i: int, wait: bool) -> Service:
        return start_rasa_server(args.model, rasa_ports[i], balancer, log_dir / f"rasa-{i + 1}", host=args.host,
                                 env={**env, **rasa_store_env()}, wait=wait, stores=store_endpoints(ports))  # fmt: skip

    data.mkdir(parents=True, exist_ok=True)
    stats = (data / "haproxy.sock").resolve()
    starters: list[tuple[str, Callable[[], Service]]] = [
        ("postgres", lambda: start_postgres(data / "postgres", ports.postgres, log_dir, max_connections(n, 1, n))),
        ("redis", lambda: start_redis(data / "redis", ports.redis, log_dir)),
        (
            "haproxy",
            lambda: start_haproxy(
                haproxy_config(args.rasa_port, rasa_ports, args.action_port, action_ports, stats),
                [args.rasa_port, args.action_port],
                data,
                log_dir,
            ),
        ),
    ]
    try:
        for name, start in starters:
            started.append((named(name, start)(), named(name, start)))
        rasas = []
        for i in range(n):  # each loads its model (~45 s) while the action servers load the engine
            start = named(f"rasa-{i + 1}", partial(rasa, i, wait=False))  # restarts too: HAProxy waits for it
            rasas.append(start())
            started.append((rasas[-1], start))
        for i in range(n):
            start = named(
                f"actions-{i + 1}", partial(start_action_server, action_ports[i], log_dir / f"actions-{i + 1}", env)
            )
            started.append((start(), start))
        for service in rasas:
            wait_rasa(service)
        tracker_index(ports.postgres)
        web = named(
            "web", lambda: start_web_server(args.web_port, images, rasa_public, log_dir, host=args.host, env=env)
        )
        started.append((web(), web))
        wait_balanced(started[2][0], stats)  # every Rasa and action server in rotation
        for service, restart in started:
            supervisor.add(service, restart)
        print(  # noqa: T201 - the launcher's one line for the person who started it
            f"\n  tailor is ready with {n} replicas: open {public}/ to chat; Rasa {', '.join(map(str, rasa_ports))}"
            f" behind :{args.rasa_port}  (logs in {log_dir}/, Ctrl-C stops)\n",
            flush=True,
        )
        supervisor.watch()
        return 0
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)  # noqa: T201
        return 0
    except (RuntimeError, ConfigError, subprocess.CalledProcessError) as err:
        print(f"error: {err}", file=sys.stderr)  # noqa: T201
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the clean-up
        stop_all(supervisor.services or [s for s, _ in started])


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="start N replicas behind HAProxy on PostgreSQL and Redis; Ctrl-C stops them")
    p.add_argument("--replicas", type=int, default=2)
    p.add_argument("--model", default=os.environ.get("TAILOR_RASA_MODEL", DEFAULT_MODEL))
    p.add_argument("--images", default=None, help="catalog root (default: build/demo/catalog)")
    p.add_argument("--fake-engine", action="store_true", help="serve the test fake engine (no trained model)")
    p.add_argument("--host", default="127.0.0.1", help="bind address of the Rasa servers and the page")
    p.add_argument("--rasa-port", type=int, default=5005, help="the balancer's public Rasa port")
    p.add_argument("--action-port", type=int, default=5055, help="the balancer's action endpoint")
    p.add_argument("--web-port", type=int, default=8080)
    p.add_argument("--rasa-ports", default=None, help="direct Rasa ports (default 5105,5205,...)")
    p.add_argument("--action-ports", default=None, help="direct action server ports (default 5155,5255,...)")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--redis-port", type=int, default=6379)
    p.add_argument("--data-dir", default="build/replicas", help="PostgreSQL and Redis data, haproxy.cfg")
    p.add_argument("--log-dir", default="build/run-replicas")
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    args.images_given = args.images is not None
    args.images = args.images or os.environ.get("TAILOR_CATALOG_DIR", str(REPO / "build" / "demo" / "catalog"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
