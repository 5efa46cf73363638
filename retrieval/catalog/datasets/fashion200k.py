r"""Fashion200K exactly as published and as TIRG (Vo et al. 2019) reads it.

Layout: ``<root>/labels/*_{train,test}_detect_all.txt`` with lines ``path \t score \t caption``
(the split is the substring of the file name), ``<root>/test_queries.txt`` with lines
``source_path target_path``, images at ``<root>/women/<category>/<subcategory>/<id>/<id>_<k>.jpeg``.
Captions are cleaned as TIRG does; the modification text is TIRG's "replace X with Y" built from
the first differing words. Training queries are derived with TIRG's caption / parent-caption index.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

from retrieval.catalog.datasets.files import find_missing, read_text
from retrieval.catalog.records import TEST, TRAIN, Catalog, ImageRecord, ModQuery
from retrieval.errors import DatasetError

log = logging.getLogger(__name__)

LABELS_DIR = "labels"
TEST_QUERIES = "test_queries.txt"
LABEL_SPLITS = (TRAIN, "val", TEST)


def clean_caption(caption: str) -> str:
    """TIRG's ``caption_post_process``: strip, then spell out ``. ? & *``."""
    return (
        caption.strip()
        .replace(".", "dotmark")
        .replace("?", "questionmark")
        .replace("&", "andmark")
        .replace("*", "starmark")
    )


def different_word(source_caption: str, target_caption: str) -> tuple[str, str, str]:
    """TIRG's ``get_different_word``: first source word absent from the target and vice versa.

    Returns:
        ``(source_word, target_word, "replace <source_word> with <target_word>")``. As in TIRG, when
        every word is shared the last word is used.
    """
    source_words = source_caption.split()
    target_words = target_caption.split()
    source_word = target_word = ""
    for source_word in source_words:
        if source_word not in target_words:
            break
    for target_word in target_words:
        if target_word not in source_words:
            break
    return source_word, target_word, f"replace {source_word} with {target_word}"


def modification_text(source_caption: str, target_caption: str) -> str:
    """The TIRG modification text ("replace red with black") of a caption pair."""
    return different_word(source_caption, target_caption)[2]


def label_split(name: str, path: Path) -> str:
    """Split of a label file from its name (TIRG: ``split in filename``); neither -> :class:`DatasetError`."""
    found = [s for s in LABEL_SPLITS if s in name]
    if len(found) != 1:
        raise DatasetError(
            f"cannot tell the split of label file {name!r} ({'none' if not found else ' and '.join(found)} "
            "of train/test in its name).",
            path=str(path),
            fix="name label files <category>_train_detect_all.txt or <category>_test_detect_all.txt",
        )
    return found[0]


def product_and_category(image_path: str) -> tuple[str, str]:
    """``women/dresses/casual/123/123_0.jpeg`` -> ``("123", "dresses")``."""
    parts = image_path.split("/")
    product = parts[-2] if len(parts) >= 2 else parts[-1].rsplit(".", 1)[0]
    folders = parts[:-1]
    if "women" in folders:
        i = folders.index("women")
        category = folders[i + 1] if i + 1 < len(folders) else ""
    else:
        category = folders[0] if folders else ""
    return product, category


def read_label_file(path: Path, split: str) -> list[ImageRecord]:
    r"""Read one ``*_detect_all.txt`` file (``path \t score \t caption`` per line)."""
    records = []
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        cols = raw.split("\t")
        if len(cols) != 3:
            raise DatasetError(
                f"expected 3 tab-separated columns (path, detection score, caption), found {len(cols)}.",
                path=str(path),
                line=number,
                fix="write each line as <image path><TAB><score><TAB><caption> with real tab characters",
            )
        image_path, score, caption = cols[0].strip(), cols[1].strip(), cols[2]
        try:
            float(score)
        except ValueError as err:
            raise DatasetError(
                f"detection score {score!r} is not a number.",
                path=str(path),
                line=number,
                fix="the second column must be a number such as 0.83",
            ) from err
        if not image_path or image_path.startswith("/") or ".." in image_path.split("/"):
            raise DatasetError(
                f"bad image path {image_path!r}.",
                path=str(path),
                line=number,
                fix="use a path relative to the dataset root, e.g. women/dresses/x/1/1_0.jpeg",
            )
        product, category = product_and_category(image_path)
        records.append(
            ImageRecord(
                image_id=image_path,
                product_id=product,
                path=image_path,
                caption=clean_caption(caption),
                category=category,
                split=split,
            )
        )
    return records


def read_labels(root: Path, splits: tuple[str, ...] | None = None) -> list[ImageRecord]:
    """All images of ``<root>/labels`` (files in name order), optionally only some splits."""
    label_dir = root / LABELS_DIR
    if not label_dir.is_dir():
        raise DatasetError(
            "no labels/ folder.",
            path=str(root),
            fix="point at the Fashion200K root (the folder holding labels/ and women/)",
        )
    files = sorted(p for p in label_dir.iterdir() if p.is_file() and p.suffix == ".txt")
    if not files:
        raise DatasetError(
            "labels/ holds no .txt label file.",
            path=str(label_dir),
            fix="add <category>_train_detect_all.txt / <category>_test_detect_all.txt files",
        )
    images: list[ImageRecord] = []
    seen: set[str] = set()
    duplicates = 0
    for path in files:
        split = label_split(path.name, path)
        if splits is not None and split not in splits:
            continue
        for im in read_label_file(path, split):
            if im.image_id in seen:
                duplicates += 1
                continue
            seen.add(im.image_id)
            images.append(im)
        log.debug("read %s", path)
    if duplicates:
        log.warning("%d duplicate image paths in %s kept once (first occurrence)", duplicates, label_dir)
    return images


