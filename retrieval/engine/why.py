"""Why this one, from the model: an explanation's edges weighted by the R-GCN (issue 15).

:func:`model_explanation` picks the facts around a shown product (its and the pick's attribute edges,
statements, other photos and likes; the ``is_a`` chains of those attributes and of the asked ones; the
edges of the facts explanation), weighs them and the words' own edges by leave-one-out on the local
neighbourhood (:class:`~retrieval.model.attribution.EdgeAttribution`) and words the explanation from
the weights (:func:`~retrieval.graph.weighted.weighted_explanation`).

The score weighed is the model's similarity of the product to the query: with a pick, the composed
query (pick + words as a caption node); on a first search, the centroid of the images that carry the
asked values the product has (the search tier it was ranked in), or the words' soft query when it has
none. The ranking's rule-based parts (tier levels, the EI-tree request step, per-shopper lifts) are not
model weights and are not weighed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from retrieval.api import Explanation, GraphEdge, GraphNode
from retrieval.graph import schema
from retrieval.graph.adjacency import Adjacency
from retrieval.graph.weighted import EdgeKey, edge_key, weighted_explanation
from retrieval.index.state import GraphState
from retrieval.model.attribution import Attribution, EdgeAttribution, Fact, Query

PER_RELATION = 8  # facts of one relation taken per image (captions, likes and photos can be many)
MAX_EXTRA = 6  # edges beyond the facts explanation shown: the strongest by |weight|

#: Relations incident to an image, with the side the image is on ("src" / "dst").
IMAGE_RELATIONS: tuple[tuple[schema.CanonicalEtype, str], ...] = (
    (schema.IMAGE_HAS_ATTRIBUTE, "src"),
    (schema.IMAGE_HAS_USER_ATTRIBUTE, "src"),
    (schema.IMAGE_SAME_PRODUCT, "src"),
    (schema.IMAGE_SAME_PRODUCT, "dst"),
    (schema.IMAGE_LIKED_WITH, "src"),
    (schema.IMAGE_LIKED_WITH, "dst"),
    (schema.IMAGE_LIKED_FROM, "src"),
    (schema.IMAGE_LIKED_FROM, "dst"),
    (schema.USER_LIKES, "dst"),
    (schema.USER_DISLIKES, "dst"),
    (schema.CAPTION_MODIFIES, "dst"),
)


def model_explanation(
    g: GraphState,
    facts: Any,
    base: Explanation,
    *,
    result: int,
    candidate: int | None,
    text: str,
    text_feature: np.ndarray,
    mentioned: Sequence[int],
    search_vector: np.ndarray | None = None,
) -> Explanation:
    """``base`` (the facts explanation of ``result``) with model weights on its edges and words.

    Args:
        g: the graph state (model, adjacency, cached states).
        facts: the graph facts as the shopper sees them (what ``base`` was read from).
        base: the facts explanation (:meth:`retrieval.graph.explain.Explainer.explain`).
        result: the explained image node.
        candidate: the pick (None: a first search).
        text: the words (the query caption's label).
        text_feature: the words' feature.
        mentioned: attribute nodes the words mention (the query caption's in-edges).
        search_vector: without a pick, the unit query vector the product was ranked against.
    """
    model = g.model
    weighed_facts = neighbourhood(g, base, result, candidate, mentioned)
    if candidate is None:
        if search_vector is None:
            raise ValueError("a first search's explanation needs the query vector")
        query = Query(vector=search_vector)
    else:
        query = Query(candidate=candidate, text_feature=text_feature, mentioned=tuple(int(a) for a in mentioned))
    weighed = attribution_of(model).weigh(
        model.states, model_adjacency(model), result, weighed_facts, query, token=model._np_states
    )  # _np_states: replaced whenever the model's cached states change (refresh, re-embedding)
    weights: dict[EdgeKey, float] = {}
    for f, w in zip(weighed_facts, weighed.facts, strict=True):
        weights[(f.etype[0], f.src, f.etype[1], f.etype[2], f.dst)] = w
    in_base = {edge_key(e) for e in base.edges}
    extra = sorted(
        (
            _edge(g, f, w)
            for f, w in zip(weighed_facts, weighed.facts, strict=True)
            if w != 0.0 and (f.etype[0], f.src, f.etype[1], f.etype[2], f.dst) not in in_base
        ),
        key=lambda e: -abs(e.weight),
    )[:MAX_EXTRA]
    return weighted_explanation(
        facts,
        base,
        weights,
        result=result,
        candidate=candidate,
        extra=extra,
        query_edges=query_edges(g, text, candidate, mentioned, weighed),
    )


def neighbourhood(
    g: GraphState, base: Explanation, result: int, candidate: int | None, mentioned: Sequence[int]
) -> list[Fact]:
    """The facts weighed: the base explanation's edges, the images' incident edges, the ``is_a`` chains."""
    model = g.model
    adj = model_adjacency(model)
    adj.sync()
    rels = model.rgcn.layer_list[0].rel_index
    senders = {e[0] for e in rels} & set(model.states[0])
    indexed = set(adj.etypes)
    out: dict[tuple[schema.CanonicalEtype, int, int], None] = {}

    def add(etype: schema.CanonicalEtype, src: int, dst: int) -> None:
        if etype[0] in senders and etype[2] in senders and (etype in rels or schema.reverse(etype) in rels):
            out.setdefault((etype, int(src), int(dst)), None)

    for e in base.edges:
        add((e.src.ntype, e.relation, e.dst.ntype), e.src.node_id, e.dst.node_id)
    for image in (result, candidate):
        if image is None:
            continue
        for etype, side in IMAGE_RELATIONS:
            for other in _incident(adj, indexed, etype, int(image), side)[:PER_RELATION]:
                add(etype, image, other) if side == "src" else add(etype, other, image)
    attrs = {k[2] for k in out if k[0][2] == schema.ATTRIBUTE} | {int(a) for a in mentioned}
    for a in sorted(attrs):
        chain = g.facts.concept_chain(a)
        if chain:
            add(schema.ATTRIBUTE_IS_A, a, chain[0])
            for lo, hi in itertools.pairwise(chain):
                add(schema.CONCEPT_IS_A, lo, hi)
    return [Fact(etype, src, dst) for etype, src, dst in out]


def attribution_of(model: Any) -> EdgeAttribution:
    """The model's :class:`EdgeAttribution` (made on first use, kept on the model: its caches live as long)."""
    out = model.__dict__.get("_edge_attribution")
    if out is None:
        out = model.__dict__["_edge_attribution"] = EdgeAttribution(model.rgcn, model.head)
    attribution: EdgeAttribution = out
    return attribution


def model_adjacency(model: Any) -> Adjacency:
    """The trained model's kept edge index (shared with its re-embedding: one sync point for the graph's edits)."""
    adjacency: Adjacency = model._adjacency
    return adjacency


def _incident(adj: Any, indexed: set, etype: schema.CanonicalEtype, node: int, side: str) -> list[int]:
    """The other ends of ``node``'s ``etype`` edges (``side``: the node is the source or the destination)."""
    ids = np.array([node], dtype=np.int64)
    rev = schema.reverse(etype)
    if etype in indexed:
        rel = adj.relation(etype)
        _, other = rel.out_edges(ids) if side == "src" else rel.in_edges(ids)
    elif rev in indexed:
        rel = adj.relation(rev)
        _, other = rel.in_edges(ids) if side == "src" else rel.out_edges(ids)
    else:
        return []
    return list(dict.fromkeys(int(o) for o in other if not (etype[0] == etype[2] and o == node)))


def _node(g: GraphState, ntype: str, node: int) -> GraphNode:
    return GraphNode(ntype, int(node), g.model.ids.names(ntype)[node])


def _edge(g: GraphState, f: Fact, weight: float) -> GraphEdge:
    return GraphEdge(_node(g, f.etype[0], f.src), f.etype[1], _node(g, f.etype[2], f.dst), float(weight))


def query_edges(
    g: GraphState, text: str, candidate: int | None, mentioned: Sequence[int], weighed: Attribution
) -> tuple[GraphEdge, ...]:
    """The words' caption node (id -1) and its edges to the pick and the mentioned attributes, weighted."""
    if candidate is None:
        return ()
    words = GraphNode(schema.CAPTION, -1, text)
    out = [GraphEdge(words, schema.MODIFIES, _node(g, schema.IMAGE, candidate), weighed.candidate)]
    out += [
        GraphEdge(words, schema.MENTIONS, _node(g, schema.ATTRIBUTE, a), w)
        for a, w in zip(mentioned, weighed.mentioned, strict=True)
    ]
    return tuple(out)
