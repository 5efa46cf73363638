"""The engine and settings the actions use: loaded lazily, once per process, injectable for tests.

Environment:
    TAILOR_MODEL_DIR: engine model directory (default ``build/demo/engine``).
    TAILOR_FAKE_ENGINE: ``1`` serves the fake engine (:mod:`retrieval.engine.fake`) instead.
    TAILOR_FAKE_CATALOG: the fake engine's catalog (default its own ``fake_catalog``).
    TAILOR_TAXONOMY: taxonomy file (default ``data/taxonomy.yml``).
    TAILOR_PUBLIC_URL: base URL the web server publishes images under (default http://localhost:8080).
    TAILOR_PAGE_SIZE: products per page (default 4).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from retrieval.api import EngineAPI
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.engine.fake import FakeEngine
from retrieval.errors import ConfigError
from retrieval.index.heap import settle

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = "build/demo/engine"

_lock = threading.Lock()
_engine: EngineAPI | None = None
_taxonomy: Taxonomy | None = None


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
    if os.environ.get("TAILOR_FAKE_ENGINE") == "1":
        log.warning("TAILOR_FAKE_ENGINE=1: serving the fake engine, not a trained model")
        return FakeEngine.load(os.environ.get("TAILOR_FAKE_CATALOG") or None)
    from retrieval.engine.facade import Engine  # heavy: torch, dgl and faiss (~2 s); the fake engine needs none

    model_dir = _model_dir()
    log.info("loading the engine from %s", model_dir)
    return Engine.load(model_dir)


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


def get_engine() -> EngineAPI:
    """The process-wide engine, loaded (and warmed up) on first use; thread-safe."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                engine = _load()
                warm_up(engine)
                settle()
                _engine = engine
    return _engine


def engine_status() -> dict[str, str | None]:
    """The engine's state for the action server's /health: ``{"engine": "ok" | "not loaded", "error": None}``."""
    return {"engine": "ok" if _engine is not None else "not loaded", "error": None}


def set_engine(engine: EngineAPI | None) -> None:
    """Inject an engine (tests), or ``None`` to load lazily again."""
    global _engine
    with _lock:
        _engine = engine


def get_taxonomy() -> Taxonomy:
    """The taxonomy the dialogue parses words with (cached)."""
    global _taxonomy
    if _taxonomy is None:
        path = os.environ.get("TAILOR_TAXONOMY")
        _taxonomy = Taxonomy.load(path) if path else Taxonomy.load()
    return _taxonomy
