"""Necklines, ribbing and the visible details (pockets, belt, hood, buttons, ruffles, zip) of a garment."""

from __future__ import annotations

from retrieval.catalog.demo.silhouettes import BOTTOMS, Garment, Pt, lerp, x_at

INNER = 0.42  # tone of the garment's inside seen through an opening
METAL = (186, 188, 194)


def dress_garment(g: Garment) -> None:
    """Lay out the whole garment: body, neck (or the silhouette's collar), ribbing and details."""
    neck = g.body()
    if neck is not None:
        add_neck(g, *neck)
        if "rib" in g.extras:
            band(g, g.hem - 0.035, g.hem, 0.75)
    add_details(g)


def band(g: Garment, y0: float, y1: float, tone: float) -> None:
    """A ribbed band across the body between heights ``y0`` and ``y1``."""
    x0, x1 = x_at(g.left, y0), x_at(g.left, y1)
    g.poly([(x0, y0), (1 - x0, y0), (1 - x1, y1), (x1, y1)], tone)
    for k in range(int((1 - 2 * x1) / 0.02) + 1):
        g.line([(x1 + k * 0.02, y0), (x1 + k * 0.02, y1)], 0.6, 0.002)


def add_neck(g: Garment, neck: str, neck_w: float) -> None:
    """Draw the neckline (crew, v, collar, turtle, off) or the silhouette's own collar / lapels."""
    top, cx, d = g.top, 0.5, g.d
    g.neck_bottom = top + (0.25 if neck in ("lapel", "notch", "deepv", "cardigan") else 0.08)
    if neck == "crew":
        box = (cx - neck_w, top - 0.035, cx + neck_w, top + d.uniform(0.045, 0.06))
        g.shape("pieslice", box, INNER, angles=(0, 180))
        g.shape("arc", box, 1.15, width=0.01, angles=(0, 180))
    elif neck in ("v", "deepv", "cardigan"):
        pts = [(cx - neck_w, top), (cx + neck_w, top), (cx, top + (d.uniform(0.12, 0.16) if neck == "v" else 0.24))]
        g.poly(pts, INNER)
        g.line([pts[0], pts[2], pts[1]], 1.2, 0.01)
    elif neck == "collar":
        g.shape("pieslice", (cx - neck_w, top - 0.03, cx + neck_w, top + 0.05), INNER, angles=(0, 180))
        for sgn in (-1, 1):
            flap = [(cx + sgn * (neck_w + 0.012), top - 0.015), (cx, top + 0.045), (cx + sgn * 0.085, top + 0.1)]
            g.poly(flap, 1.12, 0.5)
    elif neck == "turtle":
        g.fabric(
            [
                (cx - neck_w * 1.1, top - 0.07),
                (cx + neck_w * 1.1, top - 0.07),
                (cx + neck_w * 1.15, top + 0.015),
                (cx - neck_w * 1.15, top + 0.015),
            ]
        )
        for k in range(4):
            y = top - 0.055 + k * 0.018
            g.line([(cx - neck_w, y), (cx + neck_w, y)], 0.7, 0.004)
    elif neck == "off":
        y = top + 0.07
        strip = [
            (cx - neck_w - 0.01, y - 0.005),
            (cx + neck_w + 0.01, y - 0.005),
            (cx + neck_w + 0.01, y + 0.03),
            (cx - neck_w - 0.01, y + 0.03),
        ]
        g.fabric(strip)
        g.poly(strip, 0.82)
        for x in range(6, 15):
            g.line([(x / 20, y), (x / 20, y + 0.03)], 0.6, 0.003)
    elif neck in ("stand", "lapel", "notch"):
        depth = 0.07 if neck == "stand" else 0.22
        g.poly(
            [(cx - neck_w, top), (cx + neck_w, top), (cx, top + depth)], (238, 238, 235) if neck == "notch" else INNER
        )
        if neck == "stand":
            collar = [
                (cx - neck_w - 0.01, top - 0.035),
                (cx + neck_w + 0.01, top - 0.035),
                (cx + neck_w + 0.01, top + 0.005),
                (cx - neck_w - 0.01, top + 0.005),
            ]
            g.fabric(collar)
            g.poly(collar, 0.85, 0.5, 0.003)
        else:
            wide = 0.065 if neck == "lapel" else 0.045
            for sgn in (-1, 1):
                g.poly(
                    [
                        (cx + sgn * neck_w, top),
                        (cx + sgn * (neck_w + wide), top + 0.02),
                        (cx + sgn * (neck_w + wide * 0.6), top + 0.06),
                        (cx + sgn * 0.03, top + 0.24),
                        (cx, top + 0.22),
                    ],
                    0.9,
                    0.45,
                )
    else:
        add_neck(g, "crew", neck_w)


