"""Photo effects of the demo renderer: background, placement, occlusion, lighting and sensor noise.

Each photo of a product varies these independently, so a product's photos differ and images are
not trivially separable by colour statistics or position.
"""

from __future__ import annotations

import functools
import random

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from retrieval.catalog.demo.textures import RGB, VIVID

NOISE_TILE = 480
NOISE_LEVELS = (1.5, 3.0, 4.5, 6.0)
_BANK: list[tuple[Image.Image, Image.Image]] | None = None
SKIN: tuple[RGB, ...] = ((241, 200, 170), (224, 172, 138), (176, 122, 88), (120, 80, 56))


def _background(rng: random.Random, size: int) -> Image.Image:
    """A studio-like backdrop drawn at 1/4 resolution and scaled up (smooth for free)."""
    small = size // 4
    kind = rng.choices(
        ("studio", "floor", "pastel", "wood", "bokeh", "dark"), weights=(0.3, 0.2, 0.15, 0.1, 0.15, 0.1)
    )[0]
    tint = [rng.randint(-12, 12) for _ in range(3)]
    if kind in ("studio", "floor"):
        v = rng.randint(212, 250)
        base = tuple(min(255, max(0, v + t)) for t in tint)
    elif kind == "pastel":
        c = rng.choice(VIVID)
        base = tuple(int(x * 0.35 + 255 * 0.65) for x in c)
    elif kind == "dark":
        base = tuple(max(0, rng.randint(30, 70) + t) for t in tint)
    else:
        base = (rng.randint(120, 170), rng.randint(85, 120), rng.randint(50, 80)) if kind == "wood" else (200, 200, 200)
    img = Image.new("RGB", (small, small), base)
    draw = ImageDraw.Draw(img)
    if kind == "floor":
        y = rng.randint(small // 2, small - 8)
        draw.rectangle((0, y, small, small), fill=tuple(int(c * rng.uniform(0.8, 0.93)) for c in base))
    elif kind == "wood":
        for x in range(0, small, rng.randint(6, 12)):
            draw.line((x, 0, x, small), fill=tuple(int(c * 0.8) for c in base), width=1)
    elif kind == "bokeh":
        for _ in range(rng.randint(5, 12)):
            c = rng.choice(VIVID)
            r = rng.randint(4, 14)
            x, y = rng.randint(0, small), rng.randint(0, small)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v * 0.5 + 110) for v in c))
        img = img.filter(ImageFilter.BoxBlur(3))
    return img.resize((size, size), Image.Resampling.BICUBIC)


def occlude(img: Image.Image, rng: random.Random, box: tuple[int, int, int, int]) -> None:
    """Cover part of the garment: a price tag, a hand, a bag or a leafy plant at its edge."""
    size = img.width
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    edge = rng.randrange(4)
    cx = rng.uniform(x0, x1) if edge < 2 else (x0 if edge == 2 else x1)
    cy = rng.uniform(y0, y1) if edge >= 2 else (y0 if edge == 0 else y1)
    r = size * rng.uniform(0.08, 0.16)
    kind = rng.choice(("tag", "hand", "bag", "plant"))
    if kind == "tag":
        draw.line((cx, cy - r, cx + r * 0.3, cy - r * 1.6), fill=(60, 60, 60), width=1)
        draw.rectangle(
            (cx - r * 0.45, cy - r, cx + r * 0.45, cy + r * 0.4),
            fill=rng.choice(((245, 240, 225), (250, 250, 250), (220, 60, 60))),
        )
        draw.rectangle((cx - r * 0.3, cy - r * 0.5, cx + r * 0.3, cy - r * 0.35), fill=(40, 40, 40))
    elif kind == "hand":
        skin = rng.choice(SKIN)
        draw.ellipse((cx - r * 0.7, cy - r * 0.5, cx + r * 0.7, cy + r * 0.5), fill=skin)
        for k in range(4):
            fx = cx - r * 0.6 + k * r * 0.38
            draw.rounded_rectangle((fx, cy - r * 1.1, fx + r * 0.3, cy), radius=r * 0.14, fill=skin)
    elif kind == "bag":
        col = tuple(int(c * 0.8) for c in rng.choice(VIVID))
        draw.arc((cx - r * 0.6, cy - r * 1.3, cx + r * 0.6, cy), 180, 360, fill=col, width=max(2, int(r * 0.12)))
        draw.rounded_rectangle((cx - r, cy - r * 0.6, cx + r, cy + r * 0.8), radius=r * 0.2, fill=col)
    else:
        for _ in range(7):
            a, b = cx + rng.uniform(-r, r), cy + rng.uniform(-r, r)
            draw.ellipse(
                (a - r * 0.5, b - r * 0.22, a + r * 0.5, b + r * 0.22),
                fill=(rng.randint(30, 70), rng.randint(100, 150), rng.randint(40, 70)),
            )


