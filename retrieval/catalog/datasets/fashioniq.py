"""FashionIQ exactly as published (Wu et al. 2021, repository XiaoxiaoGuo/fashion-iq).

Layout: ``<root>/captions/cap.<category>.<split>.json`` (lists of
``{"candidate": ASIN, "target": ASIN, "captions": [c1, c2]}``; test files have no target),
``<root>/image_splits/split.<category>.<split>.json`` (lists of ASINs), images ``<ASIN>.jpg`` in a
folder the user names (default ``<root>/images``). The two relative captions are joined
ComposeAE-style with " and it "; the paper's A.4 variant also puts the category name first.

An ASIN may be listed under several categories (shirt and toptee share ~3,300), so an image's id is
``<category>/<ASIN>`` and its product id the ASIN.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from retrieval.catalog.datasets.files import json_list_entry_line, read_json
from retrieval.catalog.records import SPLITS, Catalog, ImageRecord, ModQuery
from retrieval.errors import DatasetError

log = logging.getLogger(__name__)

CATEGORIES = ("dress", "shirt", "toptee")
JOINER = " and it "
CAPTIONS_DIR = "captions"
SPLITS_DIR = "image_splits"
_CAP_NAME = re.compile(r"^cap\.([^.]+)\.([^.]+)\.json$")
_SPLIT_NAME = re.compile(r"^split\.([^.]+)\.([^.]+)\.json$")


def image_id(category: str, asin: str) -> str:
    """The catalog id of a FashionIQ image: ``<category>/<ASIN>``."""
    return f"{category}/{asin}"


def join_captions(
    captions: list[str], category: str = "", *, joiner: str = JOINER, prefix_category: bool = False
) -> str:
    """Join the relative captions ComposeAE-style ("is black and it has long sleeves").

    Each caption is stripped and empty ones are dropped; with ``prefix_category`` the category name
    becomes the first word (the paper's A.4).
    """
    text = joiner.join(c.strip() for c in captions if c.strip())
    if prefix_category and category:
        text = f"{category} {text}".strip()
    return text


def _files(folder: Path, pattern: re.Pattern[str], what: str, example: str) -> list[tuple[Path, str, str]]:
    """``(path, category, split)`` of every ``*.json`` in ``folder`` by category, then train/val/test.

    A file name that is not ``<prefix>.<category>.<split>.json`` or names an unknown split is an error.
    """
    out = []
    for path in sorted(folder.glob("*.json")):
        match = pattern.match(path.name)
        if not match:
            raise DatasetError(
                f"unexpected {what} file name {path.name!r}.",
                path=str(path),
                fix=f"name it like {example} or move it out of {folder.name}/",
            )
        category, split = match.groups()
        if split not in SPLITS:
            raise DatasetError(
                f"unknown split {split!r} in the file name {path.name!r}.",
                path=str(path),
                fix=f"the split part must be one of {', '.join(SPLITS)} (e.g. {example})",
            )
        out.append((path, category, split))
    return sorted(out, key=lambda f: (f[1], SPLITS.index(f[2])))


def _entry_error(path: Path, index: int, message: str, fix: str) -> DatasetError:
    return DatasetError(f"entry {index}: {message}", path=str(path), line=json_list_entry_line(path, index), fix=fix)


def read_split_file(path: Path) -> list[str]:
    """An ``image_splits`` file: a JSON list of ASIN strings."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DatasetError(
            f"expected a JSON list of ASINs, got {type(data).__name__}.",
            path=str(path),
            line=1,
            fix='write the file as ["B00...", "B00...", ...]',
        )
    for i, asin in enumerate(data):
        if not isinstance(asin, str) or not asin.strip():
            raise _entry_error(path, i, f"expected an ASIN string, got {asin!r}.", "every entry must be a string")
    return data


