"""The demo catalog: Fashion200K layout plus ``meta/`` (ground-truth attributes and natural queries).

``meta/attributes.jsonl`` lines: ``{"image_id", "product_id", "category", "split", "attributes": [...]}``.
``meta/queries.jsonl`` lines: ``{"source", "target", "template", "text", "kind", "split", "category",
"changes"}``; these (train and test) replace the queries read from ``test_queries.txt``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Literal, TypeVar, overload

from retrieval.catalog.datasets.fashion200k import load_fashion200k
from retrieval.catalog.datasets.files import iter_jsonl, require_split
from retrieval.catalog.records import Catalog, ModQuery
from retrieval.errors import DatasetError

log = logging.getLogger(__name__)

META_DIR = "meta"
ATTRIBUTES_FILE = "attributes.jsonl"
QUERIES_FILE = "queries.jsonl"
QUERY_KINDS = ("single", "multi")

_T = TypeVar("_T")


@overload
def _field(obj: dict[str, Any], key: str, path: Path, line: int) -> str: ...
@overload
def _field(obj: dict[str, Any], key: str, path: Path, line: int, *, required: Literal[False]) -> str | None: ...
@overload
def _field(obj: dict[str, Any], key: str, path: Path, line: int, *, kind: type[_T]) -> _T: ...
def _field(obj: dict[str, Any], key: str, path: Path, line: int, *, required: bool = True, kind: type = str) -> object:
    """``obj[key]`` checked to be a ``kind`` (a ``str`` unless told); None if absent and not ``required``."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        raise DatasetError(
            f"field {key!r} must be a {kind.__name__}, got {value!r}.",
            path=str(path),
            line=line,
            fix=f"give every line a {kind.__name__} {key!r}",
        )
    return value


def load_demo(root: str | Path, *, images_dir: str | Path | None = None, check_images: bool = True) -> Catalog:
    """Load a demo catalog: the Fashion200K loader, then ``meta/`` attributes and queries."""
    root = Path(root)
    catalog = load_fashion200k(root, images_dir=images_dir, check_images=check_images)
    images = {im.image_id: im for im in catalog.images}

    attr_path = root / META_DIR / ATTRIBUTES_FILE
    if attr_path.is_file():
        for line, obj in iter_jsonl(attr_path):
            image_id = _field(obj, "image_id", attr_path, line)
            if image_id not in images:
                raise DatasetError(
                    f"image {image_id!r} is not in any labels/ file.",
                    path=str(attr_path),
                    line=line,
                    fix="regenerate the demo catalog, or add the image to its label file",
                )
            attributes = _field(obj, "attributes", attr_path, line, kind=list)
            if not all(isinstance(a, str) and ":" in a for a in attributes):
                raise DatasetError(
                    "attributes must be 'group:value' strings.",
                    path=str(attr_path),
                    line=line,
                    fix='write them like ["color:black", "sleeve:long"]',
                )
            im = images[image_id]
            product_id = _field(obj, "product_id", attr_path, line, required=False)
            category = _field(obj, "category", attr_path, line, required=False)
            split = _field(obj, "split", attr_path, line, required=False)
            images[image_id] = dataclasses.replace(
                im,
                attributes=tuple(attributes),
                product_id=product_id or im.product_id,
                category=category or im.category,
                split=require_split(split, path=attr_path, line=line) if split else im.split,
            )
    else:
        log.warning("%s not found: demo images have no ground-truth attributes", attr_path)

    queries = catalog.queries
    query_path = root / META_DIR / QUERIES_FILE
    if query_path.is_file():
        queries = []
        for line, obj in iter_jsonl(query_path):
            source = _field(obj, "source", query_path, line)
            target = _field(obj, "target", query_path, line)
            for role, image_id in (("source", source), ("target", target)):
                if image_id not in images:
                    raise DatasetError(
                        f"{role} image {image_id!r} is not in any labels/ file.",
                        path=str(query_path),
                        line=line,
                        fix="regenerate the demo catalog, or delete this query line",
                    )
            kind = _field(obj, "kind", query_path, line, required=False) or "single"
            if kind not in QUERY_KINDS:
                raise DatasetError(
                    f"unknown query kind {kind!r}.",
                    path=str(query_path),
                    line=line,
                    fix=f"use one of {', '.join(QUERY_KINDS)}",
                )
            split = require_split(_field(obj, "split", query_path, line), path=query_path, line=line)
            text = _field(obj, "text", query_path, line)
            template = _field(obj, "template", query_path, line, required=False) or ""
            category = _field(obj, "category", query_path, line, required=False) or images[source].category
            queries.append(
                ModQuery(
                    source=source,
                    target=target,
                    text=text,
                    template=template,
                    split=split,
                    kind=kind,
                    category=category,
                )
            )
    else:
        log.warning("%s not found: using test_queries.txt only", query_path)

    enriched = Catalog(
        root=catalog.root,
        images=[images[im.image_id] for im in catalog.images],
        queries=queries,
        missing_images=catalog.missing_images,
        unreadable_images=catalog.unreadable_images,
        source_format="demo",
    )
    log.info("demo catalog %s: %d images, %d queries", root, len(enriched.images), len(queries))
    return enriched
