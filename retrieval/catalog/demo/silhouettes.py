"""Parametric garment silhouettes of the demo renderer (one per leaf category, a generic fallback).

A garment is drawn on a square canvas in unit coordinates (x right, y down, 0..1): a fabric mask
(body, sleeves, legs, hood...) later filled with the product's texture, plus overlay operations
(seams, ribbing; necklines and details are added by :mod:`retrieval.catalog.demo.trims`).
Overlay colours are tones: a float shades the garment's base colour, an RGB is used as is.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from retrieval.catalog.demo.textures import RGB, Palette, luminance, shade

Pt = tuple[float, float]
Tone = float | tuple[int, int, int] | str


@dataclass(frozen=True)
class Spec:
    """A silhouette: body kind, default hem, half chest width, hem flare, default neck and sleeve, extras.

    ``sleeve`` -1 means none; ``length`` is the hem range mini..maxi when a length attribute applies.
    """

    kind: str
    hem: float
    width: float = 0.2
    flare: float = 1.0
    neck: str = "crew"
    sleeve: float = 1.0
    extras: frozenset[str] = frozenset()
    length: tuple[float, float] | None = None
    wide_legs: bool = False
    taper: float = 0.0


def _x(*names: str) -> frozenset[str]:
    return frozenset(names)


# fmt: off
SPECS: dict[str, Spec] = {
    "shirt": Spec("top", 0.66, 0.2, 1.0, "collar", 1.0, _x("placket", "shirttail")),
    "tee": Spec("top", 0.64, 0.21, 1.0, "crew", 0.0),
    "blouse": Spec("top", 0.63, 0.185, 1.2, "v", 0.55, _x("puff")),
    "tank": Spec("top", 0.62, 0.17, 1.05, "crew", -1, _x("straps")),
    "sweater": Spec("top", 0.66, 0.215, 0.95, "crew", 1.0, _x("rib")),
    "cardigan": Spec("top", 0.67, 0.21, 1.0, "cardigan", 1.0, _x("rib", "open", "outer")),
    "hoodie": Spec("top", 0.66, 0.225, 0.95, "crew", 1.0, _x("rib", "strings")),
    "jacket": Spec("top", 0.64, 0.225, 1.0, "stand", 1.0, _x("open", "outer")),
    "coat": Spec("top", 0.85, 0.235, 1.14, "lapel", 1.0, _x("open", "outer"), (0.56, 0.96)),
    "blazer": Spec("top", 0.68, 0.22, 1.0, "notch", 1.0, _x("outer")),
    "vest": Spec("top", 0.62, 0.19, 1.0, "deepv", -1, _x("outer", "pointed")),
    "dress": Spec("dress", 0.74, 0.18, 1.0, "crew", 0.0, length=(0.48, 0.96)),
    "jumpsuit": Spec("jumpsuit", 0.95, 0.18, 1.0, "v", -1, length=(0.55, 0.96)),
    "romper": Spec("jumpsuit", 0.56, 0.18, 1.0, "crew", 0.0, length=(0.5, 0.62), wide_legs=True),
    "pants": Spec("pants", 0.93, length=(0.4, 0.95)),
    "jeans": Spec("pants", 0.93, extras=_x("stitch", "loops"), length=(0.4, 0.95), taper=0.07),
    "shorts": Spec("pants", 0.42, length=(0.28, 0.55), wide_legs=True),
    "skirt": Spec("skirt", 0.6, length=(0.34, 0.92)),
    "generic": Spec("top", 0.72, 0.2, 1.12, "crew", 0.55, length=(0.6, 0.95)),
}
# fmt: on
BOTTOMS = ("pants", "skirt")
DETAILS = ("pockets", "belt", "hood", "buttons", "ruffles", "zip")


def spec_of(silhouette: str) -> Spec:
    """The silhouette's spec (the generic tunic for unknown names)."""
    return SPECS.get(silhouette, SPECS["generic"])


def supports_detail(silhouette: str, detail: str) -> bool:
    """True when ``detail`` can be drawn visibly on ``silhouette`` (no hoods on trousers)."""
    return detail in DETAILS and not (detail == "hood" and spec_of(silhouette).kind in BOTTOMS)


@dataclass(frozen=True)
class Features:
    """What the renderer draws: category shape plus visible attributes mapped to drawing features.

    ``sleeve``: -1 sleeveless, 0..1 short to long, None the silhouette's default; ``length``: 0..1
    mini to maxi or None; ``neckline``: crew / v / collar / turtle / off or None.
    """

    silhouette: str
    color: RGB | None  # None: multicolour
    pattern: str
    sleeve: float | None = None
    length: float | None = None
    neckline: str | None = None
    details: frozenset[str] = field(default_factory=frozenset)


