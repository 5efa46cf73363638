"""Incremental re-embedding of the R-GCN's cached node states after graph edits (issue 4).

A layer computes, for node ``v``, ``pre_v = W_self h_v + b + sum_r mean_{u in N_r(v)} h_u W_r`` and
then ``h'_v = finish(pre_v, h_v)`` (ReLU but on the last layer, residual). ``pre`` is LINEAR in the
layer's inputs, so with every node's ``pre`` cached (:func:`forward_with_pre`), a change ``dh_u`` of
one input moves each out-neighbour's ``pre`` by ``dh_u W_r / deg_r(v)``: no hub node (an attribute
with thousands of images) is re-aggregated because one neighbour changed. Only STRUCTURALLY touched
nodes (new nodes, endpoints of new / removed edges) are recomputed from all their in-edges.

With a relative tolerance ``tol`` > 0, a node whose state moves by at most ``tol`` times its norm keeps
its stored state and sends nothing on, so an edit stays local; its ``pre`` is still updated, so the
pending change is never lost: it is compared again (and sent on once it exceeds ``tol``) the next time
the node is reached. ``tol`` 0 gives the full forward's result (up to float rounding).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from retrieval.graph import schema
from retrieval.graph.adjacency import Adjacency
from retrieval.model.rgcn import RGCN

States = list[dict[str, Tensor]]
SMALL = 64  # edges below which a relation's messages skip grouping (per-call overhead beats arithmetic)


@torch.no_grad()
def forward_with_pre(rgcn: RGCN, g, feats: dict[str, Tensor]) -> tuple[States, States]:
    """Every layer's states (input projection first) and pre-activations (``pres[0]`` empty), as ``rgcn(g, ...)``.

    Mirrors :meth:`RGCN.forward` / :meth:`RGCNLayer.forward` (eval mode), keeping ``pre``.
    """
    mg = rgcn.message_graph(g)
    h = rgcn.input_states(feats)
    states: list[dict[str, Any]] = [h]
    pres: list[dict[str, Any]] = [{}]
    for lay in rgcn.layer_list:
        msgs = lay.conv(mg, h)
        pre = {nt: lay.loop(x) + msgs[nt] if nt in msgs else lay.loop(x) for nt, x in h.items()}
        h = {nt: lay.finish(pre[nt], x) for nt, x in h.items()}
        states.append(h)
        pres.append(pre)
    return states, pres


class RelationWeights:
    """The trained layer weights as numpy arrays, made once per refresh.

    ``rel[layer][etype]`` is ``W_r`` (basis sums), ``loop[layer]`` is ``(W_self^T, b)``; :meth:`stack`
    stacks the ``W_r`` of some relations ``[R, d, d]`` (cached) for one batched product.
    """

    def __init__(self, rgcn: RGCN) -> None:
        with torch.no_grad():
            self.rel = [
                {e: lay.basis(i).detach().numpy().copy() for e, i in lay.rel_index.items()} for lay in rgcn.layer_list
            ]
            self.loop = [
                (lay.loop.weight.detach().numpy().T.copy(), lay.loop.bias.detach().numpy().copy())
                for lay in rgcn.layer_list
            ]
            self.act = [bool(lay.activation) for lay in rgcn.layer_list]
            self.residual = [bool(lay.residual) for lay in rgcn.layer_list]
        self._stacks: dict[tuple, np.ndarray] = {}

    def stack(self, layer: int, etypes: tuple[schema.CanonicalEtype, ...]) -> np.ndarray:
        """``[R, d, d]``: the ``W_r`` of the relations ``etypes`` at ``layer``."""
        key = (layer, etypes)
        out = self._stacks.get(key)
        if out is None:
            out = self._stacks[key] = np.stack([self.rel[layer][e] for e in etypes])
        return out


def relation_weights(rgcn: RGCN) -> RelationWeights:
    """The weights :func:`reembed` needs (computed once per refresh)."""
    return RelationWeights(rgcn)


@torch.no_grad()
def reembed(
    rgcn: RGCN,
    g,
    states: States,
    pres: States,
    weights: RelationWeights,
    touched: dict[str, Iterable[int]],
    tol: float = 0.0,
    adjacency: Adjacency | None = None,
) -> tuple[dict[str, set[int]], set[int]]:
    """Update ``states`` / ``pres`` in place after edits of ``g``.

    The arithmetic runs in numpy on views of the cached tensors and the edges come from ``adjacency``
    (:mod:`retrieval.graph.adjacency`): an interaction changes a few hundred rows, where the per-call
    overhead of torch operators and DGL queries, not the arithmetic, was the cost. A touched node's
    in-relations are aggregated at once and multiplied in one batched product; a changed node's
    messages are multiplied per relation, before they spread (a hub) or after they are grouped.

    Args:
        rgcn: the model (eval mode).
        g: the edited graph, a :class:`~retrieval.graph.buffer.GraphBuffer` (new nodes carry ``feat``).
        states: cached states per layer (grown here for new nodes).
        pres: cached pre-activations per layer (``pres[0]`` unused).
        weights: :func:`relation_weights` of ``rgcn``.
        touched: per node type, the nodes whose edges changed (new nodes are added automatically).
        tol: relative tolerance (0 = exact).
        adjacency: the graph's kept edge index (made here if None; its owner calls ``forget`` after removals).

    Returns:
        Per node type the nodes whose stored state changed at some layer (touched ones included), and
        the image nodes whose FINAL state changed (to re-normalise and re-index).
    """
    adj = adjacency if adjacency is not None else Adjacency(g, list(rgcn.layer_list[0].rel_index))
    adj.sync()
    etypes = [e for e in adj.live() if e in weights.rel[0]]
    out_rels = {nt: tuple(e for e in etypes if e[0] == nt) for nt in g.ntypes}
    struct = {nt: {int(n) for n in touched.get(nt, ())} for nt in g.ntypes}
    for nt in g.ntypes:  # grow the caches for new nodes
        old, now = states[0][nt].shape[0], g.num_nodes(nt)
        if now > old:
            for s in [*states, *pres[1:]]:
                s[nt] = grow(s[nt], now)
            states[0][nt][old:now] = rgcn.project(nt, g.features(nt, old, now))
            struct[nt].update(range(old, now))
    S = [{nt: t.numpy() for nt, t in layer.items()} for layer in states]  # noqa: N806 - the paper's S, P
    P: list[dict[str, np.ndarray]] = [{}] + [{nt: t.numpy() for nt, t in layer.items()} for layer in pres[1:]]  # noqa: N806
    changed = {nt: set(v) for nt, v in struct.items()}
    full = {nt: np.array(sorted(v), dtype=np.int64) for nt, v in struct.items()}
    full_in = {nt: _InEdges(adj, etypes, nt, ids) for nt, ids in full.items() if len(ids)}  # same at every layer
    deltas: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # nt -> (sorted node ids, change of their stored state)
    for layer in range(rgcn.num_layers):
        loop_w, loop_b = weights.loop[layer]
        w = weights.rel[layer]
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {nt: [] for nt in g.ntypes}
        for nt, (ids, dh) in deltas.items():
            parts[nt].append((ids, dh @ loop_w))
            for etype in out_rels[nt]:
                rel = adj.relation(etype)
                pos, dst = rel.out_edges(ids)
                if not len(dst):
                    continue
                if 2 * len(ids) <= len(dst) or len(dst) <= SMALL:  # few sources (a hub) or few edges: multiply, spread
                    parts[etype[2]].append((dst, (dh @ w[etype])[pos] / rel.deg[dst][:, None]))
                else:  # aggregate at the destinations, then one product
                    targets, inv = np.unique(dst, return_inverse=True)
                    agg = _scatter_sum(len(targets), inv.reshape(-1), dh[pos] / rel.deg[dst][:, None])
                    parts[etype[2]].append((targets, agg @ w[etype]))
        deltas = {}
        for nt in g.ntypes:
            pre_now, below, above = P[layer + 1][nt], S[layer][nt], S[layer + 1][nt]
            inc_ids, inc_pre = _incremental(pre_now, parts[nt], full[nt])
            if len(full[nt]):
                pre_full = below[full[nt]] @ loop_w + loop_b + full_in[nt].messages(S[layer], weights, layer)
                ids = np.concatenate([full[nt], inc_ids])  # disjoint; unsorted (only the kept rows are sorted)
                pre = np.concatenate([pre_full, inc_pre])
            elif len(inc_ids):
                ids, pre = inc_ids, inc_pre
            else:
                continue
            new = np.maximum(pre, 0.0) if weights.act[layer] else pre.copy()
            if weights.residual[layer]:
                new += below[ids]
            pre_now[ids] = pre
            old = above[ids]
            diff = new - old
            if tol > 0:  # squared norms: |diff| > tol * max(|old|, 1e-6)
                scale = tol * tol * np.maximum(np.einsum("ij,ij->i", old, old), 1e-12)
                keep = np.einsum("ij,ij->i", diff, diff) > scale
            else:
                keep = np.abs(diff).max(axis=1) > 0
            if keep.any():
                kept = ids[keep]
                order = np.argsort(kept)
                kept = kept[order]
                above[kept] = new[keep][order]
                deltas[nt] = (kept, diff[keep][order])
                changed[nt].update(kept.tolist())
    final = deltas.get(schema.IMAGE)
    return changed, set(final[0].tolist()) if final is not None else set()


class _InEdges:
    """All in-edges of some nodes ``ids`` (type ``nt``), by relation, ready for one batched aggregation."""

    def __init__(self, adj: Adjacency, etypes, nt: str, ids: np.ndarray) -> None:
        self.n = len(ids)
        rels: list[schema.CanonicalEtype] = []
        keys: list[np.ndarray] = []
        inv_deg: list[np.ndarray] = []
        by_src: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for etype in etypes:
            if etype[2] != nt:
                continue
            rel = adj.relation(etype)
            pos, src = rel.in_edges(ids)
            if not len(src):
                continue
            slot = len(rels)
            rels.append(etype)
            inv_deg.append(1.0 / np.maximum(rel.degree(ids), 1.0))
            by_src.setdefault(etype[0], []).append((src, pos + slot * self.n))
        self.rels = tuple(rels)
        self.sources = [(st, np.concatenate([p[0] for p in parts])) for st, parts in by_src.items()]
        for parts in by_src.values():
            keys.extend(p[1] for p in parts)
        self.keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        self.inv_deg = np.concatenate(inv_deg).astype(np.float32)[:, None] if inv_deg else None

    def messages(self, states: dict[str, np.ndarray], weights: RelationWeights, layer: int) -> np.ndarray | float:
        """``sum_r mean_{u in N_r(v)} h_u W_r`` for every node, from the layer's input ``states``."""
        if not self.rels:
            return 0.0
        rows = (
            np.concatenate([states[st][src] for st, src in self.sources])
            if len(self.sources) > 1
            else states[self.sources[0][0]][self.sources[0][1]]
        )
        means = _scatter_sum(len(self.rels) * self.n, self.keys, rows) * self.inv_deg
        return np.matmul(means.reshape(len(self.rels), self.n, -1), weights.stack(layer, self.rels)).sum(0)


