"""The demo catalog generator: determinism, layout, caption / attribute / query consistency, other taxonomies."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from retrieval.catalog.demo.generate import generate_demo_catalog
from retrieval.catalog.demo.products import caption_groups, sample_products
from retrieval.catalog.demo.render import features_for, render_garment
from retrieval.catalog.demo.silhouettes import Features
from retrieval.catalog.taxonomy import Taxonomy, split_key
from retrieval.errors import ConfigError

SIZE = 40
PATH_RE = re.compile(r"^women/([^/]+)/([^/]+)/(\d{8})/\3_(\d)\.jpeg$")

TINY_TAXONOMY = """
name: tiny
concepts:
  clothing: {children: [garment]}
  garment: {children: [kaftan, culottes]}
categories:
  kaftan: {folder: robes, silhouette: kaftan}
  culottes: {folder: bottoms, silhouette: pants}
groups:
  colour:
    relation: exclusive
    visible: true
    values: {teal: [sea green], crimson: [deep red], mauve: []}
  motif:
    relation: exclusive
    visible: true
    values: {paisley: [], chevron: [], houndstooth: []}
  hemline:
    relation: exclusive
    visible: true
    applies_to: [culottes]
    values: {cropped: [], ankle: []}
  finish:
    relation: exclusive
    visible: true
    values: {matte: [], glossy: []}
  fabric:
    relation: exclusive
    visible: false
    values: {hemp: [], tweed: []}
  trims:
    relation: independent
    visible: true
    values: {tassels: [], pockets: [with pockets]}
