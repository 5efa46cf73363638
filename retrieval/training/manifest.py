"""``MODEL/manifest.json``: the sha256 and size of every file of a model directory the engine loads.

``tailor train`` writes the manifest as its last step (:func:`write_manifest`): once for the model
directory (its ``query_encoder/`` export included) and once for the ``graph-caption/`` variant inside it,
which is a model directory of its own. :func:`~retrieval.training.artifacts.load_model` checks it
(:func:`verify_manifest`) before it reads any file, so a file changed, truncated or swapped after training
fails the load with a :class:`~retrieval.errors.CorruptArtifactError` naming the file; a directory without
a manifest (training did not finish, or it predates manifests) fails with a
:class:`~retrieval.errors.MissingManifestError`. :func:`reading` gives any other failure to read an
artifact (bad JSON, a torch or DGL load error) the same error, naming the file.

Not listed, so never checked: the live interaction log (``interactions.db*``), the feature cache
(``feature-cache/``), an operator's ``engine_config.json``, a ``tagger/`` trained separately, dotfiles.

Cost: hashing runs at ~1.3 GB/s here; the demo model (15 files, 183 MB with its ONNX query encoder)
verifies in 0.14 s from the page cache (under 1 s from a cold disk: 0.84 s for 277 MB). A file verified
once in a process is not hashed again while its size, mtime and inode are unchanged (a graph rebuild
reloads the model).
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from retrieval.errors import CorruptArtifactError, MissingManifestError, TailorError

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 1
#: the ONNX export of the query text encoder inside a model directory (:mod:`retrieval.engine.query_text`)
QUERY_ENCODER_DIR = "query_encoder"
#: top-level entries never listed: the manifest, live or operator-owned files, folders with a lifecycle of their
#: own ("graph-caption" is :data:`retrieval.training.loop.CAPTION_VARIANT_DIR`, with its own manifest); and dotfiles
SKIPPED_NAMES = frozenset({MANIFEST_FILE, "engine_config.json", "feature-cache", "tagger", "graph-caption"})
SKIPPED_PREFIXES = ("interactions.db",)
#: what reading a damaged artifact raises besides a TailorError (JSON, numpy, torch, pickle, zip)
READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    RuntimeError,
    pickle.PickleError,
)
T = TypeVar("T")

_verified: dict[tuple[str, int, int, int], str] = {}  # (path, size, mtime_ns, inode) -> sha256 seen
_verified_lock = threading.Lock()


def retrain_fix(model_dir: Path) -> str:
    """The fix every artifact error gives."""
    return f"retrain the model (`tailor train --data CATALOG --out {model_dir}`) or restore the file from a good copy"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def listed_files(model_dir: Path) -> list[str]:
    """Relative paths (POSIX) of the files a manifest of ``model_dir`` lists, sorted."""
    out: list[str] = []
    for entry in sorted(model_dir.iterdir()):
        if entry.name in SKIPPED_NAMES or entry.name.startswith((".", *SKIPPED_PREFIXES)):
            continue
        files = [entry] if entry.is_file() else sorted(p for p in entry.rglob("*") if p.is_file())
        out.extend(p.relative_to(model_dir).as_posix() for p in files)
    return out


def write_manifest(model_dir: str | Path) -> Path:
    """Write ``model_dir/manifest.json`` over the files training wrote (atomically); returns its path."""
    d = Path(model_dir)
    files = {}
    for rel in listed_files(d):
        path = d / rel
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    body = {"version": MANIFEST_VERSION, "algorithm": "sha256", "files": files}
    part = d / f".{MANIFEST_FILE}.part"
    part.write_text(json.dumps(body, indent=1) + "\n")
    part.replace(d / MANIFEST_FILE)
    log.info("manifest of %d files written to %s", len(files), d / MANIFEST_FILE)
    return d / MANIFEST_FILE


def remove_manifest(model_dir: str | Path) -> None:
    """Drop an old manifest before a directory is rewritten: a half-written model then fails as unsigned."""
    (Path(model_dir) / MANIFEST_FILE).unlink(missing_ok=True)


def read_manifest(model_dir: str | Path) -> dict[str, dict]:
    """The ``files`` of ``model_dir/manifest.json`` (relative path -> ``{"sha256", "size"}``).

    Raises:
        MissingManifestError: there is no manifest.
        CorruptArtifactError: the manifest is not one this version wrote.
    """
    d = Path(model_dir)
    path = d / MANIFEST_FILE
    if not path.is_file():
        raise MissingManifestError(
            f"{path} is missing: the model in {d} is unverified (training did not finish, or it predates "
            "checksum manifests), so the engine will not load it.",
            path=path,
            fix=retrain_fix(d),
        )
    with reading(path, model_dir=d):
        body = json.loads(path.read_text())
        files = body["files"]
        if body.get("version") != MANIFEST_VERSION or body.get("algorithm") != "sha256" or not isinstance(files, dict):
            raise ValueError(f"unknown manifest version {body.get('version')!r} / {body.get('algorithm')!r}")
        for rel, entry in files.items():
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                raise ValueError(f"entry {rel!r} is outside the model directory")
            if not isinstance(entry.get("size"), int) or not isinstance(entry.get("sha256"), str):
                raise ValueError(f"entry {rel!r} has no size and sha256")
    return files


def verify_manifest(model_dir: str | Path) -> int:
    """Check every file ``model_dir/manifest.json`` lists (size, then sha256); returns how many.

    Raises:
        MissingManifestError: there is no manifest.
        CorruptArtifactError: a listed file is missing, or its size or checksum differs (names the file).
    """
    d = Path(model_dir)
    files = read_manifest(d)
    for rel, entry in files.items():
        path = d / rel
        try:
            st = path.stat()
        except OSError as err:
            raise CorruptArtifactError(
                f"{path} is missing or unreadable ({err.strerror}).", path=path, fix=retrain_fix(d)
            ) from err
        if st.st_size != int(entry["size"]):
            raise CorruptArtifactError(
                f"{path} has {st.st_size:,} bytes, not the {int(entry['size']):,} training wrote: it was changed "
                "or truncated.",
                path=path,
                fix=retrain_fix(d),
            )
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
        with _verified_lock:
            seen = _verified.get(key)
        if seen == entry["sha256"]:
            continue
        with reading(path, model_dir=d):
            digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise CorruptArtifactError(
                f"{path} does not match its checksum in {d / MANIFEST_FILE}: it was changed after training.",
                path=path,
                fix=retrain_fix(d),
            )
        with _verified_lock:
            _verified[key] = digest
    log.debug("verified %d files of %s", len(files), d)
    return len(files)


@contextmanager
def reading(
    path: Path, *, model_dir: Path | None = None, extra: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Turn a failure to read the artifact ``path`` into a :class:`CorruptArtifactError` naming it.

    Args:
        path: the file being read.
        model_dir: the model directory the fix names (default: the file's folder).
        extra: more exception types to convert (e.g. DGL's ``DGLError``).
    """
    try:
        yield
    except TailorError:
        raise
    except (*READ_ERRORS, *extra) as err:
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise CorruptArtifactError(
            f"{path} cannot be read ({type(err).__name__}: {reason}).",
            path=path,
            fix=retrain_fix(model_dir or path.parent),
        ) from err


def read_artifact(
    path: Path,
    read: Callable[[Path], T],
    *,
    model_dir: Path | None = None,
    extra: tuple[type[BaseException], ...] = (),
) -> T:
    """``read(path)``, any failure a :class:`CorruptArtifactError` naming ``path`` (see :func:`reading`)."""
    with reading(path, model_dir=model_dir, extra=extra):
        return read(path)


def read_json(path: Path) -> dict:
    """A JSON artifact (a failure names the file)."""
    return read_artifact(path, lambda p: json.loads(p.read_text()))
