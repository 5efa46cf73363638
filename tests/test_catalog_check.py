"""``tailor catalog check``: malformed inputs name file, line and fix; exit codes of the CLI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.catalog.datasets import load_catalog
from retrieval.catalog.datasets.check import check_catalog
from retrieval.cli.main import main
from retrieval.errors import DatasetError

FIXTURES = Path(__file__).parent / "fixtures"
F200K = FIXTURES / "fashion200k_tiny"
FIQ = FIXTURES / "fashioniq_tiny"
SHARED_FIQ = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fashioniq"
DRESS_TEST = "labels/dress_test_detect_all.txt"


def copy(src: Path, tmp_path: Path) -> Path:
    root = tmp_path / src.name
    shutil.copytree(src, root)
    return root


def replace_line(path: Path, number: int, new: str) -> None:
    lines = path.read_text().splitlines()
    lines[number - 1] = new
    path.write_text("\n".join(lines) + "\n")


def error_of(root: Path, **kw: object) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_catalog(root, **kw)
    err = info.value
    assert err.fix and "Fix:" in str(err)
    return err


# --- Fashion200K ---------------------------------------------------------------------------------


def test_label_wrong_column_count(tmp_path: Path) -> None:
    root = copy(F200K, tmp_path)
    replace_line(root / DRESS_TEST, 2, "women/dresses/cocktail_dresses/10000005/10000005_0.jpeg green lace dress")
    err = error_of(root)
    assert err.path == str(root / DRESS_TEST) and err.line == 2
    assert "3 tab-separated columns" in str(err) and f"{root / DRESS_TEST}:2" in str(err)


def test_label_bad_score(tmp_path: Path) -> None:
    root = copy(F200K, tmp_path)
    replace_line(root / DRESS_TEST, 3, "women/dresses/cocktail_dresses/10000006/10000006_0.jpeg\thigh\tblue dress")
    err = error_of(root)
    assert (err.path, err.line) == (str(root / DRESS_TEST), 3) and "not a number" in str(err)


def test_label_file_without_split(tmp_path: Path) -> None:
    root = copy(F200K, tmp_path)
    (root / "labels/dress_train_detect_all.txt").rename(root / "labels/dress_detect_all.txt")
    err = error_of(root)
    assert err.path == str(root / "labels/dress_detect_all.txt") and "split" in str(err)
    assert "_train_detect_all.txt" in err.fix


def test_test_query_unknown_image(tmp_path: Path) -> None:
    root = copy(F200K, tmp_path)
    source = "women/dresses/cocktail_dresses/10000004/10000004_0.jpeg"
    replace_line(root / "test_queries.txt", 2, f"{source} women/x/9/9_0.jpeg")
    err = error_of(root)
    assert (err.path, err.line) == (str(root / "test_queries.txt"), 2) and "women/x/9/9_0.jpeg" in str(err)


def test_test_query_wrong_column_count(tmp_path: Path) -> None:
    root = copy(F200K, tmp_path)
    replace_line(root / "test_queries.txt", 3, "women/skirts/maxi_skirts/20000004/20000004_0.jpeg")
    err = error_of(root)
    assert (err.path, err.line) == (str(root / "test_queries.txt"), 3) and "found 1" in str(err)


def test_unreadable_image_only_with_verify(tmp_path: Path) -> None:
    root = copy(F200K, tmp_path)
    broken = root / "women/skirts/maxi_skirts/20000004/20000004_0.jpeg"
    broken.write_bytes(b"not a jpeg at all")
    assert check_catalog(root).unreadable_images == []  # images are not opened unless asked
    with pytest.raises(DatasetError) as info:
        check_catalog(root, verify=True)
    assert info.value.path == str(broken) and "1 image file(s) cannot be read" in str(info.value)


# --- FashionIQ -----------------------------------------------------------------------------------


def test_fashioniq_bad_json(tmp_path: Path) -> None:
    root = copy(FIQ, tmp_path)
    path = root / "captions/cap.dress.val.json"
    lines = path.read_text().splitlines()
    assert lines[8] == "    },"
    lines[8] = "    }"  # drop the comma between the two entries: the parser stops at the next "{" (line 10)
    path.write_text("\n".join(lines) + "\n")
    err = error_of(root)
    assert err.path == str(path) and err.line == 10 and "bad JSON" in str(err)


def test_fashioniq_unknown_split(tmp_path: Path) -> None:
    root = copy(FIQ, tmp_path)
    (root / "image_splits/split.dress.test.json").rename(root / "image_splits/split.dress.foo.json")
    err = error_of(root)
    assert err.path == str(root / "image_splits/split.dress.foo.json") and "unknown split 'foo'" in str(err)
    root2 = copy(FIQ, tmp_path / "b")
    (root2 / "captions/cap.dress.val.json").rename(root2 / "captions/cap.dress.json")
    assert "unexpected caption file name" in str(error_of(root2))


def _edit_entry(path: Path, index: int, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data[index])
    path.write_text(json.dumps(data, indent=4) + "\n")


def test_fashioniq_entry_errors_name_the_line(tmp_path: Path) -> None:
    root = copy(FIQ, tmp_path)
    path = root / "captions/cap.dress.train.json"
    _edit_entry(path, 2, lambda e: e.pop("captions"))
    err = error_of(root)
    assert (err.path, err.line) == (str(path), 18) and "entry 2" in str(err) and "captions" in str(err)
    shutil.copy(FIQ / "captions/cap.dress.train.json", path)
    _edit_entry(path, 1, lambda e: e.pop("target"))
    err = error_of(root)
    assert (err.path, err.line) == (str(path), 10) and "only test files may omit it" in str(err)


def test_fashioniq_query_unknown_image(tmp_path: Path) -> None:
    root = copy(FIQ, tmp_path)
    path = root / "captions/cap.toptee.train.json"
    _edit_entry(path, 1, lambda e: e.update(candidate="B0NOTLISTED"))
    err = error_of(root)
    assert (err.path, err.line) == (str(path), 10) and "B0NOTLISTED" in str(err)
    assert "split.toptee.train.json" in err.fix


def test_fashioniq_split_file_not_a_list(tmp_path: Path) -> None:
    root = copy(FIQ, tmp_path)
    (root / "image_splits/split.toptee.train.json").write_text('{"asins": []}\n')
    err = error_of(root)
    assert err.path == str(root / "image_splits/split.toptee.train.json") and "JSON list of ASINs" in str(err)


# --- demo meta/ ----------------------------------------------------------------------------------


def make_demo(tmp_path: Path) -> Path:
    root = copy(F200K, tmp_path)
    (root / "meta").mkdir()
    cat = load_catalog(F200K)
    (root / "meta/attributes.jsonl").write_text(
        "".join(
            json.dumps(
                {
                    "image_id": im.image_id,
                    "product_id": im.product_id,
                    "category": "dress",
                    "split": im.split,
                    "attributes": ["color:black"],
                }
            )
            + "\n"
            for im in cat.images
        )
    )
    q = cat.queries[0]
    row = {
        "source": q.source,
        "target": q.target,
        "template": q.text,
        "text": "in green",
        "kind": "single",
        "split": "test",
        "category": "dress",
        "changes": [],
    }
    (root / "meta/queries.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    return root


def test_demo_meta_errors(tmp_path: Path) -> None:
    root = make_demo(tmp_path)
    assert load_catalog(root).source_format == "demo"
    attrs = root / "meta/attributes.jsonl"
    replace_line(attrs, 4, '{"image_id": "women/dresses/x/1/1_0.jpeg", "attributes": []')
    err = error_of(root)
    assert (err.path, err.line) == (str(attrs), 4) and "bad JSON" in str(err)
    replace_line(attrs, 4, '{"image_id": "women/dresses/x/1/1_0.jpeg", "attributes": []}')
    err = error_of(root)
    assert (err.path, err.line) == (str(attrs), 4) and "not in any labels/ file" in str(err)

    root = make_demo(tmp_path / "b")
    queries = root / "meta/queries.jsonl"
    row = json.loads(queries.read_text().splitlines()[1])
    replace_line(queries, 2, json.dumps({**row, "split": "holdout"}))
    err = error_of(root)
    assert (err.path, err.line) == (str(queries), 2) and "unknown split 'holdout'" in str(err)
    replace_line(queries, 2, json.dumps({**row, "target": "women/gone.jpeg"}))
    err = error_of(root)
    assert (err.path, err.line) == (str(queries), 2) and "target image" in str(err)


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "check", str(F200K), "--verify-images"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["images"] == 12 and summary["queries"] == 3 and summary["unreadable_images"] == 0
    assert main(["catalog", "check", str(FIQ), "--format", "fashioniq"]) == 0
    out = capsys.readouterr().out
    assert '"missing_images": 1' in out and "1 missing image file(s)" in out and "B0000DRS11.jpg" in out


def test_cli_check_images_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "check", str(FIQ), "--images", str(tmp_path)]) == 0
    assert '"missing_images": 14' in capsys.readouterr().out


def test_cli_check_malformed_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy(F200K, tmp_path)
    replace_line(root / DRESS_TEST, 2, "only one column")
    assert main(["catalog", "check", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"{root / DRESS_TEST}:2" in err and "Fix:" in err
    broken = root / "women/skirts/maxi_skirts/20000004/20000004_0.jpeg"
    shutil.copy(F200K / DRESS_TEST, root / DRESS_TEST)
    broken.write_bytes(b"\xff\xd8garbage")
    assert main(["catalog", "check", str(root)]) == 0
    assert main(["catalog", "check", str(root), "--verify-images"]) == 2
    assert str(broken) in capsys.readouterr().err
    assert main(["catalog", "check", str(tmp_path / "nowhere")]) == 2
    assert main(["catalog", "check", str(F200K), "--format", "fashioniq"]) == 2


def test_cli_check_shared_fashioniq(capsys: pytest.CaptureFixture[str]) -> None:
    if not (SHARED_FIQ / "captions").is_dir():
        pytest.skip(f"shared FashionIQ files not found at {SHARED_FIQ} (the repo's parent dir holds shared/)")
    assert main(["catalog", "check", str(SHARED_FIQ), "--format", "fashioniq"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[: out.rindex("}") + 1])
    assert summary["images"] == summary["missing_images"] > 70000
    assert summary["queries"] == sum(
        len(json.loads(p.read_text())) for p in (SHARED_FIQ / "captions").glob("cap.*.json")
    )


def test_cli_demo_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("retrieval.catalog.demo.generate", reason="the demo generator is not in this checkout")
    out = tmp_path / "demo"
    assert main(["catalog", "demo", "--out", str(out), "--size", "6", "--seed", "2"]) == 0
    generated = json.loads(capsys.readouterr().out)
    assert generated["products"] == 6
    assert main(["catalog", "check", str(out), "--verify-images"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["format"] == "demo" and summary["products"] == 6 and summary["images"] == generated["images"]
    assert summary["missing_images"] == summary["unreadable_images"] == 0 and summary["attributes"] > 0
