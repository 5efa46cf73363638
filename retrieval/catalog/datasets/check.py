"""``tailor catalog check``: load a catalog with its loader, optionally open every image, report it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tqdm import tqdm

from retrieval.catalog.datasets import load_catalog
from retrieval.catalog.records import Catalog
from retrieval.errors import DatasetError

log = logging.getLogger(__name__)


def verify_images(catalog: Catalog, *, progress: bool = True) -> list[tuple[str, str]]:
    """Open every present image with Pillow; record and return ``(path, reason)`` for unreadable ones."""
    from PIL import Image, UnidentifiedImageError  # heavy: Pillow, only to open every image (--verify-images)

    missing = set(catalog.missing_images)
    bad: list[tuple[str, str]] = []
    todo = [im for im in catalog.images if im.image_id not in missing]
    for im in tqdm(todo, desc="opening images", unit="img", disable=not progress):
        path = catalog.image_path(im)
        try:
            with Image.open(path) as img:
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
            bad.append((str(path), str(err) or type(err).__name__))
            catalog.unreadable_images.append(im.image_id)
    return bad


def check_catalog(
    path: str | Path,
    *,
    format: str = "auto",
    images_dir: str | Path | None = None,
    verify: bool = False,
) -> Catalog:
    """Load a catalog as ``tailor catalog check`` does; with ``verify`` also open every image.

    Raises:
        DatasetError: malformed input, or (with ``verify``) an image Pillow cannot read.
    """
    kw: dict[str, Any] = {}
    if images_dir is not None:
        kw["images_dir"] = images_dir
    catalog = load_catalog(path, format=format, **kw)
    if verify:
        bad = verify_images(catalog)
        if bad:
            first, reason = bad[0]
            raise DatasetError(
                f"{len(bad)} image file(s) cannot be read by Pillow; first: {reason}.",
                path=first,
                fix="replace or delete the broken files (re-download or re-export them as JPEG/PNG)",
            )
    return catalog


def report_text(catalog: Catalog, *, examples: int = 5) -> str:
    """The summary plus a few examples of missing / unreadable files, as ``tailor catalog check`` prints it."""
    lines = [catalog.summary_text()]
    for label, ids in (("missing", catalog.missing_images), ("unreadable", catalog.unreadable_images)):
        if not ids:
            continue
        lines.append(f"{len(ids)} {label} image file(s), e.g.:")
        for image_id in ids[:examples]:
            im = catalog.image(image_id) if image_id in catalog else None
            lines.append(f"  {catalog.image_path(im) if im and im.path else image_id}")
    return "\n".join(lines)
