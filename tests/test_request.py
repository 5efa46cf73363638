"""The EI-tree request step's evidence: per-image attribute keys follow every edit of the graph facts."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.engine.request import Evidence
from retrieval.graph.build import build_graph
from retrieval.graph.facts import GraphFacts

pytestmark = pytest.mark.unit

IMAGES = {
    "red-dress": ["category:dress", "color:red", "fit:a-line"],
    "navy-skirt": ["category:skirt", "color:navy"],
}


@pytest.fixture
def evidence() -> tuple[Evidence, GraphFacts]:
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
    return Evidence(facts, ["dress", "skirt"], ["", ""], tax), facts


def test_keys_follow_statements_and_drops(evidence):
    ev, facts = evidence
    assert {"category:dress", "color:red", "fit:a-line"} <= ev.keys(0)
    linen = facts.add_attribute("material:linen", int(facts.attr_concept[facts.attr_keys.index("color:red")]))
    facts.add_image_attribute(0, linen)
    assert "material:linen" in ev.keys(0), "a statement made after the first read must show"
    facts.drop_image_attribute(0, facts.attr_keys.index("color:red"))
    assert "color:red" not in ev.keys(0), "a replaced attribute must disappear"
    assert ev.keys(1) >= {"category:skirt", "color:navy"}


def test_images_with_follows_statements_and_drops(evidence):
    ev, facts = evidence
    assert ev.images_with("color:red").tolist() == [0]
    assert ev.images_with("color:red") is ev.images_with("color:red"), "cached while the facts are unchanged"
    facts.add_image_attribute(1, facts.attr_keys.index("color:red"))
    assert ev.images_with("color:red").tolist() == [0, 1], "a statement made after the first read must show"
    facts.drop_image_attribute(0, facts.attr_keys.index("color:red"))
    assert ev.images_with("color:red").tolist() == [1], "a replaced attribute must disappear"
