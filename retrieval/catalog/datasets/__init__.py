"""Dataset loaders: the demo catalog, Fashion200K and FashionIQ, all producing a :class:`Catalog`.

``load_catalog(path)`` recognises the layout: ``meta/attributes.jsonl`` -> demo, ``labels/`` ->
Fashion200K, ``captions/`` or ``image_splits/`` -> FashionIQ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retrieval.catalog.datasets.demo import load_demo
from retrieval.catalog.datasets.fashion200k import derive_train_queries, load_fashion200k
from retrieval.catalog.datasets.fashioniq import load_fashioniq
from retrieval.catalog.records import Catalog
from retrieval.errors import DatasetError

FORMATS = ("demo", "fashion200k", "fashioniq")

__all__ = [
    "FORMATS",
    "derive_train_queries",
    "detect_format",
    "load_catalog",
    "load_demo",
    "load_fashion200k",
    "load_fashioniq",
]


def detect_format(path: str | Path) -> str:
    """Name the layout of the catalog folder ``path`` (one of :data:`FORMATS`)."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(
            "catalog folder does not exist.",
            path=str(path),
            fix="pass an existing folder (build the demo with `tailor catalog demo --out DIR`)",
        )
    if (path / "meta" / "attributes.jsonl").is_file():
        return "demo"
    if (path / "labels").is_dir():
        return "fashion200k"
    if (path / "captions").is_dir() or (path / "image_splits").is_dir():
        return "fashioniq"
    raise DatasetError(
        "cannot tell the dataset format.",
        path=str(path),
        fix="point at a folder holding labels/ (Fashion200K), captions/ + image_splits/ (FashionIQ) or "
        "meta/attributes.jsonl (demo), or pass the format explicitly",
    )


def load_catalog(path: str | Path, format: str = "auto", **kw: Any) -> Catalog:
    """Load a catalog folder in ``format`` ("auto" detects it); ``kw`` go to the format's loader."""
    if format == "auto":
        format = detect_format(path)
    loaders = {"demo": load_demo, "fashion200k": load_fashion200k, "fashioniq": load_fashioniq}
    if format not in loaders:
        raise DatasetError(
            f"unknown dataset format {format!r}.", path=str(path), fix=f"use auto or one of {', '.join(FORMATS)}"
        )
    if not Path(path).is_dir():
        raise DatasetError("catalog folder does not exist.", path=str(path), fix="pass an existing folder")
    return loaders[format](path, **kw)
