"""``evaluate``: every method side by side, the JSON schema, the markdown table and the plot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_train import small_config

from retrieval.catalog.demo.generate import generate_demo_catalog
from retrieval.evaluation.baselines import BaselineConfig, Queries, attribute_intersection_scores
from retrieval.evaluation.evaluate import METHODS, evaluate, evaluate_by_category, markdown_table
from retrieval.metrics import recall_at_k, target_ranks
from retrieval.training.run import train


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    demo = tmp_path_factory.mktemp("demo") / "catalog"
    generate_demo_catalog(demo, 120, 5, workers=1)
    out = tmp_path_factory.mktemp("model") / "engine"
    train(demo, out, small_config(epochs=6, caption_graph=True), cache_dir=tmp_path_factory.mktemp("c"), progress=False)
    return out


@pytest.mark.engine  # trains or exports a model
def test_evaluate_json_schema_table_and_plot(model_dir, tmp_path):
    out_json, png = tmp_path / "eval.json", tmp_path / "recall.png"
    report = evaluate(model_dir, out_json, plot=png, baseline_cfg=BaselineConfig(epochs=3), progress=False)
    data = json.loads(out_json.read_text())
    assert data == report
    assert set(data) == {"dataset", "match", "queries", "results"} and data["queries"] > 0
    assert (data["dataset"], data["match"]) == ("demo", "product")
    assert list(data["results"]) == list(METHODS)
    for r in data["results"].values():
        assert list(r) == ["R@1", "R@10", "R@50", "R@100"]
        assert all(0.0 <= v <= 100.0 for v in r.values())
        assert r["R@1"] <= r["R@10"] <= r["R@50"] <= r["R@100"]
    assert png.is_file() and png.stat().st_size > 1000
    table = markdown_table(data)
    assert table.count("\n") == len(METHODS) + 1 and "| graph-predicted |" in table


@pytest.mark.engine  # trains or exports a model
def test_fashioniq_protocol_per_category(model_dir):
    out = evaluate_by_category(model_dir, methods=("image-only", "graph-predicted"))
    assert set(out) == {"image-only", "graph-predicted"}
    for cats in out.values():
        for r in cats.values():
            assert set(r) == {"R@10", "R@50", "R@100", "queries", "gallery"}


def test_ranks_exclude_candidate_and_count_product_photos():
    scores = np.array([[0.9, 0.8, 0.1, 0.5]])
    # the candidate (column 0) is excluded, so the target (column 3) is second after column 1
    assert target_ranks(scores, [np.array([3])], np.array([0])).tolist() == [1]
    # any photo of the target product counts: column 1 is one
    assert target_ranks(scores, [np.array([3, 1])], np.array([0])).tolist() == [0]
    assert recall_at_k(np.array([0, 5, 50]), (1, 10)) == {"R@1": 33.33, "R@10": 66.67}


def test_attribute_intersection_prefers_x_and_y():
    feats = np.eye(4, dtype=np.float32)
    attrs = [
        ["color:red", "length:mini"],
        ["color:black", "length:mini"],
        ["color:black", "length:maxi"],
        ["color:red", "length:maxi"],
    ]
    q = Queries(np.array([0]), np.array([1]), np.zeros((1, 3), np.float32), ["replace red with black"])
    scores = attribute_intersection_scores(feats, attrs, q, np.arange(4), lambda t: ["color:red", "color:black"])
    assert int(np.argmax(scores[0])) == 1  # black (X) and mini like the candidate (Y)
    assert scores[0, 2] > scores[0, 3]  # in X beats sharing nothing asked
