"""The engine and settings the actions use: loaded lazily, once per process, injectable for tests.

Environment:
    TAILOR_MODEL_DIR: engine model directory (default ``build/demo/engine``).
    TAILOR_FAKE_ENGINE: ``1`` serves the fake engine (:mod:`retrieval.engine.fake`) instead.
    TAILOR_FAKE_CATALOG: the fake engine's catalog (default its own ``fake_catalog``).
    TAILOR_TAXONOMY: taxonomy file (default ``data/taxonomy.yml``).
    TAILOR_PUBLIC_URL: base URL the web server publishes images under (default http://localhost:8080).
    TAILOR_PAGE_SIZE: products per page (default 4).
    TAILOR_ENGINE_RETRY_S: seconds a failed engine load is remembered before a turn tries again
        (default 60; every turn in between gets the same error at once, without reloading).
    TAILOR_STAFF: the staff identities (:mod:`actions.roles`); they replace ``trusted`` of
        ``MODEL/engine_config.json`` (the real engine) and are the fake engine's ``trusted``.
    TAILOR_LIKE_SCOPE: ``user`` (default: a shopper's like changes only that shopper's answers; a staff
        member's like counts for everyone) or ``global`` (every like in the shared graph, as in
        ``tailor simulate``); it replaces ``like_scope`` of ``MODEL/engine_config.json``.
    TAILOR_LOG_URL: the interaction log (default ``sqlite:///MODEL/interactions.db``; the fake engine keeps
        its interactions in memory). A ``postgresql://`` log is shared by several action servers
        (``make demo REPLICAS=2``); each then follows it (:mod:`retrieval.interactions.follow`), so an
        interaction one acknowledged is in the others' answers a few milliseconds after its commit.

A failed load is remembered and :func:`engine_status` reports it (the action server's /health): a changed
or truncated model file fails as :class:`~retrieval.errors.CorruptArtifactError` naming the file; any other
failure is wrapped in a :class:`~retrieval.errors.ModelNotFoundError`, so the actions answer "the product
search is not ready right now" instead of "something went wrong".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from actions.roles import staff_identities
from retrieval.api import EngineAPI
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.config import load_config
from retrieval.engine.fake import FakeEngine
from retrieval.errors import ConfigError, ModelNotFoundError, TailorError
from retrieval.index.heap import settle
from retrieval.interactions.follow import LogFollower

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = "build/demo/engine"
RETRY_ENV = "TAILOR_ENGINE_RETRY_S"
DEFAULT_RETRY_S = 60.0
LOG_URL_ENV = "TAILOR_LOG_URL"

_lock = threading.Lock()
_engine: EngineAPI | None = None
_taxonomy: Taxonomy | None = None
_loading = False
_failure: tuple[TailorError, float] | None = None  # the remembered load error and time.monotonic() of it
_follower: LogFollower | None = None


@dataclass(frozen=True)
class ChatSettings:
    """Presentation settings of the conversation."""

    page_size: int = 4
    public_url: str = "http://localhost:8080"
    max_pages: int = 25

    def image_url(self, image_path: str) -> str:
        """Public URL of a catalog image (``image_path`` is relative to the catalog root)."""
        return f"{self.public_url.rstrip('/')}/images/{quote(image_path.lstrip('/'))}"


def settings() -> ChatSettings:
    """Settings from the environment (read on every call: cheap, and tests can change them)."""
    raw = os.environ.get("TAILOR_PAGE_SIZE", "4")
    try:
        page_size = int(raw)
    except ValueError as err:
        raise ConfigError(f"TAILOR_PAGE_SIZE={raw!r} is not a number.", fix="set it to 1..10") from err
    if not 1 <= page_size <= 10:
        raise ConfigError(f"TAILOR_PAGE_SIZE={page_size} is out of range.", fix="set it to 1..10")
    return ChatSettings(page_size=page_size, public_url=os.environ.get("TAILOR_PUBLIC_URL", ChatSettings.public_url))


def _model_dir() -> Path:
    path = Path(os.environ.get("TAILOR_MODEL_DIR", DEFAULT_MODEL_DIR))
    return path if path.is_absolute() else REPO / path


def _load() -> EngineAPI:
    staff = staff_identities()
    log.info("staff (TAILOR_STAFF): %s", ", ".join(staff) or "none")
    if os.environ.get("TAILOR_FAKE_ENGINE") == "1":
        log.warning("TAILOR_FAKE_ENGINE=1: serving the fake engine, not a trained model")
        catalog = os.environ.get("TAILOR_FAKE_CATALOG") or None
        return FakeEngine.load(catalog, trusted=staff, log_url=os.environ.get(LOG_URL_ENV) or None)
    from retrieval.engine.config import ENGINE_CONFIG_FILE, EngineConfig  # heavy: imports faiss, as the facade
    from retrieval.engine.facade import Engine  # heavy: torch, dgl and faiss (~2 s); the fake engine needs none

    model_dir = _model_dir()
    log.info("loading the engine from %s", model_dir)
    path = model_dir / ENGINE_CONFIG_FILE
    scope = os.environ.get("TAILOR_LIKE_SCOPE", "user")  # EngineConfig checks the value
    stored = load_config(EngineConfig, path) if path.is_file() else EngineConfig()
    cfg = replace(stored, trusted=staff, like_scope=scope, log_url=os.environ.get(LOG_URL_ENV) or stored.log_url)
    engine = Engine.load(model_dir, cfg=cfg)  # verifies MODEL/manifest.json first (CorruptArtifactError names the file)
    _ = engine.text.query_encoder  # now: a query encoder that cannot load fails the load, not every modify
    return engine


def follow_log(engine: EngineAPI) -> LogFollower | None:
    """With TAILOR_LOG_URL set, follow that log: rows other action servers append are applied here."""
    global _follower
    journal, sync = getattr(engine, "interaction_log", None), getattr(engine, "sync", None)
    if not os.environ.get(LOG_URL_ENV) or journal is None or sync is None:
        return None
    if _follower is not None:
        _follower.stop()
    _follower = LogFollower(journal, sync).start()
    return _follower


def retry_seconds() -> float:
    """Seconds a failed load is remembered (``TAILOR_ENGINE_RETRY_S``, default 60; 0 retries every turn)."""
    raw = os.environ.get(RETRY_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_RETRY_S
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        log.warning("%s=%r is not a number of seconds >= 0; using %.0f", RETRY_ENV, raw, DEFAULT_RETRY_S)
        return DEFAULT_RETRY_S
    return value


def warm_up(engine: EngineAPI) -> None:
    """One search and one modify through the contract, and the metadata tagger, so lazily loaded parts
    (the text encoder, Flair) load now and not under the engine lock during shoppers' turns (a first
    "that one is silk" stalled 16 concurrent conversations ~4.7 s). Failures are logged, never raised.
    """
    start = time.perf_counter()
    try:
        taxonomy = get_taxonomy()
        group = next(iter(taxonomy.groups.values()))
        first = engine.search(next(iter(taxonomy.categories)), k=1)
        if first:
            engine.modify(first[0].image_id, f"like this but {next(iter(group.values))}", k=1)
        getattr(engine, "reader", None)  # the real engine's statement tagger (Flair: ~5 s to load)
    except Exception as err:  # noqa: BLE001 - a warm-up must never stop the server
        log.warning("engine warm-up failed: %s", err)
    log.info("engine warmed up in %.1f s", time.perf_counter() - start)


def _remembered() -> TailorError | None:
    """The last load error while its backoff lasts."""
    failure = _failure
    if failure is not None and time.monotonic() - failure[1] < retry_seconds():
        return failure[0]
    return None


def _as_typed(err: Exception) -> TailorError:
    """``err`` if typed, else a ModelNotFoundError saying the engine failed to load (the actions answer it)."""
    if isinstance(err, TailorError):
        return err
    return ModelNotFoundError(
        f"The engine in {_model_dir()} failed to load ({type(err).__name__}: {err}).",
        fix="see the action server's log; retrain the model (`tailor train --data CATALOG --out MODEL`) or restore it",
    )


def get_engine() -> EngineAPI:
    """The process-wide engine, loaded (and warmed up) on first use; thread-safe.

    A failed load is remembered for :func:`retry_seconds`: until then every call raises the same typed
    error at once (no reload per turn); the first call after that loads again.

    Raises:
        TailorError: the load failed, now or within the backoff (an untyped failure is wrapped).
    """
    global _engine, _failure, _loading
    engine = _engine
    if engine is not None:
        return engine
    if (err := _remembered()) is not None:
        raise err.with_traceback(None)
    with _lock:
        if _engine is not None:
            return _engine
        if (err := _remembered()) is not None:
            raise err.with_traceback(None)
        _loading = True
        try:
            engine = _load()
            warm_up(engine)
            follow_log(engine)
            settle()
        except Exception as exc:  # remembered, then re-raised (typed) to the caller
            typed = _as_typed(exc)
            _failure = (typed, time.monotonic())
            log.error("engine load failed (next try in %.0f s): %s", retry_seconds(), typed)
            if typed is exc:
                raise
            raise typed from exc
        finally:
            _loading = False
        _engine, _failure = engine, None
    return engine


def engine_status() -> dict[str, str | None]:
    """The engine's state for the action server's /health: ``{"engine": ..., "error": ...}``.

    ``engine`` is "ok" (loaded), "loading", "failed" (the last load failed; ``error`` is its message,
    which names the file and the fix) or "not loaded" (no turn needed it yet). Never blocks or raises.
    """
    if _engine is not None:
        return {"engine": "ok", "error": None}
    if _loading:
        return {"engine": "loading", "error": None}
    failure = _failure
    if failure is not None:
        return {"engine": "failed", "error": str(failure[0])}
    return {"engine": "not loaded", "error": None}


def set_engine(engine: EngineAPI | None) -> None:
    """Inject an engine (tests), or ``None`` to load lazily again (a remembered failure is forgotten)."""
    global _engine, _failure
    with _lock:
        _engine, _failure = engine, None


def get_taxonomy() -> Taxonomy:
    """The taxonomy the dialogue parses words with (cached)."""
    global _taxonomy
    if _taxonomy is None:
        path = os.environ.get("TAILOR_TAXONOMY")
        _taxonomy = Taxonomy.load(path) if path else Taxonomy.load()
    return _taxonomy
