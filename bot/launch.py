"""Start and stop the assistant's three servers: action server, Rasa server, web page.

    python -m bot.launch demo [--model models/tailor.tar.gz] [--fake-engine]
    python -m bot.launch shell [--fake-engine]      # rasa shell against a started action server
        [--action-port 5055] [--rasa-port 5005] [--log-dir build/run]  # or TAILOR_ACTION_PORT / _RASA_PORT / _LOG_DIR
    python -m bot.launch staff-token NAME [--hours 12]  # a signed staff link for the web page

starts the action server (:5055, engine env, loopback only, token-checked: :mod:`actions.server`), the
Rasa server (:5005, REST + socket.io + Slack + Telegram, Rasa env) and the web page (:8080), prints the
chat URL, restarts a server that crashes (:mod:`bot.supervisor`; pids in ``LOG_DIR/pids.json``) and
stops everything on Ctrl-C.
The tests and ``bench/chat_load.py`` use the same functions on free loopback ports.

Environment: TAILOR_RASA_BIN (default ``<repo>/.venv-rasa/bin/rasa``), TAILOR_PYTHON (default
``<repo>/.venv/bin/python``), TAILOR_RASA_MODEL (default ``models/tailor.tar.gz``), and the
TAILOR_* settings of actions/engine_provider.py, which the servers inherit (TAILOR_STAFF: who is staff;
TAILOR_STAFF_SECRET: signs staff tokens, :mod:`bot.identity`). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from actions.roles import staff_identities
from bot.identity import STAFF_SECRET_ENV, mint_staff_token, staff_sender
from bot.supervisor import Supervisor
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "models/tailor.tar.gz"
#: The secret the Rasa server sends to the action server (``actions.server`` checks it).
TOKEN_ENV = "TAILOR_ACTION_TOKEN"


def action_token() -> str:
    """The action server's token: TAILOR_ACTION_TOKEN, else a random one made once per launcher process
    (and put in its environment, so every server it starts shares it).
    """
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        token = os.environ[TOKEN_ENV] = secrets.token_urlsafe(32)
    return token


def write_endpoints(path: Path, action_url: str, stores: str = "") -> Path:
    """A Rasa endpoints file for the action server at ``action_url``, with its token (file mode 0600);
    ``stores``: tracker / lock store sections (:func:`bot.stores.store_endpoints`; default in memory).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(
        f'action_endpoint:\n  url: "{action_url.rstrip("/")}/webhook"\n'
        f'  headers:\n    Authorization: "Bearer {action_token()}"\n{stores}'
    )
    return path


def rasa_bin() -> str:
    """The ``rasa`` executable of the Rasa environment."""
    return os.environ.get("TAILOR_RASA_BIN", str(REPO / ".venv-rasa" / "bin" / "rasa"))