def read_caption_file(path: Path, split: str) -> list[dict[str, Any]]:
    """A ``captions`` file: a JSON list of ``{"candidate", "target", "captions"}`` (no target in test)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DatasetError(
            f"expected a JSON list of caption pairs, got {type(data).__name__}.",
            path=str(path),
            line=1,
            fix='write [{"candidate": ..., "target": ..., "captions": [...]}, ...]',
        )
    fix = 'each entry is {"candidate": ASIN, "target": ASIN, "captions": ["...", "..."]}'
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise _entry_error(path, i, f"expected an object, got {type(entry).__name__}.", fix)
        if not isinstance(entry.get("candidate"), str) or not entry["candidate"]:
            raise _entry_error(path, i, 'no "candidate" ASIN.', fix)
        target = entry.get("target", "")
        if not isinstance(target, str) or (not target and split != "test"):
            raise _entry_error(path, i, f'no "target" ASIN (only test files may omit it; split is {split}).', fix)
        caps = entry.get("captions")
        if not isinstance(caps, list) or not caps or not all(isinstance(c, str) for c in caps):
            raise _entry_error(path, i, '"captions" must be a non-empty list of strings.', fix)
    return data


def load_fashioniq(
    root: str | Path,
    *,
    images_dir: str | Path | None = None,
    categories: tuple[str, ...] | None = None,
    joiner: str = JOINER,
    prefix_category: bool = False,
    check_images: bool = True,
) -> Catalog:
    """Load a FashionIQ folder into a :class:`Catalog` (images are never opened here).

    Args:
        root: folder holding ``captions/`` and ``image_splits/``.
        images_dir: folder of ``<ASIN>.jpg`` files (default ``<root>/images``; need not exist).
        categories: load only these categories (default: every category found).
        joiner: words joining the two relative captions.
        prefix_category: put the category name first in each query text (paper A.4).
        check_images: list images without a file in ``catalog.missing_images``.
    """
    root = Path(root)
    image_dir = Path(images_dir) if images_dir is not None else root / "images"
    cap_dir, split_dir = root / CAPTIONS_DIR, root / SPLITS_DIR
    if not cap_dir.is_dir() and not split_dir.is_dir():
        raise DatasetError(
            "neither captions/ nor image_splits/ found.",
            path=str(root),
            fix="point at the FashionIQ root (the folder holding captions/ and image_splits/)",
        )
    try:
        rel_dir = str(image_dir.relative_to(root))
    except ValueError:
        rel_dir = str(image_dir.resolve())

    images: list[ImageRecord] = []
    seen: set[str] = set()
    if split_dir.is_dir():
        for path, category, split in _files(split_dir, _SPLIT_NAME, "image split", "split.dress.train.json"):
            if categories is not None and category not in categories:
                continue
            for asin in read_split_file(path):
                iid = image_id(category, asin)
                if iid in seen:
                    log.warning("%s listed twice (again in %s); kept once", asin, path.name)
                    continue
                seen.add(iid)
                images.append(
                    ImageRecord(
                        image_id=iid,
                        product_id=asin,
                        path=f"{rel_dir}/{asin}.jpg",
                        caption="",
                        category=category,
                        split=split,
                    )
                )
    else:
        log.warning("%s not found: images come from the caption files only", split_dir)

    split_of = {im.image_id: im.split for im in images}
    queries: list[ModQuery] = []
    caption_files = _files(cap_dir, _CAP_NAME, "caption", "cap.dress.train.json") if cap_dir.is_dir() else []
    for path, category, split in caption_files:
        if categories is not None and category not in categories:
            continue
        for i, entry in enumerate(read_caption_file(path, split)):
            for role in ("candidate", "target"):
                asin = entry.get(role, "")
                if asin and image_id(category, asin) not in split_of:
                    raise _entry_error(
                        path,
                        i,
                        f"{role} {asin} is not in any image_splits/split.{category}.*.json file.",
                        f"add {asin} to image_splits/split.{category}.{split}.json or delete this entry",
                    )
            target = entry.get("target", "")
            queries.append(
                ModQuery(
                    source=image_id(category, entry["candidate"]),
                    target=image_id(category, target) if target else "",
                    text=join_captions(entry["captions"], category, joiner=joiner, prefix_category=prefix_category),
                    template="",
                    split=split,
                    kind="multi",
                    category=category,
                )
            )

    catalog = Catalog(root=root, images=images, queries=queries, source_format="fashioniq")
    if check_images:
        catalog.missing_images = _missing(image_dir, images)
        if catalog.missing_images:
            log.warning(
                "%d of %d images have no <ASIN>.jpg in %s%s",
                len(catalog.missing_images),
                len(images),
                image_dir,
                "" if image_dir.is_dir() else " (the folder does not exist)",
            )
    log.info("FashionIQ %s: %d images, %d caption pairs", root, len(images), len(queries))
    return catalog


def _missing(image_dir: Path, images: list[ImageRecord]) -> list[str]:
    """Image ids whose ``<ASIN>.jpg`` is not in ``image_dir`` (one directory listing)."""
    try:
        present = set(os.listdir(image_dir))  # noqa: PTH208 - names only, no Path per image
    except OSError:
        present = set()
    return [im.image_id for im in images if f"{im.product_id}.jpg" not in present]