def _hanger(draw: ImageDraw.ImageDraw, cx: float, top: float, width: float, rng: random.Random) -> None:
    col = rng.choice(((120, 120, 125), (150, 105, 60), (30, 30, 30)))
    hw = width * 0.32
    y = top + 4
    draw.line((cx - hw, y + hw * 0.35, cx, y, cx + hw, y + hw * 0.35), fill=col, width=3)
    draw.arc((cx - 7, y - 18, cx + 7, y - 4), 180, 90, fill=(150, 150, 155), width=2)
    draw.line((cx, y - 4, cx, y), fill=(150, 150, 155), width=2)


def _noise_bank() -> list[tuple[Image.Image, Image.Image]]:
    """Gaussian sensor noise tiles per level, as (positive, negative) parts; built once per process, seeded."""
    global _BANK
    if _BANK is None:
        normal = np.random.default_rng(20240611).standard_normal((NOISE_TILE, NOISE_TILE, 3), dtype=np.float32)
        _BANK = []
        for sigma in NOISE_LEVELS:
            v = np.rint(normal * sigma)
            _BANK.append(
                (
                    Image.fromarray(np.clip(v, 0, 255).astype(np.uint8), "RGB"),
                    Image.fromarray(np.clip(-v, 0, 255).astype(np.uint8), "RGB"),
                )
            )
    return _BANK


@functools.cache
def _gradient(size: int) -> Image.Image:
    return Image.linear_gradient("L").resize((size, size))


def _light(img: Image.Image, rng: random.Random) -> Image.Image:
    """Exposure, colour cast and a light falloff across the frame (lookup tables and one mask paste)."""
    size = img.width
    lo, hi = rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.12)
    exposure, offset = rng.uniform(0.8, 1.15) * hi, rng.uniform(-10, 10)
    lut: list[int] = []
    for _ in range(3):
        gain = exposure * rng.uniform(0.93, 1.07)
        lut += [min(255, max(0, int(v * gain + offset))) for v in range(256)]
    lit = img.point(lut)
    ramp = _gradient(size).point([int(255 * (lo + (hi - lo) * v / 255) / hi) for v in range(256)])
    if rng.random() < 0.5:
        ramp = ramp.transpose(Image.Transpose.ROTATE_90)
    out = Image.new("RGB", (size, size), 0)
    out.paste(lit, mask=ramp)
    return out


def compose_photo(
    garment: Image.Image, rng: random.Random, seed: int, size: int, *, first: bool, hanger: bool
) -> Image.Image:
    """One product photo: the RGBA ``garment`` placed on a backdrop with the photo effects."""
    bg = _background(rng, size)
    cut = garment.crop(garment.getbbox() or (0, 0, garment.width, garment.height))
    fill = rng.uniform(0.95, 1.15) if rng.random() < 0.1 else rng.uniform(0.68, 0.92)
    scale = fill * size / max(cut.size)
    cut = cut.resize((max(1, round(cut.width * scale)), max(1, round(cut.height * scale))), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        cut = cut.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    cut = cut.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR, expand=True)
    x = int(size / 2 - cut.width / 2 + rng.uniform(-0.06, 0.06) * size)
    y = int(size / 2 - cut.height / 2 + rng.uniform(-0.05, 0.06) * size)
    if hanger and rng.random() < 0.25:
        _hanger(ImageDraw.Draw(bg), x + cut.width / 2, y, cut.width, rng)
    alpha = cut.getchannel("A")
    soft = alpha.resize((max(1, cut.width // 6), max(1, cut.height // 6))).resize(cut.size, Image.Resampling.BILINEAR)
    strength = rng.uniform(0.15, 0.4)
    shadow = soft.point(lambda v: int(v * strength))
    off = rng.randint(2, 8)
    bg.paste((0, 0, 0), (x + off, y + off), shadow)
    bg.paste(cut, (x, y), cut)
    if rng.random() < (0.2 if first else 0.4):
        occlude(bg, rng, (x, y, x + cut.width, y + cut.height))
    out = _light(bg, rng)
    pos, neg = _noise_bank()[rng.randrange(len(NOISE_LEVELS))]
    ox, oy = rng.randrange(NOISE_TILE - size), rng.randrange(NOISE_TILE - size)
    box = (ox, oy, ox + size, oy + size)
    out = ImageChops.subtract(ImageChops.add(out, pos.crop(box)), neg.crop(box))
    if rng.random() < 0.2:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    return out