def _pockets(g: Garment) -> None:
    top, hem = g.top, g.hem
    boxes: list[tuple[float, float, float, float]] = []
    if g.kind in BOTTOMS:
        hip = x_at(g.left, top + 0.12)
        for sgn in (-1, 1):
            g.line(
                [
                    (0.5 + sgn * (0.43 - hip), top + 0.04),
                    (0.5 + sgn * (0.465 - hip), top + 0.1),
                    (0.5 + sgn * (0.5 - hip), top + 0.125),
                ],
                "outline",
                0.007,
            )
        if g.kind == "skirt":
            boxes = [(0.5 + s * 0.09 - 0.04, top + 0.09, 0.5 + s * 0.09 + 0.04, top + 0.16) for s in (-1, 1)]
        elif hem > top + 0.36:
            y = min(top + 0.3, (top + 0.22 + hem) / 2 - 0.04)
            boxes = [(0.5 + s * 0.13 - 0.04, y, 0.5 + s * 0.13 + 0.04, y + 0.08) for s in (-1, 1)]
    elif "strings" in g.extras:  # hoodie: kangaroo pocket
        g.poly([(0.39, hem - 0.2), (0.61, hem - 0.2), (0.66, hem - 0.05), (0.34, hem - 0.05)], 0.9, "outline", 0.006)
    elif g.kind == "top" and "outer" not in g.extras:  # chest pockets
        y = top + 0.17
        boxes = [(0.54, y, 0.63, y + 0.09)] + ([(0.37, y, 0.46, y + 0.09)] if "placket" in g.extras else [])
    else:  # hip pockets of coats, dresses, jumpsuits
        y = hem - 0.15 if g.kind == "top" else min(hem - 0.15, g.waist_y + 0.08)
        boxes = [(0.5 + s * 0.12 - 0.05, y, 0.5 + s * 0.12 + 0.05, y + 0.1) for s in (-1, 1)]
    for b in boxes:
        g.shape("rectangle", b, 0.92, "outline", 0.007)
        g.line([(b[0], b[1] + 0.025), (b[2], b[1] + 0.025)], "outline", 0.005)


def add_details(g: Garment) -> None:
    """Draw the garment's visible details."""
    det, top, hem, d = g.f.details, g.top, g.hem, g.d
    bottom = g.kind in BOTTOMS
    if "hood" in det and not bottom:
        nw = 0.075
        outer = (0.5 - nw - 0.075, top - 0.15, 0.5 + nw + 0.075, top + 0.06)
        g.fabric_ellipse(outer)
        g.shape("chord", (0.5 - nw - 0.02, top - 0.1, 0.5 + nw + 0.02, top + 0.07), 0.4, angles=(180, 360))
        g.shape("arc", outer, 0.6, width=0.006, angles=(180, 360))
    if "pockets" in det:
        _pockets(g)
    if "belt" in det:
        y = g.waist_y if g.kind != "top" else min(g.waist_y, hem - 0.1)
        x0 = x_at(g.left, y) - 0.008
        leather = d.choice(((92, 58, 34), (24, 22, 22), (160, 110, 62)))
        buckle = d.choice(((212, 176, 80), (196, 198, 204)))
        bx = 0.5 + d.uniform(-0.04, 0.04)
        g.shape("rectangle", (x0, y, 1 - x0, y + 0.04), leather)
        g.shape("rectangle", (bx - 0.03, y - 0.008, bx + 0.03, y + 0.048), None, buckle, 0.009)
    if "buttons" in det:
        x = 0.515 if ("open" in g.extras or "placket" in g.extras) else 0.5
        y0 = g.neck_bottom + 0.02
        y1 = top + 0.22 if g.kind == "pants" else (g.waist_y + 0.1 if g.kind == "jumpsuit" else hem - 0.05)
        n = max(2, int((y1 - y0) / 0.065) + 1)
        for k in range(n):
            y = lerp(y0, y1, k / (n - 1))
            g.shape("ellipse", (x - 0.013, y - 0.013, x + 0.013, y + 0.013), "button", "outline", 0.003)
    if "zip" in det:
        y0 = g.neck_bottom - (0.0 if bottom else 0.05)
        y1 = top + 0.2 if bottom else (hem - 0.01 if g.kind == "top" else g.waist_y + 0.12)
        g.line([(0.5, y0), (0.5, y1)], METAL, 0.01)
        for k in range(int((y1 - y0) / 0.012)):
            g.line([(0.49, y0 + k * 0.012), (0.51, y0 + k * 0.012)], (90, 90, 96), 0.002)
        g.shape("rectangle", (0.49, y0, 0.515, y0 + 0.045), METAL, (70, 70, 76), 0.003)
    if "ruffles" in det:
        _ruffles(g)


def _ruffles(g: Garment) -> None:
    y = g.hem + (0.015 if g.kind in ("dress", "skirt") else 0.0)
    r = 0.022
    if g.kind in ("pants", "jumpsuit"):
        outer, inner = g.legs
        segs = [(outer, inner), (1 - inner, 1 - outer)]
    else:
        segs = [(x_at(g.left, g.hem), 1 - x_at(g.left, g.hem))]
    pts: list[Pt] = []
    for a, b in segs:
        n = max(2, int((b - a) / (r * 1.5)))
        pts += [(lerp(a, b, k / n), y) for k in range(n + 1)]
    for x, yy in pts:
        g.shape("pieslice", (x - r, yy - r, x + r, yy + r), 1.1, 0.55, 0.003, angles=(0, 180))