def engine_python() -> str:
    """The Python of the engine / action-server environment."""
    return os.environ.get("TAILOR_PYTHON", str(REPO / ".venv" / "bin" / "python"))


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    """A started server process and where its output goes."""

    name: str
    proc: subprocess.Popen
    url: str
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the service's log (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it does not exit in ``timeout`` seconds."""
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def start_service(name: str, cmd: list[str], url: str, log_dir: Path, env: dict[str, str] | None = None) -> Service:
    """Start ``cmd`` in its own process group, its output appended to ``log_dir/NAME.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    out = log_path.open("ab")
    log.info("starting %s: %s", name, " ".join(cmd))
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=_env(env), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    out.close()
    return Service(name, proc, url, log_path)


def wait_ready(service: Service, path: str, timeout: float = 300.0) -> None:
    """Poll ``service.url + path`` until it answers 200; raise RuntimeError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"{service.name} exited with {service.proc.returncode}:\n{service.log_tail()}")
        try:
            with urllib.request.urlopen(service.url + path, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{service.name} not ready after {timeout:.0f} s:\n{service.log_tail()}")


def start_action_server(port: int, log_dir: Path, env: dict[str, str] | None = None, warm: bool = True) -> Service:
    """The action server (:mod:`actions.server`: loopback, token-checked) with the engine env's Python
    (engine loaded if ``warm``).
    """
    cmd = [engine_python(), "-m", "actions.server", "--port", str(port)]
    service = start_service(
        "actions", cmd, f"http://127.0.0.1:{port}", log_dir, {**(env or {}), TOKEN_ENV: action_token()}
    )
    wait_ready(service, "/health", timeout=120)
    if warm:
        warm_up_actions(service)
    return service


def warm_up_actions(service: Service, timeout: float = 600.0) -> None:
    """Run ``action_warm_up`` once: the engine loads now, not in a shopper's first turn."""
    tracker = {"sender_id": "warm-up", "slots": {}, "latest_message": {}, "events": [], "paused": False,
               "followup_action": None, "active_loop": {}, "latest_action_name": None}  # fmt: skip
    body = json.dumps({"next_action": "action_warm_up", "sender_id": "warm-up", "tracker": tracker, "domain": {}})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {action_token()}"}
    req = urllib.request.Request(f"{service.url}/webhook", body.encode(), headers)
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            problems = [r.get("text", "") for r in json.loads(resp.read()).get("responses", [])]
    except (urllib.error.URLError, OSError) as err:
        log.warning(
            "action server warm-up failed (%s); the engine loads on the first turn:\n%s", err, service.log_tail()
        )
        return
    if problems:
        log.warning("%s (each turn will say the search is not ready)", "; ".join(problems))
        return
    log.info("engine loaded in the action server (%.1f s)", time.monotonic() - start)


def start_rasa_server(
    model: str | Path,
    port: int,
    action_url: str,
    log_dir: Path,
    *,
    enable_api: bool = False,
    cors: str = "*",
    host: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    wait: bool = True,
    stores: str = "",
) -> Service:
    """``rasa run`` with credentials.yml and an endpoints file pointing at ``action_url`` (``wait``: until ready;
    ``stores``: tracker / lock store sections of the endpoints file).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    endpoints = write_endpoints(log_dir / "endpoints.yml", action_url, stores)
    cmd = [
        rasa_bin(), "run", "--model", str(model), "--port", str(port), "--interface", host,
        "--credentials", str(REPO / "credentials.yml"), "--endpoints", str(endpoints), "--cors", cors,
    ]  # fmt: skip
    if enable_api:
        cmd.append("--enable-api")
    service = start_service("rasa", cmd, f"http://127.0.0.1:{port}", log_dir, env)
    if wait:
        wait_rasa(service)
    return service


def wait_rasa(service: Service) -> None:
    """Until the Rasa server answers (loading its model takes ~45 s here)."""
    wait_ready(service, "/webhooks/rest/", timeout=600)


def start_web_server(
    port: int,
    images: str | Path,
    rasa_url: str,
    log_dir: Path,
    host: str = "127.0.0.1",
    env: dict[str, str] | None = None,
) -> Service:
    """``bot.serve``: the chat page, the widget script and the catalog images."""
    cmd = [engine_python(), "-m", "bot.serve", "--images", str(images), "--port", str(port), "--host", host,
           "--rasa-url", rasa_url]  # fmt: skip
    service = start_service("web", cmd, f"http://127.0.0.1:{port}", log_dir, env)
    wait_ready(service, "/healthz", timeout=60)
    return service


def stop_all(services: list[Service]) -> None:
    """Stop services in reverse start order."""
    for service in reversed(services):
        service.stop()


def demo(args: argparse.Namespace) -> int:
    """Start all three servers on the standard ports; block until Ctrl-C."""
    log_dir = Path(args.log_dir)
    public = os.environ.get("TAILOR_PUBLIC_URL", f"http://localhost:{args.web_port}")
    env = {"TAILOR_PUBLIC_URL": public}
    if args.fake_engine:
        env["TAILOR_FAKE_ENGINE"] = "1"
    images = args.images
    if args.fake_engine and not args.images_given:
        from retrieval.engine.fake import FIXTURE_DIR  # lazy: bot.launch is standard library only (fake: YAML)

        images = str(FIXTURE_DIR)
    services: list[Service] = []
    supervisor: Supervisor[Service] = Supervisor(log_dir / "pids.json")
    action_url = f"http://127.0.0.1:{args.action_port}"
    rasa_url = os.environ.get("TAILOR_RASA_PUBLIC_URL", f"http://localhost:{args.rasa_port}")

    def rasa_server(wait: bool = True) -> Service:
        return start_rasa_server(args.model, args.rasa_port, action_url, log_dir, host=args.host, env=env, wait=wait)

    def action_server() -> Service:
        return start_action_server(args.action_port, log_dir, env)

    def web_server() -> Service:
        return start_web_server(args.web_port, images, rasa_url, log_dir, host=args.host, env=env)

    try:
        # Rasa loads its model (~45 s) while the action server starts and loads the engine.
        rasa = rasa_server(wait=False)
        services.append(rasa)
        services.append(action_server())
        wait_rasa(rasa)
        services.append(web_server())
        for service, restart in zip(services, (rasa_server, action_server, web_server), strict=True):
            supervisor.add(service, restart)
        print(f"\n  tailor is ready: open {public}/ to chat  (logs in {log_dir}/, Ctrl-C stops)\n", flush=True)
        supervisor.watch()
        return 0
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the clean-up
        stop_all(supervisor.services or services)


def shell(args: argparse.Namespace) -> int:
    """Start the action server, then ``rasa shell`` in this terminal (text and image URLs)."""
    log_dir = Path(args.log_dir)
    env = {"TAILOR_FAKE_ENGINE": "1"} if args.fake_engine else {}
    action = start_action_server(args.action_port, log_dir, env)
    try:
        endpoints = write_endpoints(log_dir / "endpoints-shell.yml", action.url)
        cmd = [rasa_bin(), "shell", "--model", str(args.model), "--endpoints", str(endpoints)]
        cmd += ["--port", str(args.rasa_port)]
        return subprocess.run(cmd, cwd=REPO, env=_env(env), check=False).returncode
    except KeyboardInterrupt:
        return 0
    finally:
        action.stop()


def staff_token(args: argparse.Namespace) -> int:
    """Print a staff token signed with TAILOR_STAFF_SECRET and the chat link that carries it."""
    try:
        token = mint_staff_token(args.name, args.hours)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    public = os.environ.get("TAILOR_PUBLIC_URL", f"http://localhost:{args.web_port}").rstrip("/")
    staff = staff_sender(token.split(".", 1)[0])
    print(f"{token}\n\n  chat link for {staff} (valid {args.hours:g} h): {public}/?staff={token}")
    if staff not in staff_identities():
        print(f"  note: add {staff} to TAILOR_STAFF, or the link signs in a shopper", file=sys.stderr)
    print(f"  the Rasa server must run with the same {STAFF_SECRET_ENV}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="start action server, Rasa server and web page; Ctrl-C stops them")
    p.add_argument("--model", default=os.environ.get("TAILOR_RASA_MODEL", DEFAULT_MODEL))
    p.add_argument("--images", default=None, help="catalog root (default: build/demo/catalog)")
    p.add_argument("--fake-engine", action="store_true", help="serve the test fake engine (no trained model)")
    p.add_argument("--host", default=os.environ.get("TAILOR_BIND_HOST", "127.0.0.1"), help="bind address")
    p.add_argument("--action-port", type=int, default=5055)
    p.add_argument("--rasa-port", type=int, default=5005)
    p.add_argument("--web-port", type=int, default=8080)
    p.add_argument("--log-dir", default="build/run")
    p.set_defaults(func=demo)
    sh = sub.add_parser("shell", help="start the action server and open `rasa shell` against it")
    sh.add_argument("--model", default=os.environ.get("TAILOR_RASA_MODEL", DEFAULT_MODEL))
    sh.add_argument("--fake-engine", action="store_true", help="serve the test fake engine (no trained model)")
    sh.add_argument("--action-port", type=int, default=int(os.environ.get("TAILOR_ACTION_PORT", "5055")))
    sh.add_argument("--rasa-port", type=int, default=int(os.environ.get("TAILOR_RASA_PORT", "5005")), help="its server")
    sh.add_argument("--log-dir", default=os.environ.get("TAILOR_LOG_DIR", "build/run"))
    sh.set_defaults(func=shell, images=None)
    tok = sub.add_parser("staff-token", help=f"print a signed staff token (needs {STAFF_SECRET_ENV})")
    tok.add_argument("name", help="staff name (a-z, 0-9, _ -): the sender id is staff:NAME")
    tok.add_argument("--hours", type=float, default=12.0, help="hours the token is valid (default 12)")
    tok.add_argument("--web-port", type=int, default=8080, help="web page port for the link (or TAILOR_PUBLIC_URL)")
    tok.set_defaults(func=staff_token, images=None)
    args = parser.parse_args(argv)
    args.images_given = args.images is not None
    args.images = args.images or os.environ.get("TAILOR_CATALOG_DIR", str(REPO / "build" / "demo" / "catalog"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill PID` stops the servers too
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
