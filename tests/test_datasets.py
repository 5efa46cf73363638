"""Dataset loaders: Fashion200K (TIRG reading), FashionIQ (as published), demo, and the dispatcher."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from retrieval.catalog.datasets import detect_format, load_catalog
from retrieval.catalog.datasets.demo import load_demo
from retrieval.catalog.datasets.fashion200k import (
    CaptionIndex,
    clean_caption,
    derive_train_queries,
    different_word,
    load_fashion200k,
)
from retrieval.catalog.datasets.fashioniq import join_captions, load_fashioniq
from retrieval.catalog.records import Catalog
from retrieval.errors import DatasetError

FIXTURES = Path(__file__).parent / "fixtures"
F200K = FIXTURES / "fashion200k_tiny"
FIQ = FIXTURES / "fashioniq_tiny"
SHARED_FIQ = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fashioniq"

D = "women/dresses/cocktail_dresses"
S = "women/skirts/maxi_skirts"


# --- Fashion200K ---------------------------------------------------------------------------------


def test_clean_caption_as_tirg() -> None:
    assert clean_caption("  black & white dress.\n") == "black andmark white dressdotmark"
    assert clean_caption("what? *new* dress") == "whatquestionmark starmarknewstarmark dress"


def test_different_word_as_tirg() -> None:
    assert different_word("blue lace cocktail dress", "green lace cocktail dress") == (
        "blue",
        "green",
        "replace blue with green",
    )
    # the first differing word on each side, even when several differ
    assert different_word("red long silk dress", "black short silk dress")[2] == "replace red with black"
    # TIRG's fallback when no word differs: the last words
    assert different_word("red dress", "dress red")[2] == "replace dress with red"


def test_fashion200k_fixture() -> None:
    cat = load_fashion200k(F200K)
    assert cat.source_format == "fashion200k"
    assert len(cat.images) == 12
    assert Counter(im.split for im in cat.images) == {"train": 7, "test": 5}
    assert Counter(im.category for im in cat.images) == {"dresses": 7, "skirts": 5}
    summary = cat.summary()
    assert summary["products"] == 11 and summary["missing_images"] == 0 and summary["queries"] == 3
    two_photos = [im for im in cat.images if im.product_id == "10000001"]
    assert [im.image_id for im in two_photos] == [
        "women/dresses/casual_and_day_dresses/10000001/10000001_0.jpeg",
        "women/dresses/casual_and_day_dresses/10000001/10000001_1.jpeg",
    ]
    assert all(im.image_id == im.path for im in cat.images)
    captions = {im.caption for im in cat.images}
    assert "black andmark white striped dress" in captions  # stripped, & spelled out
    assert "3dotmark1 phillip lim pleated skirt" in captions
    assert cat.image_path(two_photos[0]).is_file()
    assert [(q.source, q.target, q.text) for q in cat.queries] == [
        (f"{D}/10000004/10000004_0.jpeg", f"{D}/10000005/10000005_0.jpeg", "replace blue with green"),
        (f"{D}/10000004/10000004_0.jpeg", f"{D}/10000006/10000006_0.jpeg", "replace lace with satin"),
        (f"{S}/20000004/20000004_0.jpeg", f"{S}/20000005/20000005_0.jpeg", "replace black with grey"),
    ]
    assert all(q.template == q.text and q.split == "test" and q.kind == "single" for q in cat.queries)
    assert [q.category for q in cat.queries] == ["dresses", "dresses", "skirts"]


def test_fashion200k_only_train_split() -> None:
    cat = load_fashion200k(F200K, splits=("train",))
    assert {im.split for im in cat.images} == {"train"} and cat.queries == []


def test_fashion200k_missing_images_counted(tmp_path: Path) -> None:
    root = tmp_path / "f200k"
    shutil.copytree(F200K, root)
    gone = f"{S}/20000005/20000005_0.jpeg"
    (root / gone).unlink()
    shutil.rmtree(root / "women/skirts/mini_skirts")  # a whole folder missing
    cat = load_fashion200k(root)
    assert sorted(cat.missing_images) == sorted(
        [
            gone,
            "women/skirts/mini_skirts/20000001/20000001_0.jpeg",
            "women/skirts/mini_skirts/20000002/20000002_0.jpeg",
        ]
    )
    assert len(cat.images) == 12 and len(cat.queries) == 3
    assert load_fashion200k(root, check_images=False).missing_images == []


def test_fashion200k_images_elsewhere(tmp_path: Path) -> None:
    labels_only = tmp_path / "labels_only"
    labels_only.mkdir()
    shutil.copytree(F200K / "labels", labels_only / "labels")
    shutil.copy(F200K / "test_queries.txt", labels_only)
    assert len(load_fashion200k(labels_only).missing_images) == 12
    cat = load_fashion200k(labels_only, images_dir=F200K)
    assert cat.missing_images == [] and cat.root == F200K


TRAIN_PAIRS = {
    ("casual_and_day_dresses/10000001/10000001_0.jpeg", "casual_and_day_dresses/10000002/10000002_0.jpeg"),
    ("casual_and_day_dresses/10000001/10000001_1.jpeg", "casual_and_day_dresses/10000002/10000002_0.jpeg"),
    ("casual_and_day_dresses/10000002/10000002_0.jpeg", "casual_and_day_dresses/10000001/10000001_0.jpeg"),
    ("casual_and_day_dresses/10000002/10000002_0.jpeg", "casual_and_day_dresses/10000001/10000001_1.jpeg"),
    ("mini_skirts/20000001/20000001_0.jpeg", "mini_skirts/20000002/20000002_0.jpeg"),
    ("mini_skirts/20000002/20000002_0.jpeg", "mini_skirts/20000001/20000001_0.jpeg"),
}


def _short(image_id: str) -> str:
    return image_id.split("/", 2)[2]


def test_caption_index_as_tirg() -> None:
    train = load_fashion200k(F200K).split("train")
    index = CaptionIndex.build(train)
    assert index.parent_children["silk maxi dress"] == ["black silk maxi dress", "red silk maxi dress"]
    assert index.caption_parents["blue denim mini skirt"] == ["denim mini skirt"]
    assert "black andmark white striped dress" not in index.caption_parents  # no sibling caption
    assert len(index.modifiable()) == 5


def test_derive_train_queries() -> None:
    images = load_fashion200k(F200K).images
    queries = derive_train_queries(images, max_queries=100, seed=3)
    assert {(_short(q.source), _short(q.target)) for q in queries} == TRAIN_PAIRS  # every pair, once
    assert len(queries) == len(TRAIN_PAIRS)
    texts = {(_short(q.source)[:8], q.text) for q in queries}
    assert ("casual_a", "replace black with red") in texts and ("mini_ski", "replace white with blue") in texts
    assert all(q.split == "train" and q.template == q.text and q.kind == "single" for q in queries)
    capped = derive_train_queries(images, max_queries=2, seed=3)
    assert len(capped) == 2 and capped == derive_train_queries(images, max_queries=2, seed=3)
    assert {(_short(q.source), _short(q.target)) for q in capped} <= TRAIN_PAIRS
    assert derive_train_queries(images, max_queries=0) == []


# --- FashionIQ -----------------------------------------------------------------------------------


def test_join_captions() -> None:
    assert join_captions(["is red", " has long sleeves "]) == "is red and it has long sleeves"
    assert join_captions(["is red", "is shorter"], "dress", prefix_category=True) == ("dress is red and it is shorter")
    assert join_captions(["is red", ""], joiner=", ") == "is red"
    assert join_captions(["is red", "is short"], joiner=" ; ") == "is red ; is short"


def test_fashioniq_fixture() -> None:
    cat = load_fashioniq(FIQ)
    assert cat.source_format == "fashioniq"
    assert len(cat.images) == 14
    assert Counter((im.category, im.split) for im in cat.images) == {
        ("dress", "train"): 6,
        ("dress", "val"): 3,
        ("dress", "test"): 2,
        ("toptee", "train"): 3,
    }
    assert cat.missing_images == ["dress/B0000DRS11"]
    im = cat.image("dress/B0000DRS01")
    assert (im.product_id, im.caption, im.category) == ("B0000DRS01", "", "dress")
    assert cat.image_path(im).is_file()
    assert Counter((q.category, q.split) for q in cat.queries) == {
        ("dress", "train"): 3,
        ("dress", "val"): 2,
        ("dress", "test"): 1,
        ("toptee", "train"): 2,
    }
    first = cat.queries[0]
    assert (first.source, first.target) == ("dress/B0000DRS01", "dress/B0000DRS02")
    assert first.text == "is solid black with no sleeves and it is black with straps" and first.template == ""
    test_query = next(q for q in cat.queries if q.split == "test")
    assert test_query.target == "" and test_query.source == "dress/B0000DRS10"
    pink = next(q for q in cat.queries if q.source == "toptee/B0000TOP01")
    assert pink.text == "has no sleeves and is light pink and it pink"


def test_fashioniq_options(tmp_path: Path) -> None:
    cat = load_fashioniq(FIQ, prefix_category=True, joiner=" and also ", categories=("toptee",))
    assert {im.category for im in cat.images} == {"toptee"}
    assert cat.queries[1].text == "toptee is a graphic tee and also has a print and is grey"
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    shutil.copy(FIQ / "images" / "B0000TOP01.jpg", pictures)
    cat = load_fashioniq(FIQ, images_dir=pictures, categories=("toptee",))
    assert cat.missing_images == ["toptee/B0000TOP02", "toptee/B0000TOP03"]
    assert cat.image_path(cat.image("toptee/B0000TOP01")) == (pictures / "B0000TOP01.jpg").resolve()


@pytest.fixture(scope="module")
def shared_fiq() -> Catalog:
    if not (SHARED_FIQ / "captions").is_dir():
        pytest.skip(f"shared FashionIQ files not found at {SHARED_FIQ} (the repo's parent dir holds shared/)")
    return load_fashioniq(SHARED_FIQ)


def test_shared_fashioniq_loads(shared_fiq: Catalog) -> None:
    queries = Counter((q.category, q.split) for q in shared_fiq.queries)
    for path in sorted((SHARED_FIQ / "captions").glob("cap.*.json")):
        _, category, split, _ = path.name.split(".")
        assert queries[(category, split)] == len(json.loads(path.read_text())), path.name
    images = Counter((im.category, im.split) for im in shared_fiq.images)
    for path in sorted((SHARED_FIQ / "image_splits").glob("split.*.json")):
        _, category, split, _ = path.name.split(".")
        assert images[(category, split)] == len(json.loads(path.read_text())), path.name
    summary = shared_fiq.summary()
    assert summary["missing_images"] == summary["images"] == len(shared_fiq.images)  # no images shipped
    assert summary["products"] < summary["images"]  # shirt and toptee share ASINs
    assert all(q.source in shared_fiq and q.target in shared_fiq for q in shared_fiq.queries)
    assert all(" and it " in q.text for q in shared_fiq.queries[:100])


# --- demo + dispatcher ---------------------------------------------------------------------------


def make_demo(root: Path) -> Path:
    """A demo-layout catalog: the Fashion200K fixture plus meta/ attributes and queries."""
    shutil.copytree(F200K, root)
    meta = root / "meta"
    meta.mkdir()
    cat = load_fashion200k(F200K)
    with (meta / "attributes.jsonl").open("w") as f:
        for im in cat.images:
            colour = im.caption.split()[0]
            f.write(
                json.dumps(
                    {
                        "image_id": im.image_id,
                        "product_id": im.product_id,
                        "category": {"dresses": "dress", "skirts": "skirt"}[im.category],
                        "split": im.split,
                        "attributes": [f"color:{colour}"],
                    }
                )
                + "\n"
            )
    queries = [
        {
            "source": cat.queries[0].source,
            "target": cat.queries[0].target,
            "template": "replace blue with green",
            "text": "same but in green",
            "kind": "single",
            "split": "test",
            "category": "dress",
            "changes": ["color:green"],
        },
        {
            "source": f"{D}/10000006/10000006_0.jpeg",
            "target": f"{D}/10000005/10000005_0.jpeg",
            "template": "replace blue with green, replace satin with lace",
            "text": "green lace instead",
            "kind": "multi",
            "split": "test",
            "category": "dress",
            "changes": ["color:green", "material:lace"],
        },
        {
            "source": "women/dresses/casual_and_day_dresses/10000002/10000002_0.jpeg",
            "target": "women/dresses/casual_and_day_dresses/10000001/10000001_0.jpeg",
            "template": "replace red with black",
            "text": "make it black",
            "kind": "single",
            "split": "train",
            "category": "dress",
            "changes": ["color:black"],
        },
    ]
    (meta / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    return root


def test_demo_loader(tmp_path: Path) -> None:
    cat = load_demo(make_demo(tmp_path / "demo"))
    assert cat.source_format == "demo" and len(cat.images) == 12
    im = cat.image(f"{D}/10000004/10000004_0.jpeg")
    assert im.attributes == ("color:blue",) and im.category == "dress" and im.product_id == "10000004"
    assert cat.summary()["attributes"] == len({im.caption.split()[0] for im in cat.images})
    assert [(q.kind, q.split, q.text) for q in cat.queries] == [
        ("single", "test", "same but in green"),
        ("multi", "test", "green lace instead"),
        ("single", "train", "make it black"),
    ]
    assert cat.queries[0].template == "replace blue with green"


def test_dispatcher(tmp_path: Path) -> None:
    demo = make_demo(tmp_path / "demo")
    assert detect_format(F200K) == "fashion200k"
    assert detect_format(FIQ) == "fashioniq"
    assert detect_format(demo) == "demo"
    assert load_catalog(demo).source_format == "demo"
    assert load_catalog(demo, format="fashion200k").source_format == "fashion200k"
    assert load_catalog(FIQ, images_dir=tmp_path).missing_images[:1] == ["dress/B0000DRS01"]
    with pytest.raises(DatasetError, match="cannot tell the dataset format"):
        load_catalog(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_catalog(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load_catalog(F200K, format="coco")