def read_test_queries(path: Path, images: list[ImageRecord]) -> list[ModQuery]:
    """Read ``test_queries.txt`` (``source target`` per line) with TIRG's modification text."""
    by_id = {im.image_id: im for im in images}
    queries = []
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        cols = raw.split()
        if len(cols) != 2:
            raise DatasetError(
                f"expected 2 space-separated image paths (source target), found {len(cols)}.",
                path=str(path),
                line=number,
                fix="write each line as <source path> <target path>",
            )
        for role, image_id in zip(("source", "target"), cols, strict=True):
            if image_id not in by_id:
                raise DatasetError(
                    f"{role} image {image_id!r} is not in any label file.",
                    path=str(path),
                    line=number,
                    fix="add the image to labels/*_test_detect_all.txt or delete this query line",
                )
        source, target = by_id[cols[0]], by_id[cols[1]]
        text = modification_text(source.caption, target.caption)
        queries.append(
            ModQuery(
                source=source.image_id,
                target=target.image_id,
                text=text,
                template=text,
                split=TEST,
                kind="single",
                category=source.category,
            )
        )
    return queries


def load_fashion200k(
    root: str | Path,
    *,
    images_dir: str | Path | None = None,
    splits: tuple[str, ...] | None = None,
    check_images: bool = True,
) -> Catalog:
    """Load a Fashion200K-layout folder into a :class:`Catalog` (images are never opened here).

    Args:
        root: folder holding ``labels/`` and ``test_queries.txt``.
        images_dir: folder the image paths are relative to (default ``root``).
        splits: load only these splits (default: every label file).
        check_images: look up each image file and list the missing ones in ``catalog.missing_images``.
    """
    root = Path(root)
    image_root = Path(images_dir) if images_dir is not None else root
    images = read_labels(root, splits)
    queries: list[ModQuery] = []
    query_file = root / TEST_QUERIES
    if query_file.is_file() and (splits is None or TEST in splits):
        queries = read_test_queries(query_file, images)
    elif not query_file.is_file():
        log.warning("%s not found: the catalog has no test queries", query_file)
    catalog = Catalog(root=image_root, images=images, queries=queries, source_format="fashion200k")
    if check_images:
        catalog.missing_images = find_missing(image_root, images)
        if catalog.missing_images:
            log.warning(
                "%d of %d image files are missing under %s", len(catalog.missing_images), len(images), image_root
            )
    log.info("Fashion200K %s: %d images, %d test queries", root, len(images), len(queries))
    return catalog


@dataclass
class CaptionIndex:
    """TIRG's ``caption_index_init_``: captions, their images, and parents (caption minus one word)."""

    images: list[ImageRecord]
    caption_images: dict[str, list[int]]
    parent_children: dict[str, list[str]]
    caption_parents: dict[str, list[str]]

    @classmethod
    def build(cls, images: list[ImageRecord]) -> CaptionIndex:
        """Index ``images`` as TIRG does (a parent with >= 2 children makes its images modifiable)."""
        caption_images: dict[str, list[int]] = {}
        for i, im in enumerate(images):
            caption_images.setdefault(im.caption, []).append(i)
        parent_children: dict[str, dict[str, None]] = {}
        for caption in caption_images:
            for word in caption.split():
                # TIRG removes the word with str.replace (every occurrence, even inside other words).
                parent = caption.replace(word, "").replace("  ", " ").strip()
                parent_children.setdefault(parent, {})[caption] = None
        children = {p: list(c) for p, c in parent_children.items()}
        caption_parents: dict[str, list[str]] = {}
        for parent, kids in children.items():
            if len(kids) >= 2:
                for caption in kids:
                    caption_parents.setdefault(caption, []).append(parent)
        return cls(images, caption_images, children, caption_parents)

    def modifiable(self) -> list[int]:
        """Indices of images that have at least one target caption."""
        return [i for i, im in enumerate(self.images) if im.caption in self.caption_parents]

    def sample(self, idx: int, rng: random.Random) -> int:
        """TIRG's ``caption_index_sample_`` for a modifiable image: a random target image index."""
        caption = self.images[idx].caption
        while True:
            parent = rng.choice(self.caption_parents[caption])
            target_caption = rng.choice(self.parent_children[parent])
            if target_caption != caption:
                break
        return rng.choice(self.caption_images[target_caption])


def derive_train_queries(
    images: list[ImageRecord],
    *,
    max_queries: int = 10000,
    seed: int = 0,
    split: str = TRAIN,
) -> list[ModQuery]:
    """Training queries as TIRG samples them: pairs of ``split`` images whose captions share a parent.

    Sources are visited in a seeded shuffled order (repeatedly) and each draws a target with TIRG's
    sampler; duplicate pairs are dropped. Stops at ``max_queries`` or after ``20 * max_queries`` draws.
    """
    pool = [im for im in images if im.split == split]
    index = CaptionIndex.build(pool)
    sources = index.modifiable()
    if not sources or max_queries <= 0:
        return []
    rng = random.Random(seed)
    order = sources[:]
    rng.shuffle(order)
    seen: set[tuple[int, int]] = set()
    queries: list[ModQuery] = []
    for draw in range(20 * max_queries):
        if len(queries) >= max_queries:
            break
        idx = order[draw % len(order)]
        target = index.sample(idx, rng)
        if (idx, target) in seen:
            continue
        seen.add((idx, target))
        source_im, target_im = pool[idx], pool[target]
        text = modification_text(source_im.caption, target_im.caption)
        queries.append(
            ModQuery(
                source=source_im.image_id,
                target=target_im.image_id,
                text=text,
                template=text,
                split=split,
                kind="single",
                category=source_im.category,
            )
        )
    log.info("derived %d %s queries from %d modifiable images", len(queries), split, len(sources))
    return queries