def grow(t: Tensor, rows: int) -> Tensor:
    """``t`` ``[n, d]`` extended to ``rows`` rows (new rows zero), as a view of a buffer with spare room.

    One interaction adds a node or two; copying the whole state table each time (7 tables per node
    type) would cost more than the re-embedding itself, so the buffer doubles when full.
    """
    n, d = t.shape
    storage = t.untyped_storage()
    if t.is_contiguous() and t.storage_offset() == 0 and storage.nbytes() >= rows * d * t.element_size():
        out = t.new_empty(0).set_(storage, 0, (rows, d), (d, 1))
        out[n:] = 0
        return out
    buf = t.new_zeros((max(rows, 2 * n, 16), d))
    buf[:n] = t
    return buf[:rows]


def _scatter_sum(n: int, index: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``[n, d]`` sums of ``rows`` grouped by ``index`` (torch's ``index_add_`` on zero-copy views)."""
    out = torch.zeros(n, rows.shape[1], dtype=torch.float32)
    out.index_add_(0, torch.from_numpy(index), torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32)))
    return out.numpy()


def _incremental(
    pre: np.ndarray, parts: list[tuple[np.ndarray, np.ndarray]], full: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes receiving changes (not in ``full``) and their updated pre-activations."""
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros((0, pre.shape[1]), dtype=pre.dtype)
    dst = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    val = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    if len(full):
        mask = np.zeros(len(pre), dtype=bool)
        mask[full] = True
        ok = ~mask[dst]
        if not ok.all():
            dst, val = dst[ok], val[ok]
    ids, inv = np.unique(dst, return_inverse=True)
    return ids, pre[ids] + _scatter_sum(len(ids), inv.reshape(-1), val)
