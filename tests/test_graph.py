"""Graph construction on a tiny synthetic catalog: edge counts, concepts, save / load round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retrieval.catalog.records import Catalog, ImageRecord, ModQuery
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.graph import schema
from retrieval.graph.build import (
    CaptionSpec,
    GraphIds,
    InfoGraph,
    MentionFinder,
    PhraseMatcher,
    build_graph,
    caption_attribute_keys,
    edge_counts,
    taxonomy_attribute_keys,
)


def fake_text(texts: list[str]) -> np.ndarray:
    rows = [np.random.RandomState(len(t) + 7 * sum(map(ord, t)) % 1000).randn(6) for t in texts]
    return np.stack(rows).astype(np.float32)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    images = [
        ImageRecord("a", "p1", "a.jpg", "red knee-length dress", "dress", "train", ("color:red", "length:knee-length")),
        ImageRecord(
            "b", "p2", "b.jpg", "black knee-length dress", "dress", "train", ("color:black", "length:knee-length")
        ),
        ImageRecord(
            "c", "p3", "c.jpg", "striped cotton shirt", "shirt", "test", ("pattern:striped", "material:cotton")
        ),
        ImageRecord("d", "p4", "d.jpg", "floral cotton shirt", "shirt", "test", ("pattern:floral", "material:cotton")),
    ]
    queries = [
        ModQuery("a", "b", "replace red with black", split="train"),
        ModQuery("c", "d", "floral instead of stripes", split="test"),
    ]
    return Catalog(tmp_path_factory.mktemp("cat"), images, queries)


def build(catalog: Catalog, taxonomy: Taxonomy, source: str) -> InfoGraph:
    if source == "caption":
        attrs = [caption_attribute_keys(im.caption) for im in catalog.images]
        extra: list[str] = []
    else:
        attrs = [[f"category:{im.category}", *im.attributes] for im in catalog.images]
        extra = taxonomy_attribute_keys(taxonomy)
    keys = list(dict.fromkeys([*extra, *(k for a in attrs for k in a)]))
    mention = MentionFinder(source, taxonomy, keys)
    train = [q for q in catalog.queries if q.split == "train"]
    caps = [CaptionSpec(q.text, q.source, tuple(mention(q.text)), i) for i, q in enumerate(train)]
    return build_graph(
        [im.image_id for im in catalog.images],
        attrs,
        caps,
        taxonomy,
        image_features=np.random.RandomState(0).randn(4, 10).astype(np.float32),
        caption_features=fake_text([c.text for c in caps]),
        text_encoder=fake_text,
        extra_attributes=extra,
    )


def test_edge_counts_ground_truth(catalog, taxonomy):
    info = build(catalog, taxonomy, "ground-truth")
    g, ids = info.graph, info.ids
    counts = edge_counts(g)
    assert counts["image:has_attribute:attribute"] == 12  # 4 images x (category + 2 attributes)
    assert counts["attribute:rev_has_attribute:image"] == 12
    assert counts["caption:modifies:image"] == 1
    assert counts["caption:mentions:attribute"] == 2  # red, black
    assert counts["image:liked_with:image"] == 0 and counts["user:likes:image"] == 0
    assert set(g.canonical_etypes) == set(schema.ALL_RELATIONS)
    # every attribute is-a exactly one concept; the concept tree reaches the root once per concept
    assert counts["attribute:is_a:concept"] == len(ids.attributes)
    assert counts["concept:is_a:concept"] == len(ids.concepts) - 1
    assert len(ids.attributes) == len(taxonomy_attribute_keys(taxonomy))
    dress = ids.index("attribute")["category:dress"]
    parent = g.successors(dress, etype=schema.ATTRIBUTE_IS_A).tolist()
    assert [ids.concepts[p] for p in parent] == ["full-body"]
    red = ids.index("attribute")["color:red"]
    red_parent = g.successors(red, etype=schema.ATTRIBUTE_IS_A).tolist()
    assert [ids.concepts[p] for p in red_parent] == ["group:color"]
    # the caption node modifies image "a" and carries its text feature
    assert g.successors(0, etype=schema.CAPTION_MODIFIES).tolist() == [0]
    assert g.nodes["caption"].data["feat"].shape == (1, 6)
    assert g.nodes["image"].data["feat"].shape == (4, 10)


def test_caption_based_attributes(catalog, taxonomy):
    info = build(catalog, taxonomy, "caption")
    ids = info.ids
    assert "caption-first:red" in ids.attributes and "caption-rest:knee-length dress" in ids.attributes
    assert edge_counts(info.graph)["image:has_attribute:attribute"] == 8
    # "replace red with black" mentions the first-word attributes red and black (exact phrase match)
    mentioned = info.graph.successors(0, etype=schema.CAPTION_MENTIONS).tolist()
    assert sorted(ids.attributes[m] for m in mentioned) == ["caption-first:black", "caption-first:red"]
    assert set(ids.concepts) == {"group:caption-first", "group:caption-rest", taxonomy.root}


def test_phrase_matcher_word_boundaries():
    match = PhraseMatcher(["x:red", "x:knee-length dress", "x:dress"])
    assert sorted(match("a Knee-Length dress in red")) == ["x:dress", "x:knee-length dress", "x:red"]
    assert match("reddish") == []


def test_save_load_round_trip(catalog, taxonomy, tmp_path):
    info = build(catalog, taxonomy, "ground-truth")
    info.save(tmp_path)
    back = InfoGraph.load(tmp_path)
    assert back.ids.to_dict() == info.ids.to_dict()
    assert back.graph.canonical_etypes == info.graph.canonical_etypes
    for etype in info.graph.canonical_etypes:
        for a, b in zip(info.graph.edges(etype=etype), back.graph.edges(etype=etype), strict=True):
            assert torch.equal(a, b)
    for nt in info.graph.ntypes:
        assert torch.equal(info.graph.nodes[nt].data["feat"], back.graph.nodes[nt].data["feat"])
    assert back.ids.index("image") == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_ids_add_node():
    ids = GraphIds(images=["a"], attributes=["color:red"])
    assert ids.index("attribute") == {"color:red": 0}
    assert ids.add("attribute", "material:linen") == 1
    assert ids.index("attribute")["material:linen"] == 1
