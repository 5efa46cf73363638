"""GraphBuffer (pending additions beside DGL) and Adjacency (numpy CSR of the relations) against DGL itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.graph import buffer as graph_buffer
from retrieval.graph import schema
from retrieval.graph.adjacency import Adjacency
from retrieval.graph.buffer import GraphBuffer, _tail_slice
from retrieval.graph.build import build_graph


def small_graph():
    rng = np.random.RandomState(0)
    attrs = [
        ["category:dress", "color:red"],
        ["category:dress", "color:black"],
        ["category:shirt", "color:red"],
        ["category:shirt"],
        ["category:skirt", "color:red"],
        ["category:skirt"],
    ]
    info = build_graph(
        list("abcdef"),
        attrs,
        [],
        Taxonomy.load(),
        image_features=rng.randn(6, 4).astype(np.float32),
        caption_features=np.zeros((0, 3), np.float32),
        text_encoder=lambda t: np.ones((len(t), 3), np.float32),
    )
    return info.graph


def dgl_edges(g, etype):
    src, dst = g.edges(etype=etype)
    return sorted(zip(src.tolist(), dst.tolist(), strict=True))


def test_tail_slice_equals_slicing_the_concatenation():
    parts = [np.arange(0, 3), np.arange(3, 4), np.arange(4, 10)]
    for a in range(11):
        for b in range(a, 11):
            assert _tail_slice(parts, 10, a, b, np.concatenate).tolist() == list(range(a, b))


def test_buffer_answers_like_dgl_before_and_after_it_writes(monkeypatch):
    monkeypatch.setattr(graph_buffer, "FLUSH_AT", 10_000)
    g = small_graph()
    reference = small_graph()
    buf = GraphBuffer(g)
    n_caps = g.num_nodes(schema.CAPTION)
    feat = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert buf.add_nodes(schema.CAPTION, feat) == n_caps
    buf.add_edges(schema.IMAGE_LIKED_WITH, [0, 1], [2, 3])
    buf.add_edges(schema.IMAGE_LIKED_FOR, [4], [n_caps + 1])  # an edge to a pending node
    reference.add_nodes(2, {"feat": feat}, ntype=schema.CAPTION)
    reference.add_edges(torch.tensor([0, 1]), torch.tensor([2, 3]), etype=schema.IMAGE_LIKED_WITH)
    reference.add_edges(torch.tensor([4]), torch.tensor([n_caps + 1]), etype=schema.IMAGE_LIKED_FOR)
    assert buf.pending and g.num_nodes(schema.CAPTION) == n_caps  # DGL untouched so far
    for etype in (schema.IMAGE_LIKED_WITH, schema.IMAGE_LIKED_FOR, schema.IMAGE_HAS_ATTRIBUTE):
        assert buf.num_edges(etype) == reference.num_edges(etype)
        src, dst = buf.edges(etype)
        assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == dgl_edges(reference, etype)
    assert buf.num_nodes(schema.CAPTION) == n_caps + 2 and buf.num_edges() == reference.num_edges()
    np.testing.assert_array_equal(buf.features(schema.CAPTION, n_caps), feat.numpy())
    assert buf.edges(schema.IMAGE_LIKED_WITH, 1)[0].tolist() == [1]
    written = buf.graph  # reading the DGL graph writes the pending additions
    assert written is g and not buf.pending
    for etype in (schema.IMAGE_LIKED_WITH, schema.IMAGE_LIKED_FOR):
        assert dgl_edges(g, etype) == dgl_edges(reference, etype)
    np.testing.assert_array_equal(g.nodes[schema.CAPTION].data["feat"][n_caps:].numpy(), feat.numpy())


def test_buffer_writes_itself_once_enough_is_pending(monkeypatch):
    monkeypatch.setattr(graph_buffer, "FLUSH_AT", 3)
    g = small_graph()
    buf = GraphBuffer(g)
    buf.add_edges(schema.IMAGE_LIKED_WITH, [0], [1])
    assert buf.pending and g.num_edges(schema.IMAGE_LIKED_WITH) == 0
    buf.add_edges(schema.IMAGE_LIKED_WITH, [1, 2], [2, 3])
    assert not buf.pending and g.num_edges(schema.IMAGE_LIKED_WITH) == 3


@pytest.mark.parametrize(("tail", "compare_cells"), [(1, 4096), (2048, 4096), (2048, 0)])
def test_adjacency_matches_dgl_through_additions_new_nodes_and_removals(monkeypatch, tail, compare_cells):
    from retrieval.graph import adjacency

    monkeypatch.setattr(adjacency, "TAIL", tail)  # 1: every addition rebuilds the CSR; 2048: all in the tail
    monkeypatch.setattr(adjacency, "COMPARE_CELLS", compare_cells)  # the tail scanned by comparison / isin
    monkeypatch.setattr(graph_buffer, "FLUSH_AT", 10_000)
    g = small_graph()
    buf = GraphBuffer(g)
    adj = Adjacency(
        buf, [schema.IMAGE_HAS_ATTRIBUTE, schema.IMAGE_LIKED_WITH, schema.reverse(schema.IMAGE_HAS_ATTRIBUTE)]
    )
    rng = np.random.default_rng(0)

    def check():
        adj.sync()
        ref = buf.graph  # written, so DGL's own answers can be compared
        for etype in adj.etypes:
            rel = adj.relation(etype)
            ns, nd = ref.num_nodes(etype[0]), ref.num_nodes(etype[2])
            ids = np.unique(rng.integers(0, ns, size=3))
            pos, dst = rel.out_edges(ids)
            want_src, want_dst = ref.out_edges(torch.as_tensor(ids), etype=etype)
            assert sorted(zip(ids[pos].tolist(), dst.tolist(), strict=True)) == sorted(
                zip(want_src.tolist(), want_dst.tolist(), strict=True)
            )
            ids = np.unique(rng.integers(0, nd, size=3))
            pos, src = rel.in_edges(ids)
            want_src, want_dst = ref.in_edges(torch.as_tensor(ids), etype=etype)
            assert sorted(zip(src.tolist(), ids[pos].tolist(), strict=True)) == sorted(
                zip(want_src.tolist(), want_dst.tolist(), strict=True)
            )
            np.testing.assert_array_equal(rel.degree(np.arange(nd)), ref.in_degrees(etype=etype).numpy())

    check()
    for step in range(4):
        buf.add_edges(schema.IMAGE_LIKED_WITH, [step], [step + 1])
        check()
    new = buf.add_nodes(schema.IMAGE, torch.zeros(1, 4))
    buf.add_edges(schema.IMAGE_HAS_ATTRIBUTE, [new], [0])
    buf.add_edges(schema.reverse(schema.IMAGE_HAS_ATTRIBUTE), [0], [new])
    check()
    eid = g.edge_ids(torch.tensor([0]), torch.tensor([1]), etype=schema.IMAGE_LIKED_WITH)
    g.remove_edges(eid, etype=schema.IMAGE_LIKED_WITH)
    adj.forget()
    check()
