"""The shared services of several replicas (issue 16): PostgreSQL, Redis and HAProxy on loopback.

Debian's binaries (``make system-replicas`` installs them) run as child processes of the launcher,
their data under one directory (``build/replicas``), each a :class:`bot.launch.Service` the supervisor
restarts like the servers:

* **PostgreSQL**: the Rasa tracker store (``SQLTrackerStore``) and the interaction log
  (:mod:`retrieval.interactions.log_postgres`) in database ``tailor``; trust authentication on
  127.0.0.1 only. PostgreSQL refuses to run as root: as root the cluster belongs to the ``postgres``
  user and runs through ``runuser``.
* **Redis**: one server (not a cluster: Rasa's ``RedisLockStore`` does not support Redis Cluster), no
  persistence (locks live seconds).
* **HAProxy**: the public ports. REST round-robin over the Rasa servers; ``/socket.io`` hashed on the
  client address so a widget's polling requests and its upgrade reach the same server (socket.io needs
  sticky sessions, rasa-webchat reconnects in a loop without); the action endpoint round-robin over the
  action servers whose ``/health`` says the engine is loaded (a restarted one joins once it is).
  Health checks every 2 s take a dead server out after three failures (lenient: a saturated server
  answers its check late but is not dead); meanwhile a refused connection, or one the server closed
  without answering (a request a dying server had accepted), is retried on the other server
  (``retry-on``, ``option redispatch``; the request is buffered whole so it can be sent again,
  ``option http-buffer-request``; no idle connection is reused). So a turn cut by a crash is sent
  again (at least once): an interaction in it may be logged twice.

Standard library only (the launcher runs without the engine's packages).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bot.launch import Service, start_service
from retrieval.errors import ConfigError

DB = "tailor"
DB_USER = "tailor"
REDIS_SOCKET_TIMEOUT_S = 5  # a hung Redis fails a turn after 5 s instead of blocking it forever
#: SQLAlchemy pool of each Rasa server (Rasa's default, 50 + 100 overflow, times replicas would exceed
#: PostgreSQL's connections); read by Rasa from SQL_POOL_SIZE / SQL_MAX_OVERFLOW
RASA_POOL_SIZE, RASA_MAX_OVERFLOW = 5, 10


@dataclass(frozen=True)
class Ports:
    """Where the shared services listen (all on 127.0.0.1)."""

    postgres: int = 5432
    redis: int = 6379


def max_connections(rasa_servers: int, workers: int, action_servers: int) -> int:
    """PostgreSQL connections the replicas need: each Rasa worker's pool, two per action server
    (queries, LISTEN), and room for psql and the tests.
    """
    return rasa_servers * workers * (RASA_POOL_SIZE + RASA_MAX_OVERFLOW) + 2 * action_servers + 20


def _need(binary: str, candidates: list[str]) -> str:
    for path in [*candidates, shutil.which(binary) or ""]:
        if path and os.access(path, os.X_OK):
            return path
    raise ConfigError(
        f"{binary} is not installed.",
        fix="run `make system-replicas` (apt-get install postgresql redis-server haproxy)",
    )


def _postgres_bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]), reverse=True)
    return _need(name, [str(p) for p in versions])


def _as_postgres(data_dir: Path) -> list[str]:
    """The command prefix that runs PostgreSQL's programs as a non-root user (``runuser`` when root)."""
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    for parent in data_dir.parents:  # the postgres user must be able to reach the data directory
        if parent.stat().st_mode & 0o001 == 0:
            raise ConfigError(
                f"PostgreSQL (user postgres) cannot enter {parent}.",
                fix=f"put the data directory elsewhere, or chmod o+x {parent}",
            )
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chown(data_dir, user.pw_uid, user.pw_gid)
    data_dir.chmod(0o700)
    return ["runuser", "-u", "postgres", "--"]


