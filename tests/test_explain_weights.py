"""Issue 15: explanations weighted by the model itself.

The weights of ``Engine.explain`` are checked against real removals: each fact is taken out of the DGL
graph (the edge and its reverse), every node is re-embedded by a full R-GCN forward pass, and the
product's score is recomputed from scratch. The edge ranked most important must move the score more than
a random edge of the same neighbourhood, over many (query, product) pairs.
"""

from __future__ import annotations

import random

import dgl
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from retrieval.engine.facade import Engine
from retrieval.engine.why import model_adjacency, neighbourhood
from retrieval.graph import schema
from retrieval.model.attribution import EdgeAttribution, Fact, Query
from retrieval.training.loop import caption_in_edges

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def engine(tiny_model):
    return Engine.load(tiny_model)  # its own: the test re-embeds graphs with the same R-GCN


def _cases(engine: Engine, n_queries: int = 8, per_query: int = 2):
    qs = [q for q in engine.model.catalog.queries if q.split == "test"][:n_queries]
    for q in qs:
        for r in engine.modify(q.source, q.text, k=per_query):
            yield q.source, q.text, r.image_id


@torch.no_grad()
def _score(engine: Engine, g, cand: int, text: str, result: int) -> float:
    """The model's score of ``result`` for (cand, text) on graph ``g``: full forward, composed query."""
    m = engine.model
    feats = {nt: g.nodes[nt].data["feat"] for nt in g.ntypes}
    states = m.rgcn(g, feats, all_layers=True)
    mentioned = engine.mentions(text)
    feat = torch.as_tensor(engine.text_feature(text))[None]
    cap = m.rgcn.sink_states(states, schema.CAPTION, feat, caption_in_edges([cand], [mentioned]))
    q = F.normalize(m.head(m.rgcn.readout(states, schema.IMAGE, torch.tensor([cand])), cap), dim=-1)
    e = F.normalize(m.rgcn.readout(states, schema.IMAGE, torch.tensor([result])), dim=-1)
    return float((q * e).sum())


def _without(g, fact: Fact):
    """A copy of ``g`` without the fact's edges (every copy, both directions)."""
    out = g
    for etype, u, v in ((fact.etype, fact.src, fact.dst), (schema.reverse(fact.etype), fact.dst, fact.src)):
        if etype not in out.canonical_etypes:
            continue
        src, dst = out.edges(etype=etype)
        eids = torch.nonzero((src == u) & (dst == v)).flatten()
        if len(eids):
            out = dgl.remove_edges(out, eids, etype=etype)
    return out


def test_the_top_weighted_edge_moves_the_score_more_than_a_random_one(engine):
    g = engine.model.graph
    rng = random.Random(0)
    top_drops, random_drops, wins, pairs, sign_ok = [], [], 0, 0, 0
    for cand_id, text, result_id in _cases(engine):
        cand, result = engine.node(cand_id), engine.node(result_id)
        exp = engine.explain(cand_id, text, result_id)
        base = _score(engine, g, cand, text, result)
        weighted = [e for e in exp.edges if e.weight != 0.0]
        assert weighted, exp
        top = max(weighted, key=lambda e: abs(e.weight))
        top_fact = Fact((top.src.ntype, top.relation, top.dst.ntype), top.src.node_id, top.dst.node_id)
        facts = neighbourhood(engine.graph, exp, result, cand, engine.mentions(text))
        assert top_fact in facts
        top_drop = base - _score(engine, _without(g, top_fact), cand, text, result)
        sign_ok += np.sign(top_drop) == np.sign(top.weight)
        others = [f for f in facts if f != top_fact]
        for f in rng.sample(others, min(3, len(others))):
            drop = base - _score(engine, _without(g, f), cand, text, result)
            random_drops.append(abs(drop))
            wins += abs(top_drop) > abs(drop)
            pairs += 1
        top_drops.append(abs(top_drop))
    assert len(top_drops) >= 10
    assert np.mean(top_drops) > 2 * np.mean(random_drops), (np.mean(top_drops), np.mean(random_drops))
    assert wins >= 0.8 * pairs, (wins, pairs)
    assert sign_ok >= 0.8 * len(top_drops), (sign_ok, len(top_drops))


def test_weights_match_the_model_score_and_name_what_was_asked(engine):
    m = engine.model
    for cand_id, text, result_id in list(_cases(engine, 4, 2)):
        cand, result = engine.node(cand_id), engine.node(result_id)
        exp = engine.explain(cand_id, text, result_id)
        q = engine.answer.query_vector(cand, text, engine.mentions(text))
        cached = float(q @ engine.embeddings[result])
        weigh = EdgeAttribution(m.rgcn, m.head, m.states, model_adjacency(m)).weigh(
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
