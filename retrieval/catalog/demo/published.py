"""Demo products written in the two published layouts, for end-to-end tests and scale measurements.

:func:`write_fashion200k` writes exactly Fashion200K's files (``labels/<folder>_{train,test}_detect_all.txt``,
``test_queries.txt``, ``women/...`` photos; no ``meta/``): the demo's product families give captions one
word apart, from which training queries are derived as for the real data. :func:`write_fashioniq` writes
FashionIQ's (``captions/cap.<cat>.<split>.json``, ``image_splits/split.<cat>.<split>.json``,
``images/<ASIN>.jpg``): demo categories mapped to dress / shirt / toptee, one photo per product, caption pairs
from the demo's queries, every third linked group of products in ``val``. With ``defects`` each
layout gets one listed image without a file and one that fails to decode, so the skip path is exercised.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from retrieval.catalog.datasets.demo import load_demo
from retrieval.catalog.demo.generate import generate_demo_catalog
from retrieval.catalog.records import TRAIN, VAL
from retrieval.errors import ConfigError

log = logging.getLogger(__name__)

LAYOUTS = ("fashion200k", "fashioniq")
#: Demo category -> FashionIQ category (others are left out of a FashionIQ-layout folder).
FASHIONIQ_CATEGORIES = {
    "dress": "dress",
    "romper": "dress",
    "jumpsuit": "dress",
    "shirt": "shirt",
    "blouse": "shirt",
    "t-shirt": "toptee",
    "tank-top": "toptee",
    "sweater": "toptee",
}
BROKEN_BYTES = b"this is not a JPEG\n"


def _fresh(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty.", fix="pass --out with a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)


def write_fashion200k(out: str | Path, size: int = 40, seed: int = 0, *, defects: bool = True) -> dict:
    """Render ``size`` demo products into ``out`` in Fashion200K's published layout; returns a summary."""
    out = Path(out)
    _fresh(out)
    with tempfile.TemporaryDirectory(prefix="tailor-demo-") as tmp:
        demo = Path(tmp) / "demo"
        generate_demo_catalog(demo, size, seed)
        for name in ("labels", "women", "test_queries.txt"):
            shutil.move(str(demo / name), str(out / name))
    summary: dict = {"layout": "fashion200k", "out": str(out), "products": size}
    if defects:
        lines = sorted((out / "labels").glob(f"*_{TRAIN}_detect_all.txt"))
        paths = [line.split("\t")[0] for f in lines for line in f.read_text().splitlines() if line.strip()]
        gone, broken = paths[-1], paths[-2]
        (out / gone).unlink()
        (out / broken).write_bytes(BROKEN_BYTES)
        summary.update(missing_image=gone, undecodable_image=broken)
    summary["images"] = sum(1 for _ in (out / "women").rglob("*.jpeg"))
    log.info("Fashion200K-layout folder %s: %d images", out, summary["images"])
    return summary


def asin(product_id: str) -> str:
    """An ASIN-shaped id for a demo product (``B`` + 9 digits)."""
    return f"B{int(product_id):09d}"