"""


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _labels(root: Path) -> dict[str, tuple[str, str, str]]:
    """Image path -> (label file, score, caption)."""
    out = {}
    for f in sorted((root / "labels").glob("*_detect_all.txt")):
        for line in f.read_text().splitlines():
            cols = line.split("\t")
            assert len(cols) == 3, (f.name, line)
            out[cols[0]] = (f.name, cols[1], cols[2])
    return out


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("demo") / "catalog"
    summary = generate_demo_catalog(root, size=SIZE, seed=0, workers=1)
    return root, summary


def test_same_seed_is_byte_identical_and_independent_of_workers(catalog, tmp_path):
    root, summary = catalog
    again = generate_demo_catalog(tmp_path / "again", size=SIZE, seed=0, workers=2)
    assert _files(root) == _files(tmp_path / "again")
    assert {k: v for k, v in summary.items() if k not in ("out", "seconds")} == {
        k: v for k, v in again.items() if k not in ("out", "seconds")
    }
    other = generate_demo_catalog(tmp_path / "other", size=SIZE, seed=1, workers=1)
    assert other["products"] == SIZE
    other_files = _files(tmp_path / "other")
    assert other_files["meta/attributes.jsonl"] != _files(root)["meta/attributes.jsonl"]
    assert sorted(p for p in other_files if p.endswith(".jpeg")) != sorted(
        p for p in _files(root) if p.endswith(".jpeg")
    )


def test_layout_files_parse(catalog):
    root, summary = catalog
    tx = Taxonomy.load(root / "meta" / "taxonomy.yml")
    labels = _labels(root)
    assert len(labels) == summary["images"] >= SIZE
    folders = {c.folder for c in tx.categories.values()}
    for path, (fname, score, caption) in labels.items():
        m = PATH_RE.match(path)
        assert m, path
        folder, sub = m.group(1), m.group(2)
        assert (
            folder in folders
            and fname.startswith(f"{folder}_")
            and fname.endswith(("_train_detect_all.txt", "_test_detect_all.txt"))
        )
        assert sub.replace("_", "-") == caption.split()[-1]
        assert 0.0 < float(score) < 1.0
    for path in list(labels)[:10]:
        with Image.open(root / path) as im:
            assert im.format == "JPEG" and im.size == (224, 224)
    assert len(list(root.rglob("*.jpeg"))) == len(labels)
    attrs = _jsonl(root / "meta" / "attributes.jsonl")
    assert {a["image_id"] for a in attrs} == set(labels)
    assert all(set(a) == {"image_id", "product_id", "category", "split", "attributes"} for a in attrs)
    queries = _jsonl(root / "meta" / "queries.jsonl")
    keys = {"source", "target", "template", "text", "kind", "split", "category", "changes"}
    assert queries and all(set(q) == keys for q in queries)
    test_lines = [line.split(" ") for line in (root / "test_queries.txt").read_text().splitlines()]
    single_test = {(q["source"], q["target"]) for q in queries if q["split"] == "test" and q["kind"] == "single"}
    assert test_lines and all(len(p) == 2 and tuple(p) in single_test for p in test_lines)
    gen = json.loads((root / "meta" / "generator.json").read_text())
    assert gen["size"] == SIZE and gen["seed"] == 0 and gen["version"] and gen["taxonomy"].endswith("taxonomy.yml")


def test_captions_equal_attribute_values_in_fixed_order(catalog):
    root, _ = catalog
    tx = Taxonomy.load(root / "meta" / "taxonomy.yml")
    labels = _labels(root)
    invisible = {g.name for g in tx.groups.values() if not g.visible}
    rank = {g.name: i for i, g in enumerate(caption_groups(tx))}
    seen_invisible = set()
    for a in _jsonl(root / "meta" / "attributes.jsonl"):
        caption = labels[a["image_id"]][2]
        pairs = [split_key(k) for k in a["attributes"]]
        assert caption.split() == [v for _, v in pairs] + [a["category"]]
        assert [rank[g] for g, _ in pairs] == sorted(rank[g] for g, _ in pairs)  # fixed group order
        for g, v in pairs:
            assert v in tx.groups[g].values
            assert tx.groups[g].applies_to is None or a["category"] in tx.groups[g].applies_to
        exclusive = [g for g, _ in pairs if tx.groups[g].exclusive]
        assert len(exclusive) == len(set(exclusive))
        seen_invisible |= invisible & {g for g, _ in pairs}
    assert seen_invisible == invisible  # material and fit are captioned


def test_invisible_groups_do_not_reach_the_drawing():
    tx = Taxonomy.load()
    base = [("color", "red"), ("pattern", "solid"), ("sleeve", "long-sleeve"), ("material", "cotton"), ("fit", "slim")]
    other = [("color", "red"), ("pattern", "solid"), ("sleeve", "long-sleeve"), ("material", "silk"), ("fit", "loose")]
    assert features_for(tx, "shirt", base) == features_for(tx, "shirt", other)
    visible = [("color", "black"), *base[1:]]
    assert features_for(tx, "shirt", visible) != features_for(tx, "shirt", base)


def test_every_category_has_its_own_silhouette_and_attributes_show():
    tx = Taxonomy.load()
    masks = {}
    for name, cat in tx.categories.items():
        feat = Features(silhouette=cat.silhouette, color=(200, 30, 30), pattern="solid")
        masks[name] = render_garment(feat, 7, 7).getchannel("A").tobytes()
    assert len(set(masks.values())) == len(tx.categories)

    def img(**kw):
        garment = render_garment(Features(silhouette="dress", color=(200, 30, 30), pattern="solid", **kw), 3, 3)
        photo = Image.new("RGB", garment.size, (240, 240, 240))
        photo.paste(garment, (0, 0), garment)
        return photo

    plain = img(sleeve=1.0, length=0.0)
    for changed in (
        img(sleeve=-1.0, length=0.0),
        img(sleeve=1.0, length=1.0),
        img(sleeve=1.0, length=0.0, details=frozenset({"belt"})),
        img(sleeve=1.0, length=0.0, neckline="v"),
        img(sleeve=1.0, length=0.0, details=frozenset({"pockets"})),
        img(sleeve=1.0, length=0.0, details=frozenset({"zip"})),
    ):
        diff = ImageChops.difference(plain, changed).convert("L").point(lambda v: 255 if v > 40 else 0)
        assert diff.histogram()[255] > 150  # a visible change, not noise


def test_queries_change_exactly_what_they_say(catalog):
    root, _ = catalog
    tx = Taxonomy.load(root / "meta" / "taxonomy.yml")
    labels = _labels(root)
    attrs = {a["image_id"]: a for a in _jsonl(root / "meta" / "attributes.jsonl")}
    queries = _jsonl(root / "meta" / "queries.jsonl")
    kinds = {q["kind"] for q in queries}
    assert kinds == {"single", "multi"}
    for q in queries:
        src, tgt = attrs[q["source"]], attrs[q["target"]]
        assert src["split"] == tgt["split"] == q["split"] and src["category"] == tgt["category"] == q["category"]
        assert src["product_id"] != tgt["product_id"]
        expected = set(src["attributes"])
        for c in q["changes"]:
            if c["from"]:
                expected.remove(f"{c['group']}:{c['from']}")
            if c["to"]:
                expected.add(f"{c['group']}:{c['to']}")
            assert tx.is_exclusive(c["group"]) == bool(c["from"] and c["to"])
        assert expected == set(tgt["attributes"])
        assert len(q["changes"]) == (1 if q["kind"] == "single" else 2)
        assert q["template"] == " and ".join(
            f"replace {c['from']} with {c['to']}"
            if c["from"] and c["to"]
            else (f"add {c['to']}" if c["to"] else f"remove {c['from']}")
            for c in q["changes"]
        )
        assert q["text"].strip()
        if q["kind"] == "single":
            a, b = labels[q["source"]][2].split(), labels[q["target"]][2].split()
            gone, new = [w for w in a if w not in b], [w for w in b if w not in a]
            assert len(gone) + len(new) <= 2 and {*gone, *new} == {
                c for c in (q["changes"][0]["from"], q["changes"][0]["to"]) if c
            }


def test_split_by_family_has_no_overlap():
    tx = Taxonomy.load()
    products = sample_products(tx, 400, 3)
    split_of = defaultdict(set)
    for p in products:
        split_of[p.family].add(p.split)
    assert all(len(s) == 1 for s in split_of.values())
    test = sum(p.split == "test" for p in products)
    assert 0.15 * len(products) <= test <= 0.3 * len(products)
    assert len({p.product_id for p in products}) == len(products)
    by_family = defaultdict(list)
    for p in products:
        by_family[p.family].append(p)
    assert sum(len(m) > 1 for m in by_family.values()) > len(by_family) * 0.7  # families of near-variants


def test_other_taxonomy_file_works(tmp_path):
    tax = tmp_path / "tiny.yml"
    tax.write_text(TINY_TAXONOMY)
    summary = generate_demo_catalog(tmp_path / "out", size=24, seed=5, taxonomy_path=tax, workers=1)
    root = tmp_path / "out"
    assert summary["products"] == 24 and summary["images"] == len(list(root.rglob("*.jpeg")))
    labels = _labels(root)
    assert {f for f, _, _ in labels.values()} <= {
        f"{d}_{s}_detect_all.txt" for d in ("robes", "bottoms") for s in ("train", "test")
    }
    tx = Taxonomy.load(tax)
    for a in _jsonl(root / "meta" / "attributes.jsonl"):
        groups = {split_key(k)[0] for k in a["attributes"]}
        assert {"colour", "motif", "fabric"} <= groups
        assert ("hemline" in groups) == (a["category"] == "culottes")
        assert labels[a["image_id"]][2].split()[:-1] == [split_key(k)[1] for k in a["attributes"]]
    queries = _jsonl(root / "meta" / "queries.jsonl")
    assert queries and all(c["group"] in tx.groups for q in queries for c in q["changes"])
    assert (root / "meta" / "taxonomy.yml").read_text() == TINY_TAXONOMY
    # known aliases draw (colour, motif, hemline, trims); an unknown visible group is ignored by the drawing
    base = [("colour", "teal"), ("motif", "paisley"), ("hemline", "cropped"), ("finish", "matte"), ("trims", "pockets")]
    feat = features_for(tx, "culottes", base)
    assert (
        feat.silhouette == "pants" and feat.pattern == "floral" and feat.length == 0.0 and feat.details == {"pockets"}
    )
    assert features_for(tx, "culottes", [*base[:3], ("finish", "glossy"), base[4]]) == feat
    assert features_for(tx, "culottes", [base[0], base[1], ("hemline", "ankle"), *base[3:]]) != feat
    assert render_garment(features_for(tx, "kaftan", base[:2]), 1, 1).getbbox()  # unknown silhouette: generic shape


def test_refuses_to_overwrite_foreign_data_but_regenerates_its_own(tmp_path):
    foreign = tmp_path / "foreign"
    (foreign / "labels").mkdir(parents=True)
    with pytest.raises(ConfigError, match="empty --out"):
        generate_demo_catalog(foreign, size=3, workers=1)
    ours = tmp_path / "ours"
    generate_demo_catalog(ours, size=6, seed=0, workers=1)
    generate_demo_catalog(ours, size=3, seed=0, workers=1)
    assert len(_jsonl(ours / "meta" / "attributes.jsonl")) == len(list(ours.rglob("*.jpeg")))
    with pytest.raises(ConfigError, match="--size"):
        generate_demo_catalog(tmp_path / "zero", size=0)
    spaced = tmp_path / "spaced.yml"
    spaced.write_text(TINY_TAXONOMY.replace("mauve: []", "dusty mauve: []"))
    with pytest.raises(ConfigError, match="'dusty-mauve'"):
        generate_demo_catalog(tmp_path / "spaced", size=3, taxonomy_path=spaced)