def lerp(a: float, b: float, t: float) -> float:
    """Linear interpolation."""
    return a + (b - a) * t


def mirror(pts: list[Pt]) -> list[Pt]:
    """The right-hand twin of a left outline (reversed, so outlines join into one polygon)."""
    return [(1.0 - x, y) for x, y in reversed(pts)]


def x_at(outline: list[Pt], y: float) -> float:
    """X of the left outline at height ``y`` (linear between its points)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(outline):
        if y0 <= y <= y1 and y1 > y0:
            return lerp(x0, x1, (y - y0) / (y1 - y0))
    return min(outline, key=lambda p: abs(p[1] - y))[0]


def resolve(tone: Tone, base: RGB) -> RGB:
    """Colour of a tone: float shades ``base``, "button" / "outline" contrast with it, RGB as is."""
    if isinstance(tone, float | int) and not isinstance(tone, bool):
        return shade(base, float(tone))
    if tone == "button":
        return (238, 232, 220) if luminance(base) < 120 else (40, 34, 30)
    if tone == "outline":
        return shade(base, 0.4) if luminance(base) > 60 else (150, 150, 150)
    return tone  # type: ignore[return-value]


class Garment:
    """Collects the fabric mask and overlay operations of one garment."""

    def __init__(self, feat: Features, design: random.Random, size: int) -> None:
        self.f = feat
        self.spec = spec_of(feat.silhouette)
        self.kind = self.spec.kind
        self.extras = set(self.spec.extras)
        self.d = design
        self.s = size
        self.mask = Image.new("L", (size, size), 0)
        self._mdraw = ImageDraw.Draw(self.mask)
        self.ops: list[tuple] = []
        self.anchor: Pt = (0.5, 0.35)
        self.left: list[Pt] = []  # left outline, top to bottom
        self.legs: tuple[float, float] = (0.3, 0.47)  # outer / inner x of the left leg's hem
        self.top = self.waist_y = self.neck_bottom = 0.1
        self.hem = 0.7

    # -- drawing primitives (unit coordinates) ---------------------------------------------
    def _p(self, pts: list[Pt]) -> list[Pt]:
        return [(x * self.s, y * self.s) for x, y in pts]

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        """Pixel box of a unit box."""
        return x0 * self.s, y0 * self.s, x1 * self.s, y1 * self.s

    def fabric(self, pts: list[Pt]) -> None:
        """Add a polygon to the fabric mask."""
        self._mdraw.polygon(self._p(pts), fill=255)

    def fabric_ellipse(self, box: tuple[float, float, float, float]) -> None:
        """Add an ellipse to the fabric mask."""
        self._mdraw.ellipse(self.box(*box), fill=255)

    def poly(self, pts: list[Pt], fill: Tone | None, outline: Tone | None = None, width: float = 0.005) -> None:
        """Overlay polygon."""
        self.ops.append(("polygon", self._p(pts), (), fill, outline, width))

    def line(self, pts: list[Pt], fill: Tone, width: float = 0.005) -> None:
        """Overlay polyline."""
        self.ops.append(("line", self._p(pts), (), fill, None, width))

    def shape(
        self,
        kind: str,
        box: tuple[float, float, float, float],
        fill: Tone | None,
        outline: Tone | None = None,
        width: float = 0.005,
        angles: tuple[float, ...] = (),
    ) -> None:
        """Overlay ellipse / rectangle / pieslice / chord / arc in a unit box."""
        self.ops.append((kind, self.box(*box), angles, fill, outline, width))

    def paint(self, draw: ImageDraw.ImageDraw, palette: Palette) -> None:
        """Draw the overlay operations on the textured garment, extending the fabric mask where they reach."""
        for kind, geom, angles, fill, outline, width in self.ops:
            kwargs: dict = {"width": max(1, round(width * self.s))}
            if kind in ("line", "arc"):
                kwargs["fill"] = resolve(fill, palette.base)
            else:
                kwargs["fill"] = None if fill is None else resolve(fill, palette.base)
                kwargs["outline"] = None if outline is None else resolve(outline, palette.base)
                if outline is None:
                    kwargs.pop("width")
            getattr(draw, kind)(geom, *angles, **kwargs)
            solid = {k: (255 if k in ("fill", "outline") and v is not None else v) for k, v in kwargs.items()}
            getattr(self._mdraw, kind)(geom, *angles, **solid)

    def hem_y(self, default: float) -> float:
        """Hem height: from the length feature when given, else the silhouette's default."""
        lo, hi = self.spec.length or (default - 0.08, min(0.96, default + 0.16))
        if self.f.length is None:
            return default + self.d.uniform(-0.015, 0.015)
        return lerp(lo, hi, self.f.length) + self.d.uniform(-0.012, 0.012)

    # -- bodies ----------------------------------------------------------------------------
    def body(self) -> tuple[str, float] | None:
        """Lay out body and sleeves; returns the neck style and half width (None for bottoms)."""
        if self.kind in BOTTOMS:
            self._bottom()
            return None
        return self._upper()

    def _upper(self) -> tuple[str, float]:
        d, sp = self.d, self.spec
        top = 0.1 if self.kind == "top" else 0.06
        w = sp.width * d.uniform(0.94, 1.06)
        neck_w = d.uniform(0.06, 0.08)
        sleeve = sp.sleeve if self.f.sleeve is None else self.f.sleeve
        neck = self.f.neckline or sp.neck
        off = neck == "off"
        straps = "straps" in self.extras or (sleeve < 0 and not off)
        arm_y = top + d.uniform(0.16, 0.19)
        sh_w = w + d.uniform(0.02, 0.04)
        if off:
            shoulder = [(0.5 - sh_w - 0.01, top + 0.07)]
            neck_w = sh_w + 0.01
        elif straps:
            strap = 0.035 if "straps" in self.extras else 0.055
            shoulder = [(0.5 - neck_w, top), (0.5 - neck_w - strap, top + 0.004), (0.5 - w + 0.035, arm_y - 0.05)]
        else:
            shoulder = [(0.5 - neck_w, top), (0.5 - sh_w, top + d.uniform(0.025, 0.045))]
        left = [*shoulder, (0.5 - w, arm_y)]
        waist_y = top + (0.26 if self.kind != "top" else 0.3)
        waist_w = w * (d.uniform(0.8, 0.9) if self.kind != "top" else d.uniform(0.92, 1.0))
        hem = self.hem_y(sp.hem)
        bottom: list[Pt] = []
        if self.kind == "top":
            hem_w = w * sp.flare * d.uniform(0.95, 1.05) * (1 + 0.25 * max(0.0, hem - 0.75))
            left += [(0.5 - waist_w, min(waist_y, hem - 0.08)), (0.5 - hem_w, hem)]
            if "shirttail" in self.extras:
                bottom = [(0.5 - hem_w * 0.55, hem + 0.02), (0.5, hem + 0.035), (0.5 + hem_w * 0.55, hem + 0.02)]
            elif "pointed" in self.extras:
                bottom = [(0.47, hem + 0.04), (0.53, hem + 0.04)]
        elif self.kind == "dress":
            hem_w = waist_w + (hem - waist_y) * d.uniform(0.3, 0.6)
            left += [(0.5 - waist_w, waist_y), (0.5 - hem_w, hem)]
            bottom = [(0.5 - hem_w * 0.5, hem + 0.015), (0.5 + hem_w * 0.5, hem + 0.015)]
        else:  # jumpsuit / romper
            hip_w = waist_w + 0.03
            crotch = waist_y + 0.16
            outer = 0.5 - hip_w - d.uniform(-0.01, 0.02) - (0.025 if sp.wide_legs else 0.0)
            inner = 0.47 - max(0.0, hem - crotch) * d.uniform(0.04, 0.1)
            left += [(0.5 - waist_w, waist_y), (0.5 - hip_w, waist_y + 0.1), (outer, hem)]
            bottom = [(inner, hem), (0.5, crotch), (1 - inner, hem)]
            self.legs = (outer, inner)
        self.left, self.top, self.waist_y, self.hem = left, top, waist_y, hem
        self.fabric(left + bottom + mirror(left))
        self.anchor = (0.5, top + 0.17)
        if sleeve >= 0:
            self._sleeves(shoulder[-1] if not off else shoulder[0], (0.5 - w, arm_y + (0.03 if off else 0)), sleeve)
        if "placket" in self.extras:
            self.line([(0.515, top + 0.05), (0.515, hem)], 0.6)
        if "open" in self.extras and "zip" not in self.f.details:
            self.line([(0.5, top + 0.12), (0.5, hem + 0.005)], 0.35, 0.008)
        if "strings" in self.extras:
            for x in (0.48, 0.52):
                self.line([(x, top + 0.04), (x + (x - 0.5), top + 0.15)], (235, 235, 235), 0.007)
        return neck, neck_w

    def _sleeves(self, shoulder: Pt, armpit: Pt, length: float) -> None:
        d = self.d
        theta = math.radians(lerp(50, 24, length) + d.uniform(-4, 4))
        reach = lerp(0.12, 0.42, length)
        cuff = lerp(0.075, 0.052, length) * d.uniform(0.92, 1.1)
        dx, dy = -math.sin(theta), math.cos(theta)
        t1 = (shoulder[0] + dx * reach, shoulder[1] + dy * reach)
        t2 = (t1[0] + math.cos(theta) * 2 * cuff, t1[1] + math.sin(theta) * 2 * cuff)
        pts = [shoulder, t1, t2, armpit]
        for side in (pts, mirror(pts)):
            self.fabric(side)
            self.line([side[0], side[-1]], 0.7, 0.004)
        if "puff" in self.extras:
            for sgn in (1, -1):
                cx = 0.5 + sgn * (0.5 - shoulder[0]) + sgn * 0.015
                self.fabric_ellipse((cx - 0.045, shoulder[1] - 0.005, cx + 0.045, shoulder[1] + 0.08))
        if "rib" in self.extras:
            for sgn in (1, -1):
                a, b = (t1, t2) if sgn > 0 else ((1 - t1[0], t1[1]), (1 - t2[0], t2[1]))
                bdx = dx * sgn * 0.035
                self.poly([a, b, (b[0] - bdx, b[1] - dy * 0.035), (a[0] - bdx, a[1] - dy * 0.035)], 0.78)

    def _bottom(self) -> None:
        d, sp = self.d, self.spec
        top = 0.05
        waist_w = d.uniform(0.15, 0.18)
        hem = self.hem_y(sp.hem)
        hip_w = waist_w + d.uniform(0.02, 0.035)
        if self.kind == "skirt":
            hem_w = hip_w + (hem - top) * d.uniform(0.15, 0.45)
            self.left = [(0.5 - waist_w, top), (0.5 - hip_w, top + 0.1), (0.5 - hem_w, hem)]
            bottom = [(0.5 - hem_w * 0.5, hem + 0.015), (0.5 + hem_w * 0.5, hem + 0.015)]
            for k in (-2, -1, 1, 2):
                x = k * 0.045 + d.uniform(-0.01, 0.01)
                self.line([(0.5 + x, top + 0.1), (0.5 + x * hem_w / hip_w, hem)], 0.75, 0.004)
        else:
            crotch = top + 0.22
            outer = 0.5 - hip_w - d.uniform(-0.015, 0.02) - (0.02 if sp.wide_legs else 0.0)
            outer += sp.taper * max(0.0, hem - crotch)
            inner = 0.47 - max(0.0, hem - crotch) * d.uniform(0.04, 0.12)
            self.left = [(0.5 - waist_w, top), (0.5 - hip_w, top + 0.13), (outer, hem)]
            bottom = [(inner, hem), (0.5, crotch), (1 - inner, hem)]
            self.legs = (outer, inner)
            self.line([(0.5, top + 0.04), (0.5, crotch - 0.03), (0.47, crotch - 0.07)], 0.6)
        self.top, self.waist_y, self.hem, self.neck_bottom = top, top + 0.02, hem, top + 0.04
        self.fabric(self.left + bottom + mirror(self.left))
        band = [
            (0.5 - waist_w, top),
            (0.5 + waist_w, top),
            (0.503 + waist_w, top + 0.04),
            (0.497 - waist_w, top + 0.04),
        ]
        self.poly(band, 0.85, 0.55)
        self.anchor = (0.5 - hip_w * 0.4, top + 0.2)
        if "loops" in self.extras:  # belt loops above the waistband
            for x in (0.5 - waist_w + 0.03, 0.44, 0.56, 0.5 + waist_w - 0.03):
                self.fabric(
                    [
                        (x - 0.008, top - 0.012),
                        (x + 0.008, top - 0.012),
                        (x + 0.008, top + 0.04),
                        (x - 0.008, top + 0.04),
                    ]
                )
        if "stitch" in self.extras:
            gold = (214, 150, 60)
            outer, inner = self.legs
            for seam in (
                [(0.5 - waist_w, top + 0.045), (0.5 + waist_w, top + 0.045)],
                [(0.52, top + 0.045), (0.52, top + 0.17), (0.5, top + 0.2)],
                [(outer + 0.01, hem - 0.03), (inner - 0.005, hem - 0.03)],
                [(1 - inner + 0.005, hem - 0.03), (1 - outer - 0.01, hem - 0.03)],
            ):
                self.line(seam, gold, 0.003)
