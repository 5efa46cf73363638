"""Colours and fabric textures of the demo renderer.

Colour values of any taxonomy become an RGB (our table, then Pillow's CSS colour names, then a
stable hash); pattern values become one of the texture painters below (known names and common
substrings first, a hashed geometric texture for anything else).
"""

from __future__ import annotations

import colorsys
import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageColor, ImageDraw

RGB = tuple[int, int, int]

COLORS: dict[str, RGB] = {
    "black": (28, 28, 32),
    "white": (240, 238, 232),
    "gray": (130, 130, 136),
    "grey": (130, 130, 136),
    "red": (188, 28, 38),
    "pink": (236, 128, 170),
    "orange": (236, 118, 36),
    "yellow": (238, 202, 48),
    "green": (58, 128, 66),
    "blue": (46, 108, 204),
    "navy": (26, 36, 84),
    "purple": (118, 58, 150),
    "brown": (116, 72, 42),
    "beige": (214, 194, 158),
    "cream": (244, 234, 206),
    "khaki": (176, 160, 110),
    "olive": (108, 112, 48),
    "teal": (24, 124, 128),
    "burgundy": (112, 20, 40),
    "gold": (212, 170, 60),
    "silver": (190, 192, 198),
    "ivory": (246, 242, 226),
    "tan": (196, 156, 112),
    "coral": (244, 120, 100),
    "mint": (160, 220, 190),
    "lilac": (196, 160, 214),
    "camel": (192, 146, 88),
    "charcoal": (60, 62, 66),
}
MULTI_WORDS = ("multi", "rainbow", "colorful", "colourful")
VIVID: tuple[RGB, ...] = (
    (220, 40, 50),
    (245, 190, 40),
    (40, 150, 80),
    (40, 110, 210),
    (240, 120, 30),
    (150, 60, 170),
    (240, 110, 170),
    (30, 180, 190),
    (250, 240, 220),
    (30, 30, 40),
)
FLOWERS: tuple[RGB, ...] = ((250, 250, 245), (240, 120, 160), (250, 210, 60), (200, 40, 60), (120, 150, 230))
LEAF: RGB = (70, 140, 70)


def stable_int(*parts: object) -> int:
    """A process-independent hash of ``parts`` (Python's ``hash`` is salted per process)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def color_rgb(name: str, synonyms: Sequence[str] = ()) -> RGB | None:
    """RGB of a colour value, None for multicolour. Unknown names get a stable hashed colour."""
    if any(w in name for w in MULTI_WORDS):
        return None
    for cand in (name, *synonyms):
        key = cand.replace("-", "").replace(" ", "").lower()
        if key in COLORS:
            return COLORS[key]
        try:
            rgb = ImageColor.getrgb(key)
        except ValueError:
            continue
        return (rgb[0], rgb[1], rgb[2])
    h = stable_int("color", name)
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360, 0.45 + (h >> 9) % 40 / 100, 0.45 + (h >> 17) % 45 / 100)
    return int(r * 255), int(g * 255), int(b * 255)


def jitter(rgb: RGB, rng: random.Random, amount: float = 1.0) -> RGB:
    """Perturb hue / saturation / value a little (a product's exact shade)."""
    h, s, v = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    h = (h + rng.uniform(-0.025, 0.025) * amount) % 1.0
    s = min(1.0, max(0.0, s * rng.uniform(0.85, 1.12) ** amount))
    v = min(1.0, max(0.0, v * rng.uniform(0.88, 1.1) ** amount + rng.uniform(-0.02, 0.04) * amount))
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


def shade(rgb: RGB, factor: float) -> RGB:
    """Darker (<1) or lighter (>1) version of ``rgb``."""
    if factor <= 1:
        return tuple(int(c * factor) for c in rgb)  # type: ignore[return-value]
    return tuple(int(c + (255 - c) * (factor - 1)) for c in rgb)  # type: ignore[return-value]


def luminance(rgb: RGB) -> float:
    """Perceived brightness in [0, 255]."""
    return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]


