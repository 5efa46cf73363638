"""Render demo products with Pillow: taxonomy values -> drawing features -> garment -> photos.

Known group names (color, pattern, sleeve, length, neckline, details and a few aliases) map to
drawing features, as do recognisable values of other visible independent groups (a "trims: pockets"
value draws pockets); other visible groups are ignored by the drawing (they still reach captions)
and invisible groups never influence pixels. Everything is seeded per product, so images do not depend
on which worker renders them or in which order.
"""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from retrieval.catalog.demo.hard import HardProfile, harden_photo
from retrieval.catalog.demo.photo import compose_photo
from retrieval.catalog.demo.silhouettes import Features, Garment, spec_of, supports_detail
from retrieval.catalog.demo.textures import color_rgb, make_palette, make_texture, shade, stable_int, texture_kind
from retrieval.catalog.demo.trims import dress_garment
from retrieval.catalog.taxonomy import Taxonomy

GARMENT_SIZE = 320
IMAGE_SIZE = 224
GROUP_ALIASES = {
    "color": "color",
    "colour": "color",
    "colors": "color",
    "pattern": "pattern",
    "print": "pattern",
    "sleeve": "sleeve",
    "sleeves": "sleeve",
    "sleeve-length": "sleeve",
    "length": "length",
    "garment-length": "length",
    "hem-length": "length",
    "neckline": "neckline",
    "neck": "neckline",
    "collar": "neckline",
    "details": "details",
    "detail": "details",
    "features": "details",
    "trims": "details",
    "hemline": "length",
    "hem": "length",
    "motif": "pattern",
}
_DETAIL_WORDS = (
    ("pockets", ("pocket",)),
    ("belt", ("belt", "sash", "waist-tie")),
    ("hood", ("hood",)),
    ("buttons", ("button",)),
    ("ruffles", ("ruffle", "frill", "flounce")),
    ("zip", ("zip",)),
)
_NECK_WORDS = (
    ("off", ("off", "shoulder", "bardot", "strapless")),
    ("turtle", ("turtle", "mock", "high", "roll", "funnel")),
    ("collar", ("collar", "polo", "shirt")),
    ("v", ("v-", "vneck", "plung", "deep")),
    ("crew", ("crew", "round", "scoop", "boat")),
)


def feature_group(group: str) -> str | None:
    """The drawing feature of a group name ("colour" -> "color"), None for groups the drawing ignores."""
    return GROUP_ALIASES.get(group.lower().replace("_", "-").replace(" ", "-"))


def detail_feature(value: str) -> str | None:
    """The drawn detail of a details value ("with-pockets" -> "pockets"), None if not drawable."""
    for name, words in _DETAIL_WORDS:
        if any(w in value for w in words):
            return name
    return None


def _ordinal(value: str, values: Sequence[str]) -> float:
    return values.index(value) / max(1, len(values) - 1) if value in values else 0.5


def sleeve_feature(value: str, values: Sequence[str]) -> float:
    """-1 sleeveless, 0 short ... 1 long; unknown names by their position in the taxonomy list."""
    if "less" in value or "strap" in value or value.startswith("no-"):
        return -1.0
    for words, f in ((("three", "3/4", "elbow", "half"), 0.55), (("short", "cap"), 0.0), (("long", "full"), 1.0)):
        if any(w in value for w in words):
            return f
    return 0.1 + 0.9 * _ordinal(value, values)


def length_feature(value: str, values: Sequence[str]) -> float:
    """0 mini ... 1 maxi; unknown names by their position in the taxonomy list."""
    for words, f in (
        (("mini", "short", "crop"), 0.0),
        (("knee",), 0.33),
        (("midi", "mid", "calf", "tea"), 0.67),
        (("maxi", "floor", "ankle", "long", "full"), 1.0),
    ):
        if any(w in value for w in words):
            return f
    return _ordinal(value, values)


def neck_feature(value: str) -> str:
    """The drawn neckline of a neckline value (crew when unknown)."""
    if value.startswith("v"):
        return "v"
    for name, words in _NECK_WORDS:
        if any(w in value for w in words):
            return name
    return "crew"


def drawable(silhouette: str, group: str, value: str) -> bool:
    """False only for values the renderer knows it cannot show on this silhouette (a hood on trousers)."""
    if feature_group(group) not in (None, "details"):
        return True
    det = detail_feature(value)
    return det is None or supports_detail(silhouette, det)


