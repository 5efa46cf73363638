"""The fake engine's fixture catalog: its products and the drawing of their images (``FIXTURE_DIR``)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from retrieval.catalog.taxonomy import split_key

logger = logging.getLogger(__name__)
FIXTURE_DIR = Path(__file__).resolve().parent / "fake_catalog"

# (id, caption, category, attributes besides the category)
PRODUCTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "dress-01",
        "black linen knee-length a-line dress",
        "dress",
        ("color:black", "material:linen", "length:knee-length", "fit:a-line"),
    ),
    (
        "dress-02",
        "red floral midi dress with a belt",
        "dress",
        ("color:red", "pattern:floral", "length:midi", "details:belt"),
    ),
    ("dress-03", "navy striped maxi dress", "dress", ("color:navy", "pattern:striped", "length:maxi")),
    ("dress-04", "white sleeveless mini dress", "dress", ("color:white", "sleeve:sleeveless", "length:mini")),
    ("dress-05", "black long-sleeve maxi dress", "dress", ("color:black", "sleeve:long-sleeve", "length:maxi")),
    ("dress-06", "red sleeveless knee-length dress", "dress", ("color:red", "sleeve:sleeveless", "length:knee-length")),
    ("dress-07", "pink polka-dot mini dress", "dress", ("color:pink", "pattern:polka-dot", "length:mini")),
    ("dress-08", "black floral midi dress", "dress", ("color:black", "pattern:floral", "length:midi")),
    ("shirt-01", "white cotton long-sleeve shirt", "shirt", ("color:white", "material:cotton", "sleeve:long-sleeve")),
    (
        "shirt-02",
        "blue plaid short-sleeve shirt with pockets",
        "shirt",
        ("color:blue", "pattern:plaid", "sleeve:short-sleeve", "details:pockets"),
    ),
    ("blouse-01", "black silk blouse", "blouse", ("color:black", "material:silk")),
    ("skirt-01", "green midi skirt", "skirt", ("color:green", "length:midi")),
    ("jacket-01", "brown leather jacket with zip", "jacket", ("color:brown", "material:leather", "details:zip")),
    ("jeans-01", "gray slim jeans", "jeans", ("color:gray", "fit:slim")),
)

RGB = {
    "black": (30, 30, 30),
    "white": (245, 245, 240),
    "gray": (140, 140, 140),
    "red": (200, 30, 40),
    "pink": (240, 150, 180),
    "green": (40, 140, 70),
    "blue": (50, 110, 210),
    "navy": (20, 30, 90),
    "brown": (120, 80, 40),
}


def write_fixture_catalog(out: str | Path = FIXTURE_DIR) -> Path:
    """Draw the fixture images (small JPEGs) and write ``catalog.json``; deterministic."""
    from PIL import Image, ImageDraw  # heavy: Pillow, only to redraw the fixture images

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    records = []
    for image_id, caption, category, attrs in PRODUCTS:
        color = next((split_key(a)[1] for a in attrs if a.startswith("color:")), "gray")
        img = Image.new("RGB", (96, 128), (228, 226, 220))
        draw = ImageDraw.Draw(img)
        fill = RGB.get(color, (128, 128, 128))
        if category in ("dress", "skirt"):
            draw.polygon(
                [
                    (34, 14 if category == "dress" else 50),
                    (62, 14 if category == "dress" else 50),
                    (80, 118),
                    (16, 118),
                ],
                fill=fill,
            )
        elif category == "jeans":
            draw.polygon([(26, 12), (70, 12), (76, 120), (52, 120), (48, 50), (44, 120), (20, 120)], fill=fill)
        else:
            draw.rectangle([28, 20, 68, 110], fill=fill)
            draw.polygon([(28, 20), (8, 60), (18, 66), (28, 40)], fill=fill)
            draw.polygon([(68, 20), (88, 60), (78, 66), (68, 40)], fill=fill)
        if "pattern:striped" in attrs:
            for y in range(20, 118, 10):
                draw.line([(10, y), (86, y)], fill=(240, 240, 240), width=3)
        if "pattern:polka-dot" in attrs or "pattern:floral" in attrs:
            for y in range(24, 116, 14):
                for x in range(24, 76, 14):
                    draw.ellipse([x, y, x + 5, y + 5], fill=(250, 220, 60))
        if "pattern:plaid" in attrs:
            for v in range(22, 110, 12):
                draw.line([(28, v), (68, v)], fill=(255, 255, 255), width=1)
                draw.line([(v // 2 + 20, 20), (v // 2 + 20, 110)], fill=(255, 255, 255), width=1)
        path = f"images/{image_id}.jpg"
        img.save(out / path, "JPEG", quality=70)
        records.append(
            {
                "image_id": image_id,
                "product_id": image_id.split("-")[0] + "-p" + image_id.split("-")[1],
                "path": path,
                "caption": caption,
                "category": category,
                "attributes": list(attrs),
            }
        )
    (out / "catalog.json").write_text(json.dumps(records, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m retrieval.engine.fake_products [OUT_DIR]``: (re)draw the fixture catalog; logs where."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("fixture catalog drawn in %s", write_fixture_catalog(args[0] if args else FIXTURE_DIR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
