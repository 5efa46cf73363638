"""Issue 11: the EI tree honoured by ``modify``, and the shopper-side measurements (satisfaction, sessions)."""

from __future__ import annotations

import random

import pytest

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.engine.request import parse_request
from retrieval.evaluation.satisfaction import Truth, engine_modify, make_requests, measure
from retrieval.evaluation.session import engine_search, run_sessions
from retrieval.evaluation.wording import phrase_changes, reads_as

CAND = {"color:black", "pattern:striped", "sleeve:long-sleeve", "details:hood", "material:cotton"}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


# -- the request: words -> EI-tree requirements (unit) ------------------------------------------
def test_exclusive_value_replaces_and_category_is_kept(taxonomy):
    req = parse_request("like this but in red", "dress", CAND, taxonomy)
    assert req.category == "dress" and not req.new_category
    assert req.want == ("color:red",) and req.drop == ()
    assert "color:black" not in req.keep  # replaced, not kept
    assert {"pattern:striped", "sleeve:long-sleeve", "details:hood"} <= set(req.keep)
    assert "material:cotton" not in req.keep  # invisible groups are not "kept" preferences


def test_independent_value_adds_and_negation_removes(taxonomy):
    req = parse_request("with pockets and without the hood", "dress", CAND, taxonomy)
    assert req.want == ("details:pockets",)
    assert req.drop == ("details:hood",)
    assert "details:hood" not in req.keep and "color:black" in req.keep


def test_negated_exclusive_value_and_new_category(taxonomy):
    req = parse_request("not striped, as a skirt", "dress", CAND, taxonomy)
    assert req.drop == ("pattern:striped",)
    assert req.category == "skirt" and req.new_category
    assert "sleeve:long-sleeve" not in req.keep  # sleeves do not apply to skirts


def test_later_words_win_in_an_exclusive_group(taxonomy):
    req = parse_request("in blue instead of red", "dress", CAND, taxonomy)
    assert req.want == ("color:blue",) and req.drop == ("color:red",)


def test_generated_wording_reads_back_as_the_changes(taxonomy):
    rng = random.Random(3)
    keys = taxonomy.attributes()
    ok = 0
    for _ in range(200):
        changes = [(k, rng.random() < 0.8) for k in rng.sample(keys, rng.randint(1, 3))]
        if len({c[0].split(":")[0] for c in changes}) < len(changes):
            continue
        ok += reads_as(phrase_changes(changes, taxonomy, rng), taxonomy) == set(changes)
    assert ok >= 120  # of ~150 kept; the taxonomy's ambiguous synonyms cost a few


# -- on the tiny trained engine ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def truth(tiny_engine) -> Truth:
    return Truth.from_catalog(tiny_engine.model.catalog, split=None)


def test_requests_are_supported_and_varied(tiny_engine, truth):
    reqs = make_requests(truth, tiny_engine.taxonomy, 2, 40, min_support=2)
    assert len(reqs) >= 30
    assert all(r.support >= 2 and len(r.changes) == 2 for r in reqs)
    assert len({r.text.split()[0] for r in reqs}) >= 5  # several templates
    assert any(not wanted for r in reqs for _, wanted in r.changes)  # negations too


def test_satisfaction_floors(tiny_engine, truth):
    from retrieval.evaluation import satisfaction

    reqs = {a: make_requests(truth, tiny_engine.taxonomy, a, 40, min_support=2) for a in (1, 2)}
    assert all(len(r) >= 30 for r in reqs.values())
    report = measure(engine_modify(tiny_engine), truth, tiny_engine.taxonomy, per_arity=40, progress=False)
    assert satisfaction.ARITIES == (1, 2, 3)
    assert report["1"]["all"] >= 60.0, report
    assert report["2"]["all"] >= 45.0, report
    assert report["1"]["category"] >= 90.0 and report["2"]["category"] >= 90.0, report
    assert report["1"]["kept"] >= 20.0, report


def test_modify_replaces_adds_removes_and_keeps_category(tiny_engine, truth):
    tax = tiny_engine.taxonomy
    seen = 0
    for req in make_requests(truth, tax, 1, 30, min_support=2, seed=5):
        results = tiny_engine.modify(req.candidate, req.text, k=4)
        assert len(results) == 4
        cat = truth.category[req.candidate]
        assert sum(r.category == cat for r in results) >= 3, req.text
        good = sum(truth.satisfies(r.image_id, cat, req.changes) for r in results)
        assert good >= 2, (req.text, [sorted(truth.attrs[r.image_id]) for r in results])
        seen += 1
    assert seen >= 20


def test_unmet_values_are_reported(tiny_engine, truth):
    cand = truth.first_photo[sorted(truth.first_photo)[0]]
    results = tiny_engine.modify(cand, "in red, floral, with a hood, pockets and a belt, made of leather", k=4)
    assert len(results) == 4  # the closest are still shown
    assert results.unmet, "an impossible request must say what could not be met"
    assert all(isinstance(u, str) and ":" in u for u in results.unmet)
    req = make_requests(truth, tiny_engine.taxonomy, 1, 1, min_support=4, seed=2)[0]
    met = tiny_engine.modify(req.candidate, req.text, k=4)
    assert met.satisfied >= 1 and not met.unmet, (req.text, met.unmet)


def test_sessions_find_the_target(tiny_engine, truth):
    rep = run_sessions(
        engine_search(tiny_engine), engine_modify(tiny_engine), truth, tiny_engine.taxonomy, n=30, progress=False
    )
    assert rep["n"] == 30 and len(rep["hits@4"]) == 5
    assert rep["hits@4"] == sorted(rep["hits@4"])  # cumulative
    assert rep["hits@4"][-1] >= 50.0, rep
    assert rep["hits@10"][-1] >= rep["hits@4"][-1]