def write_fashioniq(out: str | Path, size: int = 160, seed: int = 0, *, defects: bool = True) -> dict:
    """Render ``size`` demo products into ``out`` in FashionIQ's published layout; returns a summary.

    Only products of a category in :data:`FASHIONIQ_CATEGORIES` are kept; every third group of products
    linked by queries is ``val`` (the split FashionIQ evaluates), the rest ``train``. Each caption pair is
    the demo query's words and "is <value>" for its first change, as two annotators would write them.
    """
    out = Path(out)
    _fresh(out)
    with tempfile.TemporaryDirectory(prefix="tailor-demo-") as tmp:
        demo = Path(tmp) / "demo"
        generate_demo_catalog(demo, size, seed)
        catalog = load_demo(demo, check_images=False)
        category = {im.product_id: FASHIONIQ_CATEGORIES.get(im.category, "") for im in catalog.images}
        links = [(catalog.image(q.source).product_id, catalog.image(q.target).product_id) for q in catalog.queries]
        split = _family_splits(sorted({im.product_id for im in catalog.images if category[im.product_id]}), links)
        (out / "images").mkdir()
        first: dict[str, str] = {}
        for im in catalog.images:
            if category[im.product_id] and im.product_id not in first:
                first[im.product_id] = im.image_id
                shutil.copyfile(catalog.image_path(im), out / "images" / f"{asin(im.product_id)}.jpg")
        changes = {}
        for line in (demo / "meta" / "queries.jsonl").read_text().splitlines():
            obj = json.loads(line)
            changes[(obj["source"], obj["target"])] = obj.get("changes") or []
        splits: dict[tuple[str, str], list[str]] = {}
        for pid in first:
            splits.setdefault((category[pid], split[pid]), []).append(asin(pid))
        pairs: dict[tuple[str, str], list[dict]] = {}
        seen: set[tuple[str, str]] = set()
        for q in catalog.queries:
            src, dst = catalog.image(q.source).product_id, catalog.image(q.target).product_id
            if not category.get(src) or category[src] != category.get(dst) or split[src] != split[dst]:
                continue
            if (asin(src), asin(dst)) in seen:
                continue
            seen.add((asin(src), asin(dst)))
            change = (changes.get((q.source, q.target)) or [{}])[0]
            second = f"is {change['to']}" if change.get("to") else "is different"
            entry = {"candidate": asin(src), "target": asin(dst), "captions": [q.text.lower(), second]}
            pairs.setdefault((category[src], split[src]), []).append(entry)
    summary: dict = {"layout": "fashioniq", "out": str(out)}
    if defects:
        cat = sorted(c for c, s in splits if s == TRAIN)[0]
        missing, broken = "B999999998", "B999999999"
        (out / "images" / f"{broken}.jpg").write_bytes(BROKEN_BYTES)
        splits[(cat, TRAIN)] += [missing, broken]
        anchor = splits[(cat, TRAIN)][0]
        pairs.setdefault((cat, TRAIN), []).extend(
            {"candidate": anchor, "target": t, "captions": ["is blue", "has no sleeves"]} for t in (missing, broken)
        )
        summary.update(missing_image=f"{cat}/{missing}", undecodable_image=f"{cat}/{broken}")
    for (cat, sp), asins in sorted(splits.items()):
        _write_json(out / "image_splits" / f"split.{cat}.{sp}.json", asins)
    for (cat, sp), entries in sorted(pairs.items()):
        _write_json(out / "captions" / f"cap.{cat}.{sp}.json", entries)
    summary["images"] = dict(sorted(Counter(f"{c}.{s}" for (c, s), a in splits.items() for _ in a).items()))
    summary["caption_pairs"] = dict(sorted((f"{c}.{s}", len(e)) for (c, s), e in pairs.items()))
    log.info("FashionIQ-layout folder %s: %s", out, summary["caption_pairs"])
    return summary


def _family_splits(products: list[str], links: list[tuple[str, str]]) -> dict[str, str]:
    """Train / val per product: groups of products linked by queries, every third group (by id) val."""
    parent = {p: p for p in products}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in links:
        if a in parent and b in parent:
            parent[find(a)] = find(b)
    groups: dict[str, list[str]] = {}
    for p in products:
        groups.setdefault(find(p), []).append(p)
    ordered = sorted(groups.values(), key=min)
    linked = [g for g in ordered if len(g) > 1]
    val = {id(g) for i, g in enumerate(linked) if i % 3 == 2}
    return {p: (VAL if id(g) in val else TRAIN) for g in ordered for p in g}


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def write_published(layout: str, out: str | Path, size: int, seed: int = 0, *, defects: bool = True) -> dict:
    """Write a ``layout`` ("fashion200k" or "fashioniq") folder of ``size`` demo products."""
    if layout == "fashion200k":
        return write_fashion200k(out, size, seed, defects=defects)
    if layout == "fashioniq":
        return write_fashioniq(out, size, seed, defects=defects)
    raise ConfigError(f"unknown layout {layout!r}.", fix=f"use one of {', '.join(LAYOUTS)}")
