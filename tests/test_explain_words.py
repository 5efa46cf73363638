"""Issue 15: the words of a model-weighted explanation (retrieval/graph/weighted.py) on a hand-made graph."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.api import GraphEdge, GraphNode
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.graph import schema
from retrieval.graph.build import build_graph
from retrieval.graph.explain import Explainer, GraphFacts
from retrieval.graph.weighted import edge_key, weighted_explanation

IMAGES = {
    "red-dress": ["category:dress", "color:red", "fit:a-line", "length:knee-length", "details:belt"],
    "black-dress": ["category:dress", "color:black", "fit:a-line", "length:knee-length", "details:belt"],
    "navy-skirt": ["category:skirt", "color:navy", "details:pockets"],
}


@pytest.fixture(scope="module")
def hand():
    tax = Taxonomy.load()
    ids = list(IMAGES)
    info = build_graph(
        ids,
        [IMAGES[i] for i in ids],
        [],
        tax,
        image_features=np.zeros((len(ids), 4), np.float32),
        caption_features=np.zeros((0, 8), np.float32),
        text_encoder=lambda texts: np.zeros((len(texts), 8), np.float32),
    )
    facts = GraphFacts.from_graph(info.graph, info.ids, tax)
    return info, facts, Explainer(facts)


def _has(info, image: str, attr: str) -> tuple[str, int, str, str, int]:
    i, a = info.ids.index(schema.IMAGE)[image], info.ids.index(schema.ATTRIBUTE)[attr]
    return (schema.IMAGE, i, schema.HAS_ATTRIBUTE, schema.ATTRIBUTE, a)


def test_the_words_lead_with_the_strongest_reasons(hand):
    info, facts, ex = hand
    red, black = info.ids.index(schema.IMAGE)["red-dress"], info.ids.index(schema.IMAGE)["black-dress"]
    want = [info.ids.index(schema.ATTRIBUTE)[k] for k in ("color:black", "details:pockets")]
    base = ex.explain(red, want, black)
    weights = {
        _has(info, "black-dress", "color:black"): 0.3,
        _has(info, "black-dress", "fit:a-line"): 0.1,
        _has(info, "red-dress", "fit:a-line"): 0.1,
        _has(info, "black-dress", "length:knee-length"): 0.01,
    }
    exp = weighted_explanation(facts, base, weights, result=black, candidate=red)
    assert exp.text.startswith(
        "Mostly because it has black instead of red as you asked and shares a-line with your pick; "
        "but it lacks pockets, which you asked for; shares knee-length and belt with your pick; "
        "EI path clothing > full-body > dress."
    ), exp.text
    assert [edge_key(e) for e in exp.edges[:3]] == [
        _has(info, "black-dress", "color:black"),
        *sorted([_has(info, "black-dress", "fit:a-line"), _has(info, "red-dress", "fit:a-line")], key=lambda k: k[1]),
    ]
    assert all(e.weight == weights.get(edge_key(e), 0.0) for e in exp.edges)
    # a like that outweighs every attribute leads; every asked value is still named
    like = GraphEdge(
        GraphNode(schema.IMAGE, black, "black-dress"), schema.LIKED_FROM, GraphNode(schema.IMAGE, red, "red-dress"), 0.9
    )
    exp = weighted_explanation(facts, base, weights, result=black, candidate=red, extra=[like])
    assert exp.text.startswith("Mostly because it was liked together with your pick and has black instead of red")
    assert exp.edges[0] == like and "lacks pockets" in exp.text
    # nothing weighed: the facts' words, in the facts' order, no lead
    plain = weighted_explanation(facts, base, {}, result=black, candidate=red)
    assert plain.text.startswith("Has black instead of red as you asked, but lacks pockets;")
