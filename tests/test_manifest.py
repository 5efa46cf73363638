"""Model artifacts are checksummed by `tailor train` and verified at load (issue 14.5)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import engine_provider
from actions.browse import ActionSearch
from retrieval.errors import CorruptArtifactError, MissingManifestError, ModelNotFoundError
from retrieval.training.manifest import MANIFEST_FILE, read_json, verify_manifest, write_manifest

REPO = Path(__file__).resolve().parent.parent


def linked_copy(src: Path, dst: Path) -> Path:
    """A copy of a model directory made of hard links (fast); :func:`rewrite` replaces a file, never edits it."""
    shutil.copytree(src, dst, copy_function=os.link, ignore=shutil.ignore_patterns("interactions.db*", "feature-cache"))
    return dst


def rewrite(path: Path, data: bytes) -> None:
    """New content for ``path`` without touching the file it was linked to."""
    path.unlink()
    path.write_bytes(data)


def move_block(data: bytes, size: int) -> bytes:
    """``data`` with its first ``size`` bytes after the header moved to the end (same length, same bytes)."""
    start = min(64, len(data) // 4)
    size = min(size, (len(data) - start) // 2)
    return data[:start] + data[start + size :] + data[start : start + size]


# -- unit: the manifest on a hand-made directory ------------------------------------------------
def small_dir(root: Path) -> Path:
    (root / "features").mkdir(parents=True)
    (root / "config.json").write_text('{"a": 1}')
    (root / "features" / "images.npy").write_bytes(b"\x93NUMPY" + bytes(range(256)) * 8)
    (root / "interactions.db").write_bytes(b"live log")
    (root / "interactions.db-wal").write_bytes(b"live log")
    (root / "feature-cache").mkdir()
    (root / "feature-cache" / "features.sqlite").write_bytes(b"cache")
    (root / "graph-caption").mkdir()
    (root / "graph-caption" / "graph.bin").write_bytes(b"its own manifest")
    return root


@pytest.mark.unit
def test_manifest_lists_what_the_engine_loads_and_skips_live_files(tmp_path: Path) -> None:
    d = small_dir(tmp_path / "m")
    write_manifest(d)
    files = json.loads((d / MANIFEST_FILE).read_text())["files"]
    assert sorted(files) == ["config.json", "features/images.npy"]
    assert files["config.json"]["size"] == 8 and len(files["config.json"]["sha256"]) == 64
    assert verify_manifest(d) == 2
    (d / "interactions.db").write_bytes(b"the log grew")  # live files may change
    shutil.rmtree(d / "feature-cache")
    assert verify_manifest(d) == 2


@pytest.mark.unit
def test_a_changed_same_size_file_is_caught_even_after_a_verified_load(tmp_path: Path) -> None:
    d = small_dir(tmp_path / "m")
    write_manifest(d)
    verify_manifest(d)  # remembered as verified while size, mtime and inode stay
    path = d / "features" / "images.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-1] + b"\x00")
    with pytest.raises(CorruptArtifactError, match=r"images\.npy does not match its checksum") as err:
        verify_manifest(d)
    assert err.value.path == str(path) and "tailor train --data" in str(err.value) and "restore" in str(err.value)


@pytest.mark.unit
def test_missing_or_broken_manifest_and_missing_file_are_typed_errors(tmp_path: Path) -> None:
    d = small_dir(tmp_path / "m")
    with pytest.raises(MissingManifestError, match=r"manifest\.json is missing") as err:
        verify_manifest(d)
    assert isinstance(err.value, ModelNotFoundError) and "tailor train" in (err.value.fix or "")
    write_manifest(d)
    (d / "config.json").unlink()
    with pytest.raises(CorruptArtifactError, match=r"config\.json is missing"):
        verify_manifest(d)
    (d / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(CorruptArtifactError, match=r"manifest\.json cannot be read"):
        verify_manifest(d)
    (d / MANIFEST_FILE).write_text(json.dumps({"version": 1, "algorithm": "sha256", "files": {"../x": {}}}))
    with pytest.raises(CorruptArtifactError, match="outside the model directory"):
        verify_manifest(d)
    (d / "catalog.json").write_text('{"path": ')
    with pytest.raises(CorruptArtifactError, match=r"catalog\.json cannot be read \(JSONDecodeError"):
        read_json(d / "catalog.json")


@pytest.mark.unit
def test_an_onnx_file_that_does_not_load_names_itself_and_is_an_onnx_error(tmp_path: Path) -> None:
    from retrieval.features.onnx_runtime import ONNX_ERRORS, session

    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(ONNX_ERRORS, match=r"model\.onnx cannot be loaded by ONNX Runtime"):
        session(bad)


# -- unit: a failed engine load is remembered ----------------------------------------------------
@pytest.fixture()
def no_engine() -> Any:
    engine_provider.set_engine(None)
    yield
    engine_provider.set_engine(None)


def search_turn() -> list[dict[str, Any]]:
    message = {"text": "red dresses", "intent": {"name": "search", "confidence": 0.99}, "entities": []}
    tracker = Tracker("shopper-1", {}, message, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    ActionSearch().run(dispatcher, tracker, {})
    return dispatcher.messages


@pytest.mark.unit
def test_a_failed_load_is_remembered_reported_and_retried_after_the_backoff(
    no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def corrupt() -> None:
        calls.append(1)
        raise CorruptArtifactError(
            "/srv/engine/graph.bin does not match its checksum.", path="/srv/engine/graph.bin", fix="retrain"
        )

    monkeypatch.setattr(engine_provider, "_load", corrupt)
    monkeypatch.setenv("TAILOR_ENGINE_RETRY_S", "60")
    assert engine_provider.engine_status() == {"engine": "not loaded", "error": None}
    for _ in range(3):
        with pytest.raises(CorruptArtifactError, match=r"graph\.bin"):
            engine_provider.get_engine()
    assert len(calls) == 1
    status = engine_provider.engine_status()
    assert status["engine"] == "failed" and "graph.bin" in str(status["error"])
    # the shopper hears that the search is not available, not the file's path
    out = search_turn()
    assert [m["response"] for m in out] == ["utter_engine_unavailable"] and len(calls) == 1
    domain = yaml.safe_load((REPO / "domain.yml").read_text())
    text = domain["responses"]["utter_engine_unavailable"][0]["text"]
    assert "not ready right now" in text and "{" not in text
    monkeypatch.setenv("TAILOR_ENGINE_RETRY_S", "0")  # the backoff is over: the next turn loads again
    with pytest.raises(CorruptArtifactError):
        engine_provider.get_engine()
    assert len(calls) == 2


@pytest.mark.unit
def test_an_untyped_load_failure_becomes_a_typed_one_and_success_clears_it(
    no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retrieval.engine.fake import FakeEngine

    def boom() -> None:
        raise RuntimeError("PytorchStreamReader failed reading zip archive")

    monkeypatch.setattr(engine_provider, "_load", boom)
    monkeypatch.setenv("TAILOR_ENGINE_RETRY_S", "0")
    with pytest.raises(ModelNotFoundError, match=r"failed to load \(RuntimeError: PytorchStreamReader") as err:
        engine_provider.get_engine()
    assert isinstance(err.value.__cause__, RuntimeError)
    assert engine_provider.engine_status()["engine"] == "failed"
    fake = FakeEngine.load()
    monkeypatch.setattr(engine_provider, "_load", lambda: fake)
    monkeypatch.setattr(engine_provider, "warm_up", lambda engine: None)
    assert engine_provider.get_engine() is fake
    assert engine_provider.engine_status() == {"engine": "ok", "error": None}


@pytest.mark.unit
def test_a_bad_retry_setting_keeps_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILOR_ENGINE_RETRY_S", "soon")
    assert engine_provider.retry_seconds() == engine_provider.DEFAULT_RETRY_S
    monkeypatch.setenv("TAILOR_ENGINE_RETRY_S", "2.5")
    assert engine_provider.retry_seconds() == 2.5


# -- engine: a trained model -----------------------------------------------------------------------
@pytest.mark.engine
def test_train_writes_a_manifest_of_every_loaded_file_last(tiny_model: Path) -> None:
    from retrieval.training.loop import CAPTION_VARIANT_DIR
    from retrieval.training.manifest import SKIPPED_NAMES

    files = json.loads((tiny_model / MANIFEST_FILE).read_text())["files"]
    for name in ("config.json", "model.pt", "graph.bin", "ids.json", "catalog.json", "splits.json", "metrics.json"):
        assert name in files, name
    assert {
        "features/images.npy",
        "features/queries.npy",
        "query_encoder/model.onnx",
        "query_encoder/model.json",
    } <= set(files)
    assert not any(f.startswith(("interactions.db", "feature-cache")) for f in files)
    newest = max((tiny_model / f).stat().st_mtime_ns for f in files)
    assert (tiny_model / MANIFEST_FILE).stat().st_mtime_ns >= newest
    assert CAPTION_VARIANT_DIR in SKIPPED_NAMES


@pytest.mark.engine
@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("graph.bin", lambda b: move_block(b, 256 * 1024), "does not match its checksum"),
        ("model.pt", lambda b: b[: len(b) // 2], "was changed or truncated"),
        ("query_encoder/model.onnx", lambda b: b[:-4096] + bytes(4096), "does not match its checksum"),
    ],
)
def test_a_damaged_file_fails_the_load_naming_it(
    tiny_model: Path, tmp_path: Path, name: str, damage: Any, message: str
) -> None:
    from retrieval.training.artifacts import load_model

    d = linked_copy(tiny_model, tmp_path / "engine")
    data = (d / name).read_bytes()
    rewrite(d / name, damage(data))
    assert len(damage(data)) == len(data) or name == "model.pt"
    with pytest.raises(CorruptArtifactError, match=message) as err:
        load_model(d)
    assert err.value.path == str(d / name) and str(d / name) in str(err.value)
    assert f"tailor train --data CATALOG --out {d}" in str(err.value)


@pytest.mark.engine
def test_unreadable_files_name_themselves_even_when_signed(tiny_model: Path, tmp_path: Path) -> None:
    """A bad file that matches its manifest (signed after the damage) still fails naming the file."""
    from retrieval.training.artifacts import load_model

    d = linked_copy(tiny_model, tmp_path / "engine")
    data = (d / "model.pt").read_bytes()
    rewrite(d / "model.pt", data[: len(data) // 2])
    write_manifest(d)
    with pytest.raises(CorruptArtifactError, match=r"model\.pt cannot be read \(RuntimeError"):
        load_model(d)
    rewrite(d / "model.pt", data)
    rewrite(d / "ids.json", b'{"images": [')
    write_manifest(d)
    with pytest.raises(CorruptArtifactError, match=r"ids\.json cannot be read \(JSONDecodeError"):
        load_model(d)
    (d / MANIFEST_FILE).unlink()
    with pytest.raises(MissingManifestError, match="unverified"):
        load_model(d)


@pytest.mark.engine
def test_the_action_server_reports_a_corrupt_model_once_per_backoff(
    tiny_model: Path, tmp_path: Path, no_engine: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = linked_copy(tiny_model, tmp_path / "engine")
    onnx = d / "query_encoder" / "model.onnx"
    rewrite(onnx, move_block(onnx.read_bytes(), 256 * 1024))
    monkeypatch.setenv("TAILOR_MODEL_DIR", str(d))
    monkeypatch.delenv("TAILOR_FAKE_ENGINE", raising=False)
    monkeypatch.setenv("TAILOR_ENGINE_RETRY_S", "60")
    loads = []
    real_load = engine_provider._load
    monkeypatch.setattr(engine_provider, "_load", lambda: loads.append(1) or real_load())
    assert [m["response"] for m in search_turn()] == ["utter_engine_unavailable"]
    assert [m["response"] for m in search_turn()] == ["utter_engine_unavailable"]
    assert len(loads) == 1
    status = engine_provider.engine_status()
    assert status["engine"] == "failed" and str(onnx) in str(status["error"])