def contrast(rgb: RGB, rng: random.Random) -> RGB:
    """A colour that stands out on ``rgb`` (light on dark, dark on light)."""
    if luminance(rgb) < 110:
        return rng.choice(((240, 238, 230), (250, 220, 120), (230, 200, 210), (200, 220, 240)))
    return rng.choice(
        ((30, 30, 36), (26, 36, 84), (90, 30, 30), (250, 250, 248) if luminance(rgb) < 180 else (40, 40, 40))
    )


@dataclass(frozen=True)
class Palette:
    """Colours of one garment: the dominant ``base`` and the pattern's ``accents``."""

    base: RGB
    accents: tuple[RGB, ...]
    multicolor: bool = False


def make_palette(rgb: RGB | None, rng: random.Random, design: random.Random) -> Palette:
    """The product's palette: accents chosen per design (a family shares them), shades jittered per product.

    Multicolour garments draw several vivid colours from ``design``.
    """
    if rgb is None:
        picks = design.sample(VIVID, 4)
        return Palette(
            base=jitter(picks[0], rng), accents=tuple(jitter(c, rng, 0.5) for c in picks[1:]), multicolor=True
        )
    base = jitter(rgb, rng)
    first, second = contrast(rgb, design), contrast(rgb, design)
    return Palette(base=base, accents=(first, jitter(second, rng, 0.5)))


# -- texture painters: (draw, size, palette, rng, anchor) -> None, base already filled -----------------
Painter = Callable[[Image.Image, int, Palette, random.Random, tuple[float, float]], None]


