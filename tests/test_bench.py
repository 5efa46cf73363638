"""``tailor bench`` at tiny sizes: the JSON keys, the synthetic scale-up, the numpy baseline."""

from __future__ import annotations

import json

import numpy as np

from retrieval.cli.main import main
from retrieval.engine.facade import EngineConfig
from retrieval.evaluation.bench import BenchConfig, NumpyIndex, run_benchmark, scaled_engine
from retrieval.evaluation.bench_report import markdown_table
from retrieval.index.vectors import IndexConfig


def test_bench_writes_the_contract_keys(tiny_model, tiny_engine, tmp_path):
    n = 2 * len(tiny_engine.items.image_ids) + 7
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    cfg = BenchConfig(sizes=(n,), queries=6, warmup=1, hnsw=IndexConfig(kind="hnsw", hnsw_m=8, ef_construction=20))
    report = run_benchmark(tiny_model, cfg, out_json=out, plot=png)
    data = json.loads(out.read_text())
    assert data["sizes"].keys() == {"demo", str(n)}
    for name, row in data["sizes"].items():
        for key in (
            "modify_p50_ms",
            "modify_p99_ms",
            "search_p50_ms",
            "search_p99_ms",
            "numpy_modify_p99_ms",
            "modify_cached_text_p99_ms",
        ):
            assert row[key] > 0, (name, key)
        assert row["modify_p50_ms"] <= row["modify_p99_ms"]
        assert 0.0 <= row["hnsw"]["recall@10"] <= 1.0 and row["hnsw"]["modify_cached_text_p99_ms"] > 0
        assert row["exact"]["modify_cached_text_p99_ms"] > 0 and row["index"] == "flat"
        assert row["exact"]["build_s"] is None and row["hnsw"]["build_s"] >= 0  # the engine's own index is reused
    assert data["sizes"]["demo"]["synthetic"] is False and data["sizes"][str(n)]["synthetic"] is True
    assert data["sizes"][str(n)]["images"] == n and data["sizes"]["demo"]["text_encode_p99_ms"] > 0
    demo = data["sizes"]["demo"]
    for key in ("interaction_p50_ms", "interaction_p99_ms", "full_reembed_ms"):
        assert demo[key] > 0, key
        assert key not in data["sizes"][str(n)]  # measured at the demo size only
    assert demo["interaction_p50_ms"] <= demo["interaction_p99_ms"]
    assert demo["interaction_p50_ms"] < demo["full_reembed_ms"]  # incremental beats a full re-embed
    assert 0 <= demo["interaction_max_error"] < 0.05 and "interaction" in markdown_table(report)
    assert 0 < demo["undo_longest_search_ms"] < demo["undo_global_ms"]  # the reload does not hold the lock
    assert "global undo" in markdown_table(report)
    assert 0 < demo["undo_like_p50_ms"] <= demo["undo_like_p99_ms"] and demo["undo_like_longest_search_ms"] > 0
    assert "Undo of a like" in markdown_table(report)
    assert data["peak_memory_mb"] > 0 and "synthetic" in data["note"]
    assert png.is_file() and png.stat().st_size > 1000
    table = markdown_table(report)
    assert table.count("\n| ") >= 2 and f"{n} (synthetic)" in table


def test_large_catalogs_switch_to_hnsw():
    cfg = EngineConfig()
    assert cfg.index_for(1000).kind == "flat" and cfg.index_for(200_000).kind == "hnsw"
    assert EngineConfig(hnsw_above=0).index_for(200_000).kind == "flat"


def test_scaled_engine_keeps_real_nodes_and_explains_copies(tiny_engine):
    n0 = len(tiny_engine.items.image_ids)
    big = scaled_engine(tiny_engine, 3 * n0 + 1, seed=1, noise=0.05)
    assert len(big.items.image_ids) == len(big.index) == 3 * n0 + 1
    np.testing.assert_array_equal(big.embeddings[:n0], tiny_engine.embeddings)
    np.testing.assert_allclose(np.linalg.norm(big.embeddings, axis=1), 1.0, atol=1e-5)
    copy = 2 * n0 + 5
    assert big.items.image_ids[copy].startswith(tiny_engine.items.image_ids[5] + "#syn")
    assert big.facts.attributes_of(copy) == tiny_engine.facts.attributes_of(5)
    q = next(q for q in tiny_engine.model.catalog.queries if q.split == "test")
    results = big.modify(q.source, q.text, k=10)
    assert len(results) == 10 and q.source not in {r.image_id for r in results}
    assert all(r.explanation.text for r in results)
    assert len(big.search("black dress", k=10)) == 10


def test_numpy_baseline_equals_exact_faiss(tiny_engine):
    idx = NumpyIndex(tiny_engine.embeddings)
    rng = np.random.default_rng(0)
    q = rng.normal(size=(3, tiny_engine.embeddings.shape[1])).astype(np.float32)
    s1, i1 = idx.search(q, 7, exclude={1, 2})
    s2, i2 = tiny_engine.index.search(q, 7, exclude={1, 2})
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_allclose(s1, s2, atol=1e-5)


def test_cli_bench(tiny_model, tiny_engine, tmp_path, capsys):
    n = len(tiny_engine.items.image_ids) + 50
    out = tmp_path / "b.json"
    assert main(["bench", "--model", str(tiny_model), "--json", str(out), "--sizes", str(n), "--queries", "3"]) == 0
    assert "| demo |" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert {"modify_p50_ms", "modify_p99_ms", "search_p99_ms"} <= set(data["sizes"][str(n)])
    assert out.with_suffix(".png").is_file()
