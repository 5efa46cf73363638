"""How a published dataset becomes a training catalog: :class:`DatasetOptions` (``dataset.json`` beside a
model) and :func:`load_dataset`, which training and every later reload of the catalog go through.

Fashion200K: training queries are derived from the train labels (TIRG's sampler: a random candidate, a
target whose caption differs by one word) and every query's text is the target's caption (A.4) or TIRG's
"replace X with Y". FashionIQ: the two captions joined with " and it ", the category first (A.4), and the
``val`` split evaluated as the test split (the published protocol; test targets are not published).
Images without a usable file are dropped with the queries naming them (:func:`without_images`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from retrieval.catalog.datasets import detect_format, load_catalog
from retrieval.catalog.datasets.fashion200k import derive_train_queries, modification_text
from retrieval.catalog.records import TEST, TRAIN, VAL, Catalog
from retrieval.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

OPTIONS_FILE = "dataset.json"
RELATIVE_CAPTIONS = ("target", "replace")
FORMATS = ("auto", "demo", "fashion200k", "fashioniq")


@dataclass(frozen=True)
class DatasetOptions:
    """How a catalog folder is read for training and evaluation (saved as ``dataset.json``).

    Attributes:
        format: "auto" (detect), "demo", "fashion200k" or "fashioniq".
        images_dir: image folder ("" = the layout's default: the root, FashionIQ ``<root>/images``).
        relative_caption: Fashion200K query text: "target" (the target's caption, A.4) or "replace"
            (TIRG's "replace X with Y").
        train_queries: Fashion200K training queries to derive (0 = one per modifiable train image).
        seed: seed of the derived queries.
        prefix_category: FashionIQ: the category name is the first word of each query (A.4).
        eval_split: FashionIQ: the split evaluated as test ("val": the published protocol; "test" only
            with test caption files that name targets).
    """

    format: str = "auto"
    images_dir: str = ""
    relative_caption: str = "target"
    train_queries: int = 0
    seed: int = 0
    prefix_category: bool = True
    eval_split: str = VAL

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"DatasetOptions.format {self.format!r} is unknown.", fix=f"use one of {FORMATS}")
        if self.relative_caption not in RELATIVE_CAPTIONS:
            raise ConfigError(
                f"DatasetOptions.relative_caption {self.relative_caption!r} is unknown.",
                fix=f"use one of {RELATIVE_CAPTIONS}",
            )
        if self.train_queries < 0:
            raise ConfigError("DatasetOptions.train_queries must be >= 0.", fix="use 0 (one per image) or N > 0")
        if self.eval_split not in (VAL, TEST):
            raise ConfigError(f"DatasetOptions.eval_split {self.eval_split!r} is unknown.", fix="use val or test")


def relative_text(source_caption: str, target_caption: str, mode: str) -> str:
    """A Fashion200K query text: the target's caption ("target", A.4) or "replace X with Y" (TIRG)."""
    return target_caption if mode == "target" else modification_text(source_caption, target_caption)


def load_dataset(path: str | Path, options: DatasetOptions | None = None, *, check_images: bool = True) -> Catalog:
    """Load a catalog folder as ``options`` say: queries derived and worded for training and evaluation.

    Raises:
        DatasetError: malformed files, or a folder whose layout cannot be told.
    """
    opts = options or DatasetOptions()
    fmt = detect_format(path) if opts.format == "auto" else opts.format
    kw: dict[str, object] = {"check_images": check_images}
    if opts.images_dir:
        kw["images_dir"] = opts.images_dir
    if fmt == "fashioniq":
        kw["prefix_category"] = opts.prefix_category
    catalog = load_catalog(path, fmt, **kw)
    if fmt == "fashion200k":
        catalog = _fashion200k_queries(catalog, opts)
    elif fmt == "fashioniq" and opts.eval_split == VAL:
        catalog = _val_as_test(catalog)
    return catalog


def _fashion200k_queries(catalog: Catalog, opts: DatasetOptions) -> Catalog:
    """Derived training queries plus ``test_queries.txt``, worded by ``opts.relative_caption``."""
    n_train = sum(1 for im in catalog.images if im.split == TRAIN)
    derived = derive_train_queries(catalog.images, max_queries=opts.train_queries or n_train, seed=opts.seed)
    queries = []
    for q in [*derived, *catalog.queries]:
        text = relative_text(catalog.image(q.source).caption, catalog.image(q.target).caption, opts.relative_caption)
        queries.append(dataclasses.replace(q, text=text))
    log.info(
        "Fashion200K: %d derived train queries, %d test queries (%s text)",
        len(derived),
        len(catalog.queries),
        opts.relative_caption,
    )
    return dataclasses.replace(catalog, queries=queries)


def _val_as_test(catalog: Catalog) -> Catalog:
    """FashionIQ's published protocol: the val images and queries become the evaluated (test) split."""
    if any(q.split == TEST and q.target for q in catalog.queries):
        log.warning("FashionIQ test captions with targets are ignored: val is evaluated (eval_split=val)")
    images = [
        im if im.split != VAL else dataclasses.replace(im, split=TEST) for im in catalog.images if im.split != TEST
    ]
    keep = {im.image_id for im in images}
    queries = [
        q if q.split != VAL else dataclasses.replace(q, split=TEST)
        for q in catalog.queries
        if q.split != TEST and q.source in keep
    ]
    return dataclasses.replace(
        catalog,
        images=images,
        queries=queries,
        missing_images=[i for i in catalog.missing_images if i in keep],
    )


def without_images(catalog: Catalog, drop: set[str]) -> tuple[Catalog, int]:
    """``catalog`` without the images ``drop`` and the queries naming one; also how many queries went."""
    if not drop:
        return catalog, 0
    images = [im for im in catalog.images if im.image_id not in drop]
    queries = [q for q in catalog.queries if q.source not in drop and q.target not in drop]
    if not images:
        raise DatasetError(
            f"none of the {len(catalog.images)} images has a readable file.",
            path=str(catalog.root),
            fix="put the image files where the layout expects them, or name their folder with --images",
        )
    return dataclasses.replace(catalog, images=images, queries=queries), len(catalog.queries) - len(queries)


def reload_catalog(path: str | Path, dataset: DatasetOptions, skipped_ids: list[str]) -> Catalog:
    """The catalog a model was trained on: loaded as ``dataset`` says, the skipped images dropped again."""
    catalog = load_dataset(path, dataset, check_images=False)
    return without_images(catalog, set(skipped_ids))[0]
