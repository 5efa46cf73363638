"""The ``hard`` profile of the demo catalog: photos, colours, descriptions and captions as messy as real ones.

``tailor catalog demo --profile hard`` keeps the default generator (families, rendering, queries) and
adds, all seeded per product or per query:

* photos (:func:`harden_photo`): zoom out / tight crops, rotation, colour casts, background clutter,
  an extra occluder, low resolution and heavy JPEG;
* colours (:func:`fuzzy_color`): a product's shade is mixed towards a neighbouring named colour
  (navy / blue / teal, beige / white, ...), up to half way, so names blur at their boundaries;
  more multicolour designs;
* families: mostly near-duplicates that differ from their base in one attribute, invisible groups
  (material, fit and :data:`OCCASION`) changed as often as visible ones;
* descriptions (:func:`omit_words`): the label caption drops attribute words, as Fashion200K's do;
* relative captions (:func:`human_text`): partial (a two-change query names one), FashionIQ-style
  ("is darker and has no sleeves"), typos.

:data:`HARD` is the profile ``tailor catalog demo --profile hard`` uses (calibration in the README).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFilter, ImageStat

from retrieval.catalog.demo.photo import occlude
from retrieval.catalog.demo.textures import COLORS, RGB, VIVID, luminance

#: A third invisible group of the hard profile's taxonomy (added to ``meta/taxonomy.yml``).
OCCASION: dict = {
    "relation": "exclusive",
    "visible": False,
    "values": {
        "casual": ["everyday", "weekend"],
        "office": ["work", "business"],
        "party": ["evening", "cocktail"],
        "sport": ["athletic", "gym"],
    },
}
#: Named colours next to each other: a shade can drift from one towards the other.
NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "navy": ("blue", "black", "purple", "teal"),
    "blue": ("navy", "teal", "purple"),
    "black": ("navy", "gray", "brown"),
    "white": ("beige", "gray", "cream"),
    "beige": ("white", "brown", "cream"),
    "gray": ("white", "black", "beige"),
    "red": ("pink", "orange", "burgundy"),
    "pink": ("red", "purple", "white"),
    "orange": ("red", "yellow", "brown"),
    "yellow": ("orange", "beige", "green"),
    "green": ("teal", "olive", "blue"),
    "purple": ("navy", "pink", "blue"),
    "brown": ("beige", "orange", "black"),
}


@dataclass(frozen=True)
class HardProfile:
    """How much harder than the default demo catalog (saved in ``meta/generator.json``).

    Attributes:
        name: profile name.
        zoom: garment scale range of a photo (> 1 crops the garment, < 1 shows more backdrop).
        rotation: largest rotation of a photo, degrees.
        cast: largest per-channel colour-cast gain deviation (white balance).
        exposure: largest brightness deviation.
        clutter: probability of background clutter (shapes behind and beside the garment).
        occlusion: probability of an extra occluder.
        low_res: probability of a low-resolution photo (downscaled to ``low_res_side``, scaled back).
        low_res_side: smallest and largest side of the low-resolution version.
        jpeg: JPEG quality range.
        shade_mix: largest mix of a product's colour towards a neighbouring named colour.
        multicolor: share of designs drawn multicolour.
        variant_kinds: share of family members that are exact duplicates / differ in one / two attributes.
        invisible_weight: weight of an invisible group when a variant changes one attribute (visible: 1).
        omit: probability that a description leaves out each attribute word (the category stays).
        partial: probability that a two-change caption names only one change.
        fashioniq: probability of FashionIQ-style wording ("is darker and has no sleeves").
        relative_color: probability that a colour change is said as "is darker" / "is lighter" alone.
        typo: probability of a typo in each word of four letters or more.
        extra_groups: attribute groups added to the taxonomy (name -> taxonomy YAML mapping).
    """

    name: str = "hard"
    zoom: tuple[float, float] = (0.6, 1.35)
    rotation: float = 20.0
    cast: float = 0.18
    exposure: float = 0.3
    clutter: float = 0.7
    occlusion: float = 0.45
    low_res: float = 0.6
    low_res_side: tuple[int, int] = (48, 112)
    jpeg: tuple[int, int] = (15, 50)
    shade_mix: float = 0.5
    multicolor: float = 0.1
    variant_kinds: dict[str, float] = field(default_factory=lambda: {"duplicate": 0.02, "one": 0.83, "two": 0.15})
    invisible_weight: float = 1.0
    omit: float = 0.3
    partial: float = 0.5
    fashioniq: float = 0.5
    relative_color: float = 0.3
    typo: float = 0.08
    extra_groups: dict[str, dict] = field(default_factory=lambda: {"occasion": OCCASION})


HARD = HardProfile()
PROFILES: dict[str, HardProfile | None] = {"default": None, "hard": HARD}


# -- colours ---------------------------------------------------------------------------------------
def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def fuzzy_color(value: str, rgb: RGB | None, rng: random.Random, profile: HardProfile) -> RGB | None:
    """``rgb`` (the named colour ``value``) mixed up to ``shade_mix`` towards a random neighbouring name."""
    near = NEIGHBOURS.get(value)
    if rgb is None or not near:
        return rgb
    other = COLORS[rng.choice(near)]
    return _mix(rgb, other, rng.uniform(0.0, profile.shade_mix))


# -- photos ----------------------------------------------------------------------------------------
def _clutter(img: Image.Image, rng: random.Random) -> None:
    """Shapes of other objects around the edges of the frame (shelves, boxes, plants, a chair)."""
    size = img.width
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 8)):
        col = tuple(int(c * rng.uniform(0.5, 1.0)) for c in rng.choice(VIVID))
        side = rng.randrange(4)
        a = rng.uniform(0, size)
        b = rng.uniform(0, size * 0.22)
        x, y = (a, b) if side == 0 else (a, size - b) if side == 1 else (b, a) if side == 2 else (size - b, a)
        w, h = rng.uniform(10, 60), rng.uniform(10, 60)
        if rng.random() < 0.5:
            draw.rectangle((x - w / 2, y - h / 2, x + w / 2, y + h / 2), fill=col)
        elif rng.random() < 0.5:
            draw.ellipse((x - w / 2, y - h / 2, x + w / 2, y + h / 2), fill=col)
        else:
            draw.line((x, y, x + rng.uniform(-80, 80), y + rng.uniform(-80, 80)), fill=col, width=rng.randint(2, 7))


def _mean(img: Image.Image) -> RGB:
    r, g, b = (int(v) for v in ImageStat.Stat(img).mean[:3])
    return (r, g, b)


def _zoom(img: Image.Image, rng: random.Random, profile: HardProfile) -> Image.Image:
    size = img.width
    s = rng.uniform(*profile.zoom)
    if s >= 1.0:  # tight crop: part of the garment leaves the frame
        side = size / s
        x, y = rng.uniform(0, size - side), rng.uniform(0, size - side)
        return img.crop((round(x), round(y), round(x + side), round(y + side))).resize((size, size))
    small = img.resize((max(1, round(size * s)), max(1, round(size * s))))
    canvas = Image.new("RGB", (size, size), _mean(img))
    canvas.paste(small, (rng.randint(0, size - small.width), rng.randint(0, size - small.height)))
    return canvas


def _cast(img: Image.Image, rng: random.Random, profile: HardProfile) -> Image.Image:
    exposure = 1.0 + rng.uniform(-profile.exposure, profile.exposure)
    lut: list[int] = []
    for _ in range(3):
        gain = exposure * (1.0 + rng.uniform(-profile.cast, profile.cast))
        lut += [min(255, max(0, int(v * gain))) for v in range(256)]
    return img.point(lut)


def harden_photo(photo: Image.Image, rng: random.Random, profile: HardProfile) -> Image.Image:
    """The default photo with the profile's clutter, occlusion, zoom / crop, rotation, cast and low resolution."""
    size = photo.width
    img = _zoom(photo, rng, profile)
    if rng.random() < profile.clutter:
        _clutter(img, rng)
    if rng.random() < profile.occlusion:
        m = size * 0.18
        occlude(img, rng, (round(m), round(m), round(size - m), round(size - m)))
    angle = rng.uniform(-profile.rotation, profile.rotation)
    img = img.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=_mean(img))
    img = _cast(img, rng, profile)
    if rng.random() < profile.low_res:
        side = rng.randint(*profile.low_res_side)
        img = img.resize((side, side), Image.Resampling.BILINEAR).resize((size, size), Image.Resampling.BICUBIC)
    elif rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 1.8)))
    return img


