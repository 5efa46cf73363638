"""``tailor simulate`` on the tiny fixtures (real DGL / FAISS): Table 3 / Table 4 report shapes, edges, CLI files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.cli.main import main
from retrieval.engine.facade import Engine
from retrieval.evaluation.simulate import SimulateConfig, connection_accuracy, simulate
from retrieval.evaluation.simulate_report import markdown_table
from retrieval.graph import schema
from retrieval.graph.build import InfoGraph
from retrieval.training.sim_edits import (
    attribute_ranking,
    count_edges,
    like_edges,
    liked_sets,
    true_attributes,
    warmup_keys,
)

RECALLS = {"R@1", "R@10", "R@50"}


def test_more_metadata_rows(tiny_model, tmp_path):
    out, md, png = tmp_path / "mm.json", tmp_path / "mm.md", tmp_path / "mm.png"
    report = simulate(tiny_model, "more-metadata", out_json=out, markdown=md, plot=png, progress=False)
    data = json.loads(out.read_text())
    assert data["rows"].keys() == {"AA1", "AA2", "AA3", "AA4", "AA5"}
    for name, row in data["rows"].items():
        assert row.keys() == RECALLS, name
        assert all(0.0 <= v <= 100.0 for v in row.values()) and row["R@1"] <= row["R@10"] <= row["R@50"]
    d = data["details"]
    assert 0 < d["AA2"]["edges"] < d["AA3"]["edges"] and 0 < d["AA4"]["edges"] < d["AA3"]["edges"]
    assert d["AA5"]["edges"] > 0 and d["AA5"]["new_attribute_nodes"] > 0
    assert len(data["attribute_ranking"]) == 15 and data["queries"] > 0
    assert md.read_text().count("\n| AA") == 5 and png.stat().st_size > 1000
    assert "| AA2 |" in markdown_table(report)


def test_i_like_that_rows_edges_and_connection_accuracy(tiny_model, tmp_path):
    cfg = SimulateConfig(likes=12)
    data = simulate(tiny_model, "i-like-that", cfg, out_json=tmp_path / "il.json", progress=False)
    assert json.loads((tmp_path / "il.json").read_text())["rows"] == data["rows"]
    assert data["rows"].keys() == {"BB1", "BB2"}
    assert data["rows"]["BB1"].keys() == RECALLS
    bb2 = data["rows"]["BB2"]
    assert bb2.keys() == RECALLS | {"edges", "connection_accuracy"}
    assert bb2["edges"] == sum(data["details"]["BB2"]["edges_by_relation"].values()) > 0
    assert 0.0 <= bb2["connection_accuracy"] <= 100.0
    assert data["interactions"] == 12 and data["overlap"] is True
    assert data["held_out"]["queries"] == data["queries"] - 12


def test_like_edges_and_liked_sets():
    edges = like_edges([[1, 2, 3], [2, 3, 9]], [5, 3], first_caption=100)
    assert sorted(edges[schema.LIKE_RELATIONS[0]]) == [(1, 2), (1, 3), (2, 3), (2, 9), (3, 9)]  # (2, 3) once
    assert edges[schema.LIKE_RELATIONS[1]] == [(1, 100), (2, 100), (3, 100), (2, 101), (3, 101), (9, 101)]
    assert edges[schema.LIKE_RELATIONS[2]] == [(1, 5), (2, 5), (3, 5), (2, 3), (9, 3)]  # no candidate -> itself
    assert count_edges(edges) == 5 + 6 + 5
    emb = np.eye(6, dtype=np.float32)
    emb[4] = emb[0] * 0.9 + emb[1] * 0.1
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    liked = liked_sets(emb, [0], [1], np.arange(6), 3)
    assert liked[0][:2] == [0, 4] and 1 not in liked[0] and len(liked[0]) == 3
    top = np.array([[0, 4, 5], [3, 5, 2], [0, 1, 2]])
    assert connection_accuracy(top, [[0, 4], [0, 4], [0, 9]]) == (50.0, 2)


def test_warmup_learns_on_other_attributes_and_saves_the_catalog_graph(tiny_model):
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    warm = metrics["warmup"]
    assert warm["metadata_edges"] > 0 and warm["likes"] > 0 and warm["like_edges"] > 0
    tm = Engine.load(tiny_model).model
    ranking = attribute_ranking(true_attributes(tm.catalog))
    assert not set(warm["attributes"]) & set(ranking[:15])  # never the evaluated attributes
    assert warm["attributes"] == warmup_keys(ranking, tm.ids.attributes, skip=15, n=len(warm["attributes"]))
    g = InfoGraph.load(tiny_model).graph
    for etype in (*schema.LIKE_RELATIONS, schema.IMAGE_HAS_USER_ATTRIBUTE):
        assert g.num_edges(etype) == 0  # warm-up edges trained the model but are not in the saved graph


def test_incremental_reembed_stays_local_and_close_to_exact(tiny_model):
    engine = Engine.load(tiny_model)
    tm = engine.model
    assert tm.reembed_tol > 0
    liked = [0, 1, 2]
    edit = {
        "nodes": {schema.CAPTION: [("make it red", engine.text_feature("make it red"))]},
        "edges": like_edges([liked], [5], tm.graph.num_nodes(schema.CAPTION)),
    }
    changed = engine.apply_edit(**edit)
    assert 0 < len(changed[schema.IMAGE]) < len(tm.ids.images) // 2
    kept = tm.image_embeddings().copy()
    np.testing.assert_allclose(engine.index.vector(0), kept[0], atol=1e-6)
    tm.refresh()
    assert np.abs(kept - tm.image_embeddings()).max() < 0.02


def test_cli_simulate_writes_json_markdown_and_png(tiny_model, tmp_path, capsys):
    out = tmp_path / "sim" / "likes.json"
    assert (
        main(["simulate", "--model", str(tiny_model), "--protocol", "i-like-that", "--json", str(out), "--likes", "8"])
        == 0
    )
    assert "| BB2 |" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["rows"]["BB2"]["edges"] > 0
    assert out.with_suffix(".md").read_text().startswith("| row |") and out.with_suffix(".png").stat().st_size > 1000


def test_unknown_protocol_is_a_config_error(tiny_model):
    from retrieval.errors import ConfigError

    with pytest.raises(ConfigError, match="protocol"):
        simulate(tiny_model, "thumbs-up")
