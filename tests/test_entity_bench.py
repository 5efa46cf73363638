"""bench/entities.py measures entity recall on templates and sentences the NLU never trains on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from retrieval.catalog.taxonomy import Taxonomy, normalise_text
from retrieval.catalog.vocabulary import MODIFY_TEMPLATES, VocabConfig, generated_examples

REPO = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_entities", REPO / "bench" / "entities.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entity_bench_turns_are_held_out_and_cover_every_cell() -> None:
    bench = _bench()
    held_out = {t for templates in bench.HELD_OUT.values() for t in templates}
    assert not held_out & set(MODIFY_TEMPLATES)
    taxonomy = Taxonomy.load(REPO / "data" / "taxonomy.yml")
    turns = bench.make_turns(taxonomy, 20, seed=7)
    assert {(t["changes"], t["negated"]) for t in turns} == set(bench.HELD_OUT)
    assert all(len(t["gold"]) == t["changes"] for t in turns)
    trained = {normalise_text(x) for texts in generated_examples(taxonomy, VocabConfig()).values() for x in texts}
    assert not trained & {t["text"] for t in turns}


def test_entity_bench_report_counts_recall_per_cell() -> None:
    bench = _bench()
    turns = [
        {"text": "a", "changes": 1, "negated": False, "gold": [["color", "red"]]},
        {"text": "b", "changes": 2, "negated": True, "gold": [["color", "red"], ["details", "pockets"]]},
    ]
    parses = [
        {"intent": {"name": "modify"}, "entities": [{"entity": "color", "value": "red"}]},
        {"intent": {"name": "modify"}, "entities": [{"entity": "color", "value": "red"}]},
    ]
    out = bench.report(turns, parses, 1.0)
    assert out["by_cell"]["1 change"]["entity_recall"] == 100.0
    assert out["by_cell"]["2 changes + negation"]["entity_recall"] == 50.0
    assert out["overall"]["all_entities_found"] == 50.0 and out["overall"]["precision"] == 100.0