# -- words -----------------------------------------------------------------------------------------
def typo(word: str, rng: random.Random) -> str:
    """``word`` with one slip: two letters swapped, one dropped or one doubled."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def add_typos(text: str, rng: random.Random, p: float) -> str:
    """Each alphabetic word of four letters or more gets a typo with probability ``p``."""
    words = text.split(" ")
    return " ".join(typo(w, rng) if len(w) >= 4 and w.isalpha() and rng.random() < p else w for w in words)


def omit_words(caption: str, rng: random.Random, p: float) -> str:
    """The caption without some attribute words (each with probability ``p``); the last word (category) stays."""
    words = caption.split()
    kept = [w for w in words[:-1] if rng.random() >= p]
    return " ".join([*kept, words[-1]])


def fashioniq_phrase(adj: list[str], pp: list[str], verb: list[str], rng: random.Random) -> str:
    """One change in FashionIQ's wording: "is black", "has no sleeves", "is made of linen"."""
    out = [f"is {a}" for a in adj]
    for p in pp:
        if p.startswith(("with no ", "without the ")):
            out.append("has no " + p.split(" ", 2)[2])
        elif p.startswith("with "):
            out.append("has " + p[5:])
        elif p.startswith(("in ", "made of ")):
            out.append("is " + p)
    for v in verb:
        head, _, rest = v.partition(" ")
        if head == "add":
            out.append(f"has {rest}")
        elif head in ("remove", "take"):
            out.append("has no " + rest.removeprefix("off ").removeprefix("the "))
    return rng.choice(out) if out else ""


