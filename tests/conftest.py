"""Shared pytest fixtures. Add fixtures; do not replace others'."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# -- test tiers (pyproject.toml markers): every test gets exactly one ------------------------------
# unit: no trained model, no server (`make test-fast`); engine: trains, exports or loads a model;
# stack: real Rasa server, action server, Chromium. A test marked by hand (module `pytestmark` or a
# decorator) keeps its tier; any other test is tiered by the fixtures it uses.
TIERS = ("unit", "engine", "stack")
STACK_FIXTURES = frozenset({"chat_stack", "real_chat_stack"})
# + the real pretrained encoders of tests/test_features.py (loading them is most of that file's time)
ENGINE_FIXTURES = frozenset({"tiny_model", "tiny_engine", "tiny_tagger", "text_encoder", "image_encoder"})


def tier_of(item: pytest.Item) -> str:
    """The one tier of a collected test: its own marker, else the heaviest fixture it uses."""
    marked = {m.name for m in item.iter_markers() if m.name in TIERS}
    if len(marked) > 1:
        raise pytest.UsageError(f"{item.nodeid} has tiers {sorted(marked)}: give it exactly one")
    if marked:
        return marked.pop()
    used = set(getattr(item, "fixturenames", ()))
    return "stack" if used & STACK_FIXTURES else "engine" if used & ENGINE_FIXTURES else "unit"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))


# -- the conversation stack (issue 5): real action server + real Rasa server + web page ----------
@dataclass(frozen=True)
class ChatStack:
    """URLs of a running stack serving the fake engine, plus the fake Slack / Telegram APIs."""

    rasa: str
    actions: str
    web: str
    platforms: object  # tests/fake_platforms.FakePlatforms
    env: dict[str, str]


def _rasa_model() -> Path:
    """The trained Rasa model (``make rasa-model``); trained here once if it is missing."""
    from bot.launch import DEFAULT_MODEL, rasa_bin

    model = Path(os.environ.get("TAILOR_RASA_MODEL", REPO / DEFAULT_MODEL))
    if not model.is_file():
        cmd = [
            rasa_bin(),
            "train",
            "--fixed-model-name",
            model.name.removesuffix(".tar.gz"),
            "--out",
            str(model.parent),
        ]
        subprocess.run(cmd, cwd=REPO, check=True, env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"})
    return model


@pytest.fixture(scope="session")
def chat_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatStack]:
    """Start the whole conversation stack on free loopback ports once per test session."""
    from fake_platforms import FakePlatforms

    from bot.launch import free_port, start_action_server, start_rasa_server, stop_all
    from bot.serve import make_server, serve_in_thread
    from retrieval.engine.fake import FIXTURE_DIR

    model = _rasa_model()
    logs = tmp_path_factory.mktemp("chat-stack")
    platforms = FakePlatforms()
    rasa_port = free_port()
    web = make_server(FIXTURE_DIR, port=0, rasa_url=f"http://127.0.0.1:{rasa_port}")
    serve_in_thread(web)
    web_url = f"http://127.0.0.1:{web.server_port}"
    env = {
        "TAILOR_FAKE_ENGINE": "1",
        "TAILOR_PUBLIC_URL": web_url,
        "TAILOR_PAGE_SIZE": "4",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "slack-test-secret",
        "SLACK_API_URL": f"{platforms.url}/slack/",
        "TELEGRAM_TOKEN": "123456:TEST-token",
        "TELEGRAM_SECRET_TOKEN": "tg-test-secret",
        "TELEGRAM_API_URL": f"{platforms.url}/tg",
        # roles (tests/test_identity.py): staff identities, and the secret staff tokens are signed with
        "TAILOR_STAFF": "slack:USTAFF, telegram:777, staff:anna",
        "TAILOR_STAFF_SECRET": "test-staff-secret-0123456789",
    }
    services = []
    try:
        services.append(start_action_server(free_port(), logs, env))
        services.append(start_rasa_server(model, rasa_port, services[0].url, logs, enable_api=True, env=env))
        yield ChatStack(services[1].url, services[0].url, web_url, platforms, env)
    finally:
        stop_all(services)
        web.shutdown()
        platforms.close()


# -- the engine (issue 3): a tiny generated demo catalog and a model trained on it, once per session --
def tiny_train_config():
    """A fast TrainConfig for ~150-product catalogs: real EfficientNet-Lite0 at 64 px (a registered
    encoder, so a subprocess such as an action server can load the model too), 15 epochs.
    """
    from retrieval.features import FeatureConfig
    from retrieval.training.config import TrainConfig

    return TrainConfig(
        epochs=15,
        batch_size=64,
        patience=15,
        negatives=16,
        caption_graph=False,
        max_val_queries=60,
        features=FeatureConfig(image_size=64),
    )


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated demo catalog of 150 products (~300 images, ~260 queries), seed 0."""
    from retrieval.catalog.demo.generate import generate_demo_catalog

    out = tmp_path_factory.mktemp("tiny-demo") / "catalog"
    generate_demo_catalog(out, 150, 0, workers=1)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory trained on ``tiny_catalog`` (one torch thread: two oversubscribe a busy 2-core box)."""
    from retrieval.features.base import torch_threads
    from retrieval.training.run import train

    out = tmp_path_factory.mktemp("tiny-model") / "engine"
    with torch_threads(1):
        train(tiny_catalog, out, tiny_train_config(), cache_dir=tmp_path_factory.mktemp("tiny-cache"), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_engine(tiny_model: Path):
    """``Engine.load(tiny_model)``, shared: tests must not edit it (load a fresh one to edit)."""
    from retrieval.engine.facade import Engine

    return Engine.load(tiny_model)


# -- the metadata tagger (issue 4): trained in seconds, once per session ---------------------------
@pytest.fixture(scope="session")
def tiny_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a metadata tagger trained with ``TEST_CONFIG`` (low F1, but a real Flair model)."""
    from retrieval.interactions.tagger import TEST_CONFIG
    from retrieval.interactions.tagger_train import train_tagger

    out = tmp_path_factory.mktemp("tiny-tagger")
    train_tagger(out, TEST_CONFIG)
    return out


