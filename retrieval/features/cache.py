"""On-disk feature cache keyed by content: sha1 of the image bytes / text, per encoder name.

One SQLite file per cache directory (``features.sqlite``); a row holds one float32 vector. Renaming or
moving an image keeps its cache entry, editing it (new bytes) makes a new one. :func:`encode_cached`
is the one lookup -> batch encode -> store loop that images and texts share.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from retrieval.features.base import Encoder, torch_threads

log = logging.getLogger(__name__)

CACHE_FILE = "features.sqlite"
_CHUNK = 500  # SQLite variable limit is 999 on old builds


def content_key(data: bytes | str) -> str:
    """sha1 hex digest of raw bytes, or of a text's UTF-8 encoding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha1(data).hexdigest()


class FeatureCache:
    """Vectors by (encoder name, content key) in ``cache_dir/features.sqlite``."""

    def __init__(self, cache_dir: str | Path) -> None:
        """Open (and create) the cache in ``cache_dir``."""
        self.path = Path(cache_dir) / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (encoder TEXT NOT NULL, key TEXT NOT NULL, dim INTEGER NOT NULL, "
            "data BLOB NOT NULL, PRIMARY KEY (encoder, key))"
        )
        self._db.commit()

    def get_many(self, encoder: str, keys: Iterable[str], dim: int) -> dict[str, np.ndarray]:
        """Cached vectors for ``keys`` (missing keys, or rows of another dimension, are absent)."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, np.ndarray] = {}
        for lo in range(0, len(keys), _CHUNK):
            part = keys[lo : lo + _CHUNK]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, dim, data FROM vectors WHERE encoder = ? AND key IN ({marks})", [encoder, *part]
            )
            for key, row_dim, data in rows:
                if row_dim == dim and len(data) == 4 * dim:
                    out[key] = np.frombuffer(data, dtype=np.float32).copy()
        return out

    def put_many(self, encoder: str, items: dict[str, np.ndarray]) -> None:
        """Store vectors (float32) under ``encoder``."""
        rows = []
        for key, vec in items.items():
            arr = np.ascontiguousarray(vec, dtype=np.float32).reshape(-1)
            rows.append((encoder, key, len(arr), arr.tobytes()))
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
        self._db.commit()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def encode_cached(
    keys: Sequence[str | None],
    encode: Callable[[list[int]], dict[str, np.ndarray]],
    encoder: Encoder,
    cache_dir: str | Path | None,
    batch_size: int,
    *,
    desc: str,
    quiet_up_to: int = 0,
) -> dict[str, np.ndarray]:
    """Vectors by content key: the cached ones, the rest encoded in batches and stored.

    Each distinct key is encoded once, from its first position; positions without a key (None) are
    skipped.

    Args:
        keys: the content key of each item (None: nothing to encode).
        encode: item positions of one batch -> vectors by key (items it cannot read are left out).
        encoder: its ``name`` is the cache's namespace, its ``dim`` the vector size (cached rows of
            another size are encoded again).
        cache_dir: feature cache folder (None: no cache).
        batch_size: positions per ``encode`` call.
        desc: the progress bar's label.
        quiet_up_to: no progress bar for at most this many items to encode.
    """
    cache = FeatureCache(cache_dir) if cache_dir is not None else None
    try:
        known = cache.get_many(encoder.name, [k for k in keys if k], encoder.dim) if cache is not None else {}
        todo: dict[str, int] = {}  # key -> first position needing encoding
        for i, k in enumerate(keys):
            if k and k not in known and k not in todo:
                todo[k] = i
        order = list(todo.values())
        with torch_threads():
            for lo in tqdm(
                range(0, len(order), batch_size), desc=desc, unit="batch", disable=len(order) <= quiet_up_to
            ):
                new = encode(order[lo : lo + batch_size])
                if not new:
                    continue
                known.update(new)
                if cache is not None:
                    cache.put_many(encoder.name, new)
    finally:
        if cache is not None:
            cache.close()
    return known