def _solid(img: Image.Image, size: int, pal: Palette, rng: random.Random, anchor: tuple[float, float]) -> None:
    if not pal.multicolor:
        return
    draw = ImageDraw.Draw(img)
    cols = (pal.base, *pal.accents)
    n = rng.randint(3, 4)
    if rng.random() < 0.5:
        for i in range(n):
            draw.rectangle((0, i * size // n, size, (i + 1) * size // n), fill=cols[i % len(cols)])
    else:
        for i in range(n):
            draw.polygon(
                [
                    (i * size // n - size // 3, size),
                    ((i + 1) * size // n - size // 3, size),
                    ((i + 1) * size // n + size // 3, 0),
                    (i * size // n + size // 3, 0),
                ],
                fill=cols[i % len(cols)],
            )


def _stripes(img: Image.Image, size: int, pal: Palette, rng: random.Random, anchor: tuple[float, float]) -> None:
    draw = ImageDraw.Draw(img)
    period = rng.randint(12, 30)
    width = max(3, int(period * rng.uniform(0.3, 0.55)))
    orient = rng.choices(("h", "v", "d"), weights=(0.45, 0.35, 0.2))[0]
    cols = pal.accents if not pal.multicolor else (*pal.accents, pal.base)
    for i, off in enumerate(range(-size, 2 * size, period)):
        col = cols[i % len(cols)] if pal.multicolor else cols[0]
        if orient == "h" and 0 <= off < size + period:
            draw.rectangle((0, off, size, off + width), fill=col)
        elif orient == "v" and 0 <= off < size + period:
            draw.rectangle((off, 0, off + width, size), fill=col)
        elif orient == "d":
            draw.polygon([(off, 0), (off + width, 0), (off + width - size, size), (off - size, size)], fill=col)


def _dots(img: Image.Image, size: int, pal: Palette, rng: random.Random, anchor: tuple[float, float]) -> None:
    draw = ImageDraw.Draw(img)
    step = rng.randint(16, 32)
    rad = step * rng.uniform(0.17, 0.3)
    for row, y in enumerate(range(0, size + step, step)):
        shift = step / 2 if row % 2 else 0
        for col, x in enumerate(range(0, size + step, step)):
            c = pal.accents[(row + col) % len(pal.accents)] if pal.multicolor else pal.accents[0]
            draw.ellipse((x + shift - rad, y - rad, x + shift + rad, y + rad), fill=c)


def _plaid(img: Image.Image, size: int, pal: Palette, rng: random.Random, anchor: tuple[float, float]) -> None:
    over = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(over)
    period = rng.randint(30, 60)
    band = int(period * rng.uniform(0.3, 0.45))
    c1, c2 = pal.accents[0], pal.accents[-1]
    for off in range(rng.randint(0, period), size, period):
        draw.rectangle((0, off, size, off + band), fill=(*c1, 120))
        draw.rectangle((off, 0, off + band, size), fill=(*c1, 120))
        draw.line((0, off + band + 5, size, off + band + 5), fill=(*c2, 190), width=2)
        draw.line((off + band + 5, 0, off + band + 5, size), fill=(*c2, 190), width=2)
    img.paste(Image.alpha_composite(img.convert("RGBA"), over).convert("RGB"))


def _floral(img: Image.Image, size: int, pal: Palette, rng: random.Random, anchor: tuple[float, float]) -> None:
    draw = ImageDraw.Draw(img)
    step = rng.randint(30, 50)
    petal = step * rng.uniform(0.15, 0.21)
    flowers = [c for c in (*pal.accents, *FLOWERS) if abs(luminance(c) - luminance(pal.base)) > 40] or list(FLOWERS)
    cols = rng.sample(flowers, min(3, len(flowers)))
    for y in range(0, size + step, step):
        for x in range(0, size + step, step):
            cx, cy = x + rng.uniform(-0.35, 0.35) * step, y + rng.uniform(-0.35, 0.35) * step
            leaf_a = rng.uniform(0, 2 * math.pi)
            lx, ly = cx + math.cos(leaf_a) * petal * 2, cy + math.sin(leaf_a) * petal * 2
            draw.ellipse((lx - petal, ly - petal * 0.55, lx + petal, ly + petal * 0.55), fill=LEAF)
            col = rng.choice(cols)
            rot = rng.uniform(0, 2 * math.pi)
            for k in range(5):
                a = rot + k * 2 * math.pi / 5
                px, py = cx + math.cos(a) * petal, cy + math.sin(a) * petal
                draw.ellipse((px - petal * 0.75, py - petal * 0.75, px + petal * 0.75, py + petal * 0.75), fill=col)
            draw.ellipse(
                (cx - petal * 0.45, cy - petal * 0.45, cx + petal * 0.45, cy + petal * 0.45),
                fill=(250, 200, 40) if col != (250, 210, 60) else (120, 60, 20),
            )


def _star(cx: float, cy: float, r: float, points: int = 5) -> list[tuple[float, float]]:
    out = []
    for k in range(points * 2):
        rad = r if k % 2 == 0 else r * 0.45
        a = -math.pi / 2 + k * math.pi / points
        out.append((cx + math.cos(a) * rad, cy + math.sin(a) * rad))
    return out


def _graphic(img: Image.Image, size: int, pal: Palette, rng: random.Random, anchor: tuple[float, float]) -> None:
    draw = ImageDraw.Draw(img)
    cx, cy = anchor[0] * size, anchor[1] * size
    r = size * rng.uniform(0.08, 0.12)
    col, col2 = pal.accents[0], pal.accents[-1]
    motif = rng.randrange(4)
    if motif == 0:
        draw.polygon(_star(cx, cy, r), fill=col)
    elif motif == 1:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=col)
        draw.ellipse((cx - r * 0.6, cy - r * 0.6, cx + r * 0.6, cy + r * 0.6), fill=col2)
    elif motif == 2:
        draw.ellipse((cx - r, cy - r * 0.8, cx, cy + r * 0.2), fill=col)
        draw.ellipse((cx, cy - r * 0.8, cx + r, cy + r * 0.2), fill=col)
        draw.polygon([(cx - r * 0.97, cy - r * 0.1), (cx + r * 0.97, cy - r * 0.1), (cx, cy + r)], fill=col)
    else:
        draw.rectangle((cx - r * 1.2, cy - r * 0.9, cx + r * 1.2, cy + r * 0.9), fill=col)
        draw.polygon(_star(cx, cy, r * 0.7, 6), fill=col2)
    for k in range(rng.randint(1, 3)):  # "lettering" under the motif
        w = r * rng.uniform(0.8, 1.5)
        y = cy + r * 1.3 + k * r * 0.45
        draw.rectangle((cx - w, y, cx + w, y + r * 0.25), fill=col)


def _blob(cx: float, cy: float, r: float, rng: random.Random, n: int = 9) -> list[tuple[float, float]]:
    return [
        (cx + math.cos(a) * r * rng.uniform(0.65, 1.2), cy + math.sin(a) * r * rng.uniform(0.65, 1.2))
        for a in (k * 2 * math.pi / n for k in range(n))
    ]


def _animal(img: Image.Image, size: int, pal: Palette, rng: random.Random, anchor: tuple[float, float]) -> None:
    draw = ImageDraw.Draw(img)
    dark = (35, 25, 20) if luminance(pal.base) > 70 else (200, 170, 110)
    if rng.random() < 0.7:  # leopard rosettes
        step = rng.randint(22, 34)
        mid = shade(pal.base, 0.7) if luminance(pal.base) > 70 else (150, 110, 60)
        for y in range(0, size + step, step):
            for x in range(0, size + step, step):
                cx, cy = x + rng.uniform(-0.4, 0.4) * step, y + rng.uniform(-0.4, 0.4) * step
                r = step * rng.uniform(0.22, 0.34)
                draw.polygon(_blob(cx, cy, r, rng), fill=dark)
                draw.polygon(_blob(cx, cy, r * 0.55, rng), fill=mid)
    else:  # zebra
        period = rng.randint(16, 26)
        for off in range(-period, size + period, period):
            pts_top = [(x, off + 6 * math.sin(x / 17 + off)) for x in range(0, size + 20, 20)]
            w = period * rng.uniform(0.3, 0.45)
            pts = pts_top + [(x, y + w * (0.6 + 0.4 * math.sin(x / 23))) for x, y in reversed(pts_top)]
            draw.polygon(pts, fill=dark)


def _geometric(img: Image.Image, size: int, pal: Palette, rng: random.Random, variant: int) -> None:
    """Fallback texture of unknown pattern values: diamonds, triangles, squares or chevrons by ``variant``."""
    draw = ImageDraw.Draw(img)
    step = rng.randint(20, 36)
    h = step * 0.42
    for row, y in enumerate(range(0, size + step, step)):
        for x in range(0, size + step, step):
            c = pal.accents[row % len(pal.accents)]
            shapes = (
                [(x, y - h), (x + h * 0.7, y), (x, y + h), (x - h * 0.7, y)],
                [(x - h, y + h), (x + h, y + h), (x, y - h)],
                [
                    (x - h * 0.6, y - h * 0.6),
                    (x + h * 0.6, y - h * 0.6),
                    (x + h * 0.6, y + h * 0.6),
                    (x - h * 0.6, y + h * 0.6),
                ],
                [
                    (x - h, y),
                    (x, y - h * 0.6),
                    (x + h, y),
                    (x + h, y + h * 0.4),
                    (x, y - h * 0.2),
                    (x - h, y + h * 0.4),
                ],
            )
            draw.polygon(shapes[variant % len(shapes)], fill=c)


PAINTERS: dict[str, Painter] = {
    "solid": _solid,
    "stripes": _stripes,
    "dots": _dots,
    "plaid": _plaid,
    "floral": _floral,
    "graphic": _graphic,
    "animal": _animal,
}
_KEYWORDS = (
    ("animal", ("animal", "leopard", "zebra", "snake", "croc", "camo")),
    ("stripes", ("strip", "pinstripe")),
    ("floral", ("flor", "flower", "botanic", "paisley")),
    ("dots", ("dot", "spot")),
    ("plaid", ("plaid", "check", "tartan", "gingham", "houndstooth")),
    ("graphic", ("graphic", "print", "logo", "slogan")),
    ("solid", ("solid", "plain")),
)


def texture_kind(value: str) -> str:
    """The painter for a pattern value ("polka-dot" -> "dots"); unknown values get a hashed geometric style."""
    for kind, words in _KEYWORDS:
        if any(w in value for w in words):
            return kind
    return f"geometric:{stable_int('pattern', value) % 4}"


def make_texture(
    kind: str, size: int, palette: Palette, rng: random.Random, anchor: tuple[float, float]
) -> Image.Image:
    """A ``size`` x ``size`` RGB fabric of ``kind`` in ``palette`` (graphic motifs centred at ``anchor``)."""
    img = Image.new("RGB", (size, size), palette.base)
    if kind in PAINTERS:
        PAINTERS[kind](img, size, palette, rng, anchor)
    else:
        _geometric(img, size, palette, rng, int(kind.partition(":")[2] or 0))
    return img
