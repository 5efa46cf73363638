"""Reading dataset files with precise errors.

The loaders read JSON / JSONL / TSV through the helpers here so every malformed input becomes a
:class:`~retrieval.errors.DatasetError` naming the file, the line and the fix.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from retrieval.catalog.records import SPLITS, ImageRecord
from retrieval.errors import DatasetError

log = logging.getLogger(__name__)

_WS = " \t\r\n"


def read_text(path: Path) -> str:
    """Read a UTF-8 text file; unreadable bytes become a :class:`DatasetError`."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DatasetError(
            f"not UTF-8 text ({err.reason} at byte {err.start}).",
            path=str(path),
            line=line,
            fix="re-save the file as UTF-8",
        ) from err
    except OSError as err:
        raise DatasetError(
            f"cannot read the file ({err.strerror}).", path=str(path), fix="check that the file exists and is readable"
        ) from err


def read_json(path: Path) -> Any:
    """Parse a JSON file; a syntax error names its line."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DatasetError(
            f"bad JSON: {err.msg} (column {err.colno}).",
            path=str(path),
            line=err.lineno,
            fix="correct the JSON syntax at that line (a missing comma, quote or bracket?)",
        ) from err


def json_list_entry_line(path: Path, index: int) -> int | None:
    """Line on which entry ``index`` of the top-level JSON list in ``path`` starts (None if unknown)."""
    text = read_text(path)
    decoder = json.JSONDecoder()
    pos = _skip(text, 0)
    if pos >= len(text) or text[pos] != "[":
        return None
    pos = _skip(text, pos + 1)
    for i in range(index + 1):
        if i == index:
            return text.count("\n", 0, pos) + 1
        try:
            _, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        pos = _skip(text, pos)
        if pos >= len(text) or text[pos] != ",":
            return None
        pos = _skip(text, pos + 1)
    return None


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(
                f"bad JSON line: {err.msg} (column {err.colno}).",
                path=str(path),
                line=number,
                fix="each line must be one complete JSON object",
            ) from err
        if not isinstance(obj, dict):
            raise DatasetError(
                f"expected a JSON object, got {type(obj).__name__}.",
                path=str(path),
                line=number,
                fix="write one {...} object per line",
            )
        yield number, obj


def require_split(name: str, *, path: Path, line: int | None = None, what: str = "split") -> str:
    """Return ``name`` if it is a known split, else raise a :class:`DatasetError`."""
    if name not in SPLITS:
        raise DatasetError(
            f"unknown {what} {name!r}.",
            path=str(path),
            line=line,
            fix=f"use one of {', '.join(SPLITS)}",
        )
    return name


def find_missing(catalog_root: Path, images: list[ImageRecord], *, progress: bool = True) -> list[str]:
    """Ids of images whose file does not exist (one directory listing per folder, no file opened).

    Folders are listed top-down and a folder absent from its parent is never listed, so a catalog
    without its images is checked in one pass over plain strings.
    """
    root = os.fspath(catalog_root)
    listings: dict[str, set[str] | None] = {"": _list(root)}

    def listing(folder: str) -> set[str] | None:
        if folder in listings:
            return listings[folder]
        parent, _, name = folder.rpartition("/")
        above = listing(parent)
        names = _list(os.path.join(root, folder)) if above is not None and name in above else None
        listings[folder] = names
        return names

    missing = []
    for im in tqdm(images, desc="checking image files", unit="img", disable=not progress or len(images) < 20000):
        rel = im.path
        if os.path.isabs(rel):
            folder, name = os.path.split(rel)
            if folder not in listings:
                listings[folder] = _list(folder)
            names = listings[folder]
        else:
            folder, _, name = rel.rpartition("/")
            names = listing(folder)
        if not rel or names is None or name not in names:
            missing.append(im.image_id)
    return missing


def _list(folder: str) -> set[str] | None:
    try:
        return set(os.listdir(folder))
    except OSError:
        return None