def wait_port(service: Service, port: int, timeout: float = 60.0) -> None:
    """Until something accepts TCP connections on 127.0.0.1:``port``; RuntimeError if the process dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.proc.returncode}:\n{service.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{service.name} not listening on {port} after {timeout:.0f} s:\n{service.log_tail()}")


def start_postgres(data_dir: Path, port: int, log_dir: Path, connections: int = 100) -> Service:
    """PostgreSQL on 127.0.0.1:``port`` with its cluster in ``data_dir`` (made on first use) and database
    ``tailor``; ``Service.url`` is the database's URL.
    """
    data_dir = data_dir.resolve()
    prefix = _as_postgres(data_dir)
    if not (data_dir / "PG_VERSION").is_file():
        cmd = [*prefix, _postgres_bin("initdb"), "-D", str(data_dir), "-U", DB_USER, "--auth=trust", "-E", "UTF8"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    cmd = [*prefix, _postgres_bin("postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(data_dir),
           "-c", "listen_addresses=127.0.0.1", "-c", f"max_connections={connections}"]  # fmt: skip
    service = start_service("postgres", cmd, f"postgresql://{DB_USER}@127.0.0.1:{port}/{DB}", log_dir)
    wait_port(service, port)
    psql = [_postgres_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", DB_USER, "-d", "postgres", "-tAc"]
    deadline = time.monotonic() + 60
    while True:  # accepting connections is not yet accepting queries (startup, recovery after a kill)
        found = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DB}'"], capture_output=True, text=True
        )
        if found.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if found.stdout.strip() != "1":
        subprocess.run([*psql, f"CREATE DATABASE {DB}"], check=True, capture_output=True)
    return service


def start_redis(data_dir: Path, port: int, log_dir: Path) -> Service:
    """One Redis server on 127.0.0.1:``port`` (the lock store; nothing persisted)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [_need("redis-server", []), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
           "--save", "", "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
    service = start_service("redis", cmd, f"redis://127.0.0.1:{port}", log_dir)
    wait_port(service, port)
    return service


def haproxy_config(
    rasa_port: int, rasa_ports: list[int], action_port: int, action_ports: list[int], stats: Path | None = None
) -> str:
    """The balancer's configuration: public Rasa port (REST round-robin, socket.io sticky) and action endpoint;
    ``stats``: a local socket for :func:`wait_balanced`.
    """

    def servers(prefix: str, ports: list[int]) -> str:
        return "".join(
            f"  server {prefix}{i} 127.0.0.1:{p} check inter 2s fall 3 rise 1\n" for i, p in enumerate(ports, 1)
        )

    return (
        "global\n  maxconn 4096\n  log stdout format raw local0 info\n"
        + (f"  stats socket {stats} mode 600 level user\n" if stats else "")
        + "defaults\n  mode http\n  log global\n  option httplog\n  timeout connect 2s\n  timeout client 120s\n"
        "  timeout check 10s\n"
        "  timeout server 120s\n  timeout tunnel 1h\n  retries 3\n  option redispatch 1\n"
        "  retry-on conn-failure empty-response junk-response\n  option http-buffer-request\n"
        "  http-reuse never\n  option http-server-close\n"
        f"frontend rasa\n  bind 127.0.0.1:{rasa_port}\n  acl socketio path_beg /socket.io\n"
        "  use_backend rasa_socketio if socketio\n  default_backend rasa_rest\n"
        f"backend rasa_rest\n  balance roundrobin\n  option httpchk GET /\n{servers('rasa', rasa_ports)}"
        "backend rasa_socketio\n  balance source\n  hash-type consistent\n  option httpchk GET /\n"
        f"{servers('rasa', rasa_ports)}"
        f"frontend actions\n  bind 127.0.0.1:{action_port}\n  default_backend actions\n"
        "backend actions\n  balance roundrobin\n  option httpchk GET /health\n"
        f'  http-check expect rstring \'"engine": *"ok"\'\n{servers("actions", action_ports)}'
    )


def start_haproxy(config: str, ports: list[int], run_dir: Path, log_dir: Path) -> Service:
    """HAProxy in the foreground with ``config`` (written to ``run_dir/haproxy.cfg``), ready when it listens."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "haproxy.cfg"
    path.write_text(config)
    check = subprocess.run([_need("haproxy", []), "-c", "-q", "-f", str(path)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"haproxy rejected {path}:\n{check.stdout}{check.stderr}")
    service = start_service(
        "haproxy", [_need("haproxy", []), "-db", "-f", str(path)], f"http://127.0.0.1:{ports[0]}", log_dir
    )
    for port in ports:
        wait_port(service, port)
    return service


def store_endpoints(ports: Ports) -> str:
    """The tracker store and lock store sections of a Rasa endpoints file (``bot.launch.write_endpoints``)."""
    return (
        f'tracker_store:\n  type: SQL\n  dialect: "postgresql"\n  url: "127.0.0.1"\n  port: {ports.postgres}\n'
        f'  db: "{DB}"\n  username: "{DB_USER}"\n  password: ""\n'
        f'lock_store:\n  type: "redis"\n  url: "127.0.0.1"\n  port: {ports.redis}\n  db: 1\n'
        f'  key_prefix: "{DB}"\n  socket_timeout: {REDIS_SOCKET_TIMEOUT_S}\n'
    )


def rasa_store_env() -> dict[str, str]:
    """Environment of a Rasa server on these stores: its SQLAlchemy pool size."""
    return {"SQL_POOL_SIZE": str(RASA_POOL_SIZE), "SQL_MAX_OVERFLOW": str(RASA_MAX_OVERFLOW)}


def tracker_index(port: int) -> None:
    """Make sure the tracker table's ``sender_id`` index exists (Rasa's ``create_all`` makes
    ``ix_events_sender_id``; a table made by hand or an old Rasa may lack it, and every turn reads a
    conversation by sender).
    """
    psql = [_postgres_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", DB_USER, "-d", DB, "-qtAc"]
    sql = "CREATE INDEX IF NOT EXISTS ix_events_sender_id ON events (sender_id)"
    subprocess.run([*psql, sql], check=True, capture_output=True)


def servers_down(stats: Path) -> list[str]:
    """The balancer's servers not UP now (asked on its stats socket); all of them if it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(stats))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return ["haproxy"]
    rows = [line.split(",") for line in data.decode(errors="replace").splitlines() if line and not line.startswith("#")]
    return [f"{r[0]}/{r[1]}" for r in rows if len(r) > 17 and r[1] not in ("FRONTEND", "BACKEND") and r[17] != "UP"]


def wait_balanced(service: Service, stats: Path, timeout: float = 120.0) -> None:
    """Until HAProxy's health checks say every server is UP (a server that just became ready is not
    yet in rotation; a turn sent then gets 503).
    """
    deadline = time.monotonic() + timeout
    while (down := servers_down(stats)) and time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {service.proc.returncode}:\n{service.log_tail()}")
        time.sleep(0.5)
    if down:
        raise RuntimeError(f"servers still down behind HAProxy after {timeout:.0f} s: {', '.join(down)}")