def relative_color(old: RGB | None, new: RGB | None) -> str:
    """The words "is darker" / "is lighter" when the new colour's brightness differs clearly, else ""."""
    if old is None or new is None:
        return ""
    d = luminance(new) - luminance(old)
    return "is darker" if d < -40 else "is lighter" if d > 40 else ""


def human_text(
    changes: list[Any],
    forms: Callable[[Any], tuple[list[str], list[str], list[str]]],
    default: Callable[[tuple[Any, ...]], str],
    color_of: Callable[[str, str], RGB | None],
    rng: random.Random,
    profile: HardProfile,
) -> str:
    """A shopper's relative caption for ``changes`` (:class:`~retrieval.catalog.demo.queries.Change` s).

    Args:
        changes: the query's changes.
        forms: a change -> its adjective, prepositional and verb forms (``queries._forms``).
        default: changes -> the default natural text (``queries.natural_text``).
        color_of: (group, value) -> the value's RGB for a colour group, else None.
        rng: the query's random source.
        profile: the hard profile.
    """
    said = list(changes)
    if len(said) > 1 and rng.random() < profile.partial:
        said = [rng.choice(said)]
    if rng.random() < profile.fashioniq:
        parts = []
        for c in said:
            rel = relative_color(color_of(c.group, c.old), color_of(c.group, c.new)) if c.old and c.new else ""
            if rel and rng.random() < profile.relative_color:
                parts.append(rel)
                continue
            phrase = fashioniq_phrase(*forms(c), rng)
            if phrase:
                parts.append(phrase)
        text = " and ".join(parts) if parts else default(tuple(said))
    else:
        text = default(tuple(said))
    return add_typos(text, rng, profile.typo)
