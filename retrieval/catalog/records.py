"""The internal catalog: images with captions and attributes, and modification queries.

Every dataset loader (demo, Fashion200K, FashionIQ) produces a :class:`Catalog`; the engine only
ever reads this form.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TRAIN = "train"
VAL = "val"
TEST = "test"
SPLITS = (TRAIN, VAL, TEST)


@dataclass(frozen=True)
class ImageRecord:
    """One product photo.

    Attributes:
        image_id: stable id; for Fashion200K-layout data the relative image path.
        product_id: the product the photo shows (several photos may share one).
        path: path relative to the catalog root ("" when the image file is unknown).
        caption: product caption, Fashion200K style ("black linen knee-length a-line dress").
        category: leaf category or dataset category ("dress").
        split: train / val / test.
        attributes: ground-truth ``group:value`` keys when the dataset has them (demo), else ().
    """

    image_id: str
    product_id: str
    path: str
    caption: str
    category: str
    split: str
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModQuery:
    """A modification query: the candidate image, the words, and the true target.

    Attributes:
        source: candidate image id.
        target: target image id ("" when the dataset does not publish it, e.g. FashionIQ test).
        text: the modification text a model sees ("replace red with black", or natural words).
        template: the Fashion200K template text ("replace red with black"), "" if none.
        split: which split the query belongs to.
        kind: "single" (one word differs) or "multi" (several concepts at once).
        category: category of the candidate.
    """

    source: str
    target: str
    text: str
    template: str = ""
    split: str = TEST
    kind: str = "single"
    category: str = ""


@dataclass
class Catalog:
    """Images, queries and the problems met while loading them."""

    root: Path
    images: list[ImageRecord]
    queries: list[ModQuery] = field(default_factory=list)
    missing_images: list[str] = field(default_factory=list)
    unreadable_images: list[str] = field(default_factory=list)
    source_format: str = "demo"

    def __post_init__(self) -> None:
        self._by_id = {im.image_id: im for im in self.images}

    def image(self, image_id: str) -> ImageRecord:
        """Return the image with ``image_id`` (KeyError if absent)."""
        return self._by_id[image_id]

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._by_id

    def split(self, name: str) -> list[ImageRecord]:
        """Images of one split."""
        return [im for im in self.images if im.split == name]

    def image_path(self, image: ImageRecord) -> Path:
        """Absolute path of an image file."""
        return self.root / image.path

    def summary(self) -> dict[str, object]:
        """Counts a person checks first (``tailor catalog check`` prints them)."""
        attrs = Counter(a for im in self.images for a in im.attributes)
        return {
            "format": self.source_format,
            "root": str(self.root),
            "products": len({im.product_id for im in self.images}),
            "images": len(self.images),
            "captions": len({im.caption for im in self.images if im.caption}),
            "categories": dict(sorted(Counter(im.category for im in self.images).items())),
            "splits": dict(sorted(Counter(im.split for im in self.images).items())),
            "attributes": len(attrs),
            "attribute_links": sum(attrs.values()),
            "queries": len(self.queries),
            "query_kinds": dict(sorted(Counter(q.kind for q in self.queries).items())),
            "missing_images": len(self.missing_images),
            "unreadable_images": len(self.unreadable_images),
        }

    def summary_text(self) -> str:
        """The summary as indented JSON."""
        return json.dumps(self.summary(), indent=2)