# -- the conversation stack on the REAL engine (issue 5): tiny_model behind the real servers ------
@dataclass(frozen=True)
class RealChatStack:
    """URLs of a running stack whose action server loads a copy of ``tiny_model``."""

    rasa: str
    actions: str
    web: str
    model_dir: Path  # the copy the action server serves (its interaction log is written there)
    catalog: Path


@pytest.fixture(scope="module")
def real_chat_stack(tiny_catalog: Path, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory):
    """Real action server (real Engine on a private copy of ``tiny_model``) + real Rasa server + web
    page on free loopback ports; stopped when the module's tests are done.
    """
    import shutil

    from bot.launch import free_port, start_action_server, start_rasa_server, stop_all
    from bot.serve import make_server, serve_in_thread

    model = _rasa_model()
    root = tmp_path_factory.mktemp("real-chat-stack")
    model_dir = root / "engine"  # a copy: the engine writes MODEL/interactions.db on the first interaction
    shutil.copytree(tiny_model, model_dir)
    rasa_port = free_port()
    web = make_server(tiny_catalog, port=0, rasa_url=f"http://127.0.0.1:{rasa_port}")
    serve_in_thread(web)
    web_url = f"http://127.0.0.1:{web.server_port}"
    env = {
        "TAILOR_MODEL_DIR": str(model_dir),
        "TAILOR_FAKE_ENGINE": "0",
        "TAILOR_PUBLIC_URL": web_url,
        "TAILOR_PAGE_SIZE": "4",
        "TAILOR_TORCH_THREADS": "1",
    }
    services = []
    try:
        services.append(start_action_server(free_port(), root / "logs", env))
        services.append(start_rasa_server(model, rasa_port, services[0].url, root / "logs", enable_api=True, env=env))
        yield RealChatStack(services[1].url, services[0].url, web_url, model_dir, tiny_catalog)
    finally:
        stop_all(services)
        web.shutdown()