def features_for(taxonomy: Taxonomy, category: str, values: Sequence[tuple[str, str]]) -> Features:
    """Map a product's ``(group, value)`` pairs to drawing features (invisible and unknown groups ignored)."""
    color: tuple | None = (128, 128, 128)
    pattern, sleeve, length, neck, details = "solid", None, None, None, set()
    for group, value in values:
        spec = taxonomy.groups[group]
        feat = feature_group(group) if spec.visible else None
        options = list(spec.values)
        if feat == "color":
            color = color_rgb(value, spec.values.get(value, ()))
        elif feat == "pattern":
            pattern = texture_kind(value)
        elif feat == "sleeve":
            sleeve = sleeve_feature(value, options)
        elif feat == "length":
            length = length_feature(value, options)
        elif feat == "neckline":
            neck = neck_feature(value)
        elif (feat == "details" or (feat is None and spec.visible and not spec.exclusive)) and (
            detail := detail_feature(value)
        ):
            details.add(detail)
    return Features(
        silhouette=taxonomy.categories[category].silhouette,
        color=color,
        pattern=pattern,
        sleeve=sleeve,
        length=length,
        neckline=neck,
        details=frozenset(details),
    )


@functools.cache
def _gradient(size: int) -> Image.Image:
    return Image.linear_gradient("L").resize((size, size))


def _shading(size: int, bbox: tuple[int, int, int, int] | None, rng: random.Random) -> Image.Image:
    """Soft light falloff plus a few folds, drawn small and scaled up (a cheap blur)."""
    small = 64
    grad = _gradient(small).rotate(rng.uniform(0, 360))
    lo, hi = rng.uniform(185, 225), rng.uniform(240, 255)
    img = grad.point(lambda v: int(lo + (hi - lo) * v / 255))
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = (c * small // size for c in bbox) if bbox else (0, 0, small, small)
    for _ in range(rng.randint(2, 5)):
        x = rng.uniform(x0, x1)
        draw.line(
            (x, rng.uniform(y0, (y0 + y1) / 2), x + rng.uniform(-6, 6), y1),
            fill=int(lo * 0.88),
            width=rng.randint(1, 2),
        )
    return img.filter(ImageFilter.BoxBlur(1.5)).resize((size, size), Image.Resampling.BICUBIC)


def render_garment(feat: Features, design_seed: int, product_seed: int, size: int = GARMENT_SIZE) -> Image.Image:
    """The garment alone as RGBA on a transparent ``size`` x ``size`` canvas."""
    garment = Garment(feat, random.Random(design_seed), size)
    dress_garment(garment)
    prod = random.Random(product_seed)
    palette = make_palette(feat.color, prod, random.Random(design_seed ^ 0x9A1E77E))
    rgb = make_texture(feat.pattern, size, palette, random.Random(design_seed ^ 0x7E47), garment.anchor)
    garment.paint(ImageDraw.Draw(rgb), palette)
    alpha = garment.mask
    shaded = Image.new("RGB", (size, size), 0)
    shaded.paste(rgb, mask=_shading(size, alpha.getbbox(), prod))  # = rgb * light / 255
    edge = alpha.filter(ImageFilter.FIND_EDGES).point(lambda v: v * 2 // 3)
    shaded.paste(shade(palette.base, 0.45), mask=edge)
    shaded.putalpha(alpha)
    return shaded


@dataclass(frozen=True)
class RenderJob:
    """Everything a worker needs to write one product's photos (picklable, no taxonomy)."""

    features: Features
    design_seed: int
    product_seed: int
    paths: tuple[str, ...]
    profile: HardProfile | None = None


def render_job(job: RenderJob, root: Path) -> int:
    """Render and write the job's JPEG photos under ``root``; returns the number written."""
    garment = render_garment(job.features, job.design_seed, job.product_seed)
    kind = spec_of(job.features.silhouette).kind
    (root / job.paths[0]).parent.mkdir(parents=True, exist_ok=True)
    for k, rel in enumerate(job.paths):
        seed = stable_int(job.product_seed, "photo", k)
        rng = random.Random(seed)
        photo = compose_photo(garment, rng, seed, IMAGE_SIZE, first=k == 0, hanger=kind in ("top", "dress"))
        if job.profile is not None:
            photo = harden_photo(photo, random.Random(stable_int(seed, "hard")), job.profile)
        quality = rng.randint(*job.profile.jpeg) if job.profile is not None else rng.randint(55, 95)
        if rng.random() < 0.15:  # re-encoded listing photo: double JPEG compression
            buf = io.BytesIO()
            photo.save(buf, "JPEG", quality=rng.randint(35, 60))
            buf.seek(0)
            photo = Image.open(buf).convert("RGB")
        photo.save(root / rel, "JPEG", quality=quality)
    return len(job.paths)
