"""Both published layouts end to end: `tailor published` writes the files, `tailor train --data DIR`
and `tailor evaluate` run on them through the CLI, `tailor table 1 | 2` prints the paper's rows beside
the measured ones. Also the dataset options (A.4 query texts, TIRG's option, FashionIQ val as test) and
the real FashionIQ captions, whose images are not here: reported, and training refuses with the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.catalog.datasets.options import DatasetOptions, load_dataset
from retrieval.catalog.records import TEST, TRAIN, VAL
from retrieval.cli.main import main
from retrieval.errors import ConfigError, DatasetError
from retrieval.evaluation.tables import TABLES, measure_table
from retrieval.training.run import train

SHARED_FIQ = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fashioniq"
#: A small TrainConfig: the real encoders, few epochs, a short interaction warm-up.
SMALL = {
    "epochs": 6,
    "batch_size": 64,
    "patience": 25,
    "negatives": 16,
    "warmup_likes": 20,
    "warmup_epochs": 1,
    "max_seconds": 60,
}


def _write(layout: str, out: Path, size: int) -> None:
    assert main(["published", "--layout", layout, "--out", str(out), "--size", str(size)]) == 0


@pytest.fixture(scope="module")
def f200k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("published") / "fashion200k"
    _write("fashion200k", out, 60)
    return out


@pytest.fixture(scope="module")
def fiq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("published") / "fashioniq"
    _write("fashioniq", out, 160)
    return out


def _train(data: Path, model: Path, tmp: Path, *extra: str) -> dict:
    cfg = tmp / "small.json"
    cfg.write_text(json.dumps(SMALL))
    argv = ["train", "--data", str(data), "--out", str(model), "--config", str(cfg), "--threads", "1", *extra]
    assert main(argv) == 0
    return json.loads((model / "metrics.json").read_text())


# --- the layouts as written ----------------------------------------------------------------------


def test_fashion200k_layout_and_query_texts(f200k: Path) -> None:
    assert sorted(p.name for p in f200k.iterdir()) == ["labels", "test_queries.txt", "women"]  # no meta/
    assert all(p.name.endswith(("_train_detect_all.txt", "_test_detect_all.txt")) for p in (f200k / "labels").iterdir())
    cat = load_dataset(f200k)
    assert cat.source_format == "fashion200k" and len(cat.missing_images) == 1
    train = [q for q in cat.queries if q.split == TRAIN]
    test = [q for q in cat.queries if q.split == TEST]
    n_train_images = sum(1 for im in cat.images if im.split == TRAIN)
    assert (
        0 < len(train) <= n_train_images and len(test) == len((f200k / "test_queries.txt").read_text().split("\n")) - 1
    )
    for q in train:  # A.4: a target whose caption differs by one word, the target's caption as the text
        source, target = cat.image(q.source).caption.split(), cat.image(q.target).caption.split()
        assert len(source) == len(target) and sum(a != b for a, b in zip(source, target, strict=True)) == 1
        assert q.text == cat.image(q.target).caption and q.template.startswith("replace ")
    assert all(q.text == cat.image(q.target).caption for q in test)
    tirg = load_dataset(f200k, DatasetOptions(relative_caption="replace"))
    assert [q.text for q in tirg.queries] == [q.template for q in cat.queries]
    assert sum(q.split == TRAIN for q in load_dataset(f200k, DatasetOptions(train_queries=5)).queries) == 5


def test_fashioniq_layout_val_is_evaluated(fiq: Path) -> None:
    cat = load_dataset(fiq)
    assert cat.source_format == "fashioniq"
    assert {im.category for im in cat.images} == {"dress", "shirt", "toptee"}
    assert {im.split for im in cat.images} == {TRAIN, TEST}  # val evaluated as the test split
    val_pairs = sum(len(json.loads(p.read_text())) for p in (fiq / "captions").glob("cap.*.val.json"))
    assert sum(q.split == TEST for q in cat.queries) == val_pairs
    assert all(q.text.startswith(f"{q.category} ") and " and it " in q.text for q in cat.queries)  # A.4
    assert len(cat.missing_images) == 1 and cat.missing_images[0].endswith("/B999999998")
    raw = load_dataset(fiq, DatasetOptions(eval_split="test", prefix_category=False))
    assert VAL in {im.split for im in raw.images} and not raw.queries[0].text.startswith(raw.queries[0].category)


# --- end to end through the CLI ------------------------------------------------------------------


@pytest.mark.engine  # trains a model
def test_fashion200k_train_evaluate_table(f200k: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model"
    metrics = _train(f200k, model, tmp_path)
    assert (metrics["missing_images"], metrics["undecodable_images"]) == (1, 1)  # counted and skipped
    assert metrics["skipped_queries"] >= 0 and metrics["train_queries"] > 20 and metrics["test_queries"] > 0
    saved = json.loads((model / "dataset.json").read_text())
    assert (saved["format"], saved["relative_caption"]) == ("fashion200k", "target")
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(model), "--json", str(out), "--only", "retrieval"]) == 0
    report = json.loads(out.read_text())
    assert report["dataset"] == "fashion200k" and report["queries"] == metrics["test_queries"]
    # floor: a photo of the target product in the graph's top 10 at least twice as often as by chance
    test_images = sum(len(p.read_text().splitlines()) for p in (f200k / "labels").glob("*_test_detect_all.txt"))
    assert report["results"]["graph-predicted"]["R@10"] >= min(100.0, 2 * 100.0 * 10 / test_images)
    capsys.readouterr()
    assert main(["table", "1", "--model", str(model), "--json", str(tmp_path / "t1.json")]) == 0
    text = capsys.readouterr().out
    assert "Table 1: Fashion200K" in text and "fashion200k folder" in text
    for name, values in TABLES[1].rows:
        assert f"| {name} | paper | " + " | ".join(f"{v:.2f}" for v in values) in text
    t1 = json.loads((tmp_path / "t1.json").read_text())
    assert t1["measured_on"]["match"] == "caption" and {r["method"] for r in t1["measured"]} >= {"graph-caption"}
    with pytest.raises(ConfigError, match="Table 2 is FashionIQ"):
        measure_table(2, model, progress=False)


@pytest.mark.engine  # trains a model
def test_fashioniq_train_evaluate_table(fiq: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model"
    metrics = _train(fiq, model, tmp_path)
    assert (metrics["missing_images"], metrics["undecodable_images"], metrics["skipped_queries"]) == (1, 1, 2)
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--model", str(model), "--json", str(out), "--only", "retrieval"]) == 0
    report = json.loads(out.read_text())
    assert report["dataset"] == "fashioniq" and "graph-caption" not in report["results"]
    val = {
        c: len(json.loads((fiq / "image_splits" / f"split.{c}.val.json").read_text()))
        for c in ("dress", "shirt", "toptee")
    }
    per = report["categories"]["graph-predicted"]
    assert {c: r["gallery"] for c, r in per.items()} == val  # each category's own val images
    avg = {k: round(sum(r[k] for r in per.values()) / len(per), 2) for k in ("R@10", "R@50", "R@100")}
    assert report["results"]["graph-predicted"] == avg
    capsys.readouterr()
    assert main(["table", "2", "--model", str(model)]) == 0
    text = capsys.readouterr().out
    assert "Table 2: FashionIQ" in text and "| Our Graph | paper | 6.74 | 19.09 | 30.20 |" in text
    assert "| graph-predicted | measured (compare: Our Graph) |" in text and "| toptee |" in text


# --- the real FashionIQ captions (no images here) ------------------------------------------------


@pytest.fixture(scope="module")
def shared_fiq() -> Path:
    if not (SHARED_FIQ / "captions").is_dir():
        pytest.skip(f"shared FashionIQ files not found at {SHARED_FIQ}")
    return SHARED_FIQ


def test_real_fashioniq_read_and_images_reported(shared_fiq: Path, tmp_path: Path) -> None:
    cat = load_dataset(shared_fiq)
    val_pairs = sum(len(json.loads(p.read_text())) for p in (shared_fiq / "captions").glob("cap.*.val.json"))
    assert sum(q.split == TEST for q in cat.queries) == val_pairs
    assert len(cat.missing_images) == len(cat.images) > 40000
    assert cat.queries[0].text.startswith(f"{cat.queries[0].category} ") and " and it " in cat.queries[0].text
    with pytest.raises(DatasetError, match=r"none of the \d+ images has a readable file"):
        train(shared_fiq, tmp_path / "m", progress=False)
