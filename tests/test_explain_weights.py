"""Issue 15: explanations weighted by the model itself.

The weights of ``Engine.explain`` are checked against real removals: each fact is taken out of the DGL
graph (the edge and its reverse), every node is re-embedded by a full R-GCN forward pass, and the
product's score is recomputed from scratch. The edge ranked most important must move the score more than
a random edge of the same neighbourhood, over many (query, product) pairs.
"""

from __future__ import annotations

import pytest

from retrieval.engine.config import EngineConfig
from retrieval.engine.facade import Engine
from retrieval.engine.why import model_adjacency, neighbourhood
from retrieval.evaluation.bench_explain import fact_of, faithfulness, full_score, removal_drop
from retrieval.features.base import torch_threads
from retrieval.graph import schema
from retrieval.model.attribution import EdgeAttribution, Query

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def engine(tiny_model):
    return Engine.load(tiny_model)  # its own: the test re-embeds graphs with the same R-GCN


def _cases(engine: Engine, n_queries: int = 5, per_query: int = 2):
    qs = [q for q in engine.model.catalog.queries if q.split == "test"][:n_queries]
    for q in qs:
        for r in engine.modify(q.source, q.text, k=per_query):
            yield q.source, q.text, r.image_id


def test_the_top_weighted_edge_moves_the_score_more_than_a_random_one(engine):
    """Real removals (edge out of the DGL graph, full forward) over 10 (query, product) pairs, 2 random edges each."""
    with torch_threads(1):  # a full forward per removal: two threads oversubscribe a busy 2-core box
        cases = list(_cases(engine))
        for cand_id, text, result_id in cases[:3]:  # a removal of a weighed edge moves the score as weighed
            cand, result = engine.node(cand_id), engine.node(result_id)
            exp = engine.explain(cand_id, text, result_id)
            q = engine.answer.query_vector(cand, text, engine.mentions(text))
            cached = float(q @ engine.embeddings[result])
            assert full_score(engine, engine.model.graph, cand, text, result) == pytest.approx(cached, abs=1e-4)
            top = max(exp.edges, key=lambda e: abs(e.weight))
            assert removal_drop(engine, cand, text, result, fact_of(top)) == pytest.approx(
                top.weight, abs=0.5 * abs(top.weight)
            )
        f = faithfulness(engine, cases, draws=2, seed=0)
    assert f["pairs"] >= 8
    assert f["top_drop"] > 2 * f["random_drop"], f
    assert f["wins"] >= 0.8 and f["sign"] >= 0.8, f


def test_weights_match_the_model_score_and_name_what_was_asked(engine):
    m = engine.model
    for cand_id, text, result_id in list(_cases(engine, 4, 2)):
        cand, result = engine.node(cand_id), engine.node(result_id)
        exp = engine.explain(cand_id, text, result_id)
        q = engine.answer.query_vector(cand, text, engine.mentions(text))
        cached = float(q @ engine.embeddings[result])
        with torch_threads(1):  # as the engine's calls run
            weigh = EdgeAttribution(m.rgcn, m.head).weigh(
                m.states,
                model_adjacency(m),
                result,
                neighbourhood(engine.graph, exp, result, cand, engine.mentions(text)),
                Query(cand, engine.text_feature(text), tuple(engine.mentions(text))),
            )
        assert weigh.score == pytest.approx(cached, abs=1e-4)
        names = engine.model.ids
        for e in exp.edges:  # every edge exists in the graph, with its label
            etype = (e.src.ntype, e.relation, e.dst.ntype)
            assert names.names(e.src.ntype)[e.src.node_id] == e.src.label
            assert bool(m.graph.has_edges_between(e.src.node_id, e.dst.node_id, etype=etype)), e
        weights = [abs(e.weight) for e in exp.edges]
        assert weights == sorted(weights, reverse=True)
        text_l = exp.text.lower()
        for key in exp.matched + exp.missing:  # every asked value it has and lacks is named
            assert key.split(":")[1] in text_l, (key, exp.text)
        if exp.path:
            assert "EI path " + " > ".join(exp.path) in exp.text
        if any(e.weight > 0 for e in exp.edges):
            assert exp.text.startswith("Mostly because it "), exp.text
        words = exp.query_edges[0]
        assert (words.src.node_id, words.src.label, words.relation, words.dst.node_id) == (-1, text, "modifies", cand)
        assert {e.dst.node_id for e in exp.query_edges[1:]} == set(engine.mentions(text))


def test_search_explanations_are_weighted_too(engine):
    r = engine.search("black dress with long sleeves", k=3)[0]
    exp = engine.explain(None, "black dress with long sleeves", r.image_id)
    assert any(e.weight != 0.0 for e in exp.edges) and exp.query_edges == ()
    for key in exp.matched + exp.missing:
        assert key.split(":")[1] in exp.text.lower()


def test_likes_and_statements_are_weighed(tiny_model, tmp_path):
    """A staff like and a staff statement are graph edges: explain weighs them and says so."""
    engine = Engine.load(tiny_model, cfg=EngineConfig(log_url=f"sqlite:///{tmp_path / 'log.db'}", trusted=("anna",)))
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    cand = engine.node(q.source)
    liked = engine.modify(q.source, q.text, k=4)[2]
    engine.like(q.source, q.text, [liked.image_id], "anna")
    exp = engine.explain(q.source, q.text, liked.image_id)
    like = [e for e in exp.edges if e.relation in (schema.LIKED_FROM, schema.LIKED_WITH) and cand in _ends(e)]
    assert like and like[0].weight > 0 and like[0] in exp.edges[:3], exp.edges[:4]
    assert "liked together with your pick" in exp.text
    with torch_threads(1):
        drop = removal_drop(engine, cand, q.text, engine.node(liked.image_id), fact_of(like[0]))
    assert drop > 0  # taking the like out of the graph lowers the score, as weighed
    stated = engine.modify(q.source, q.text, k=4)[1]
    receipt = engine.add_metadata(stated.image_id, "that one is linen", "anna")
    assert "material:linen" in receipt.attributes
    why = engine.explain(q.source, "make it linen", stated.image_id)
    edge = next(e for e in why.edges if e.relation == schema.HAS_USER_ATTRIBUTE and e.dst.label == "material:linen")
    assert edge.weight != 0.0 and ("material:linen", "anna") in why.stated
    assert "linen (stated by anna)" in why.text


def _ends(edge) -> set[int]:
    return {n.node_id for n in (edge.src, edge.dst) if n.ntype == schema.IMAGE}
