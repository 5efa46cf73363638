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

import torch
from torch import Tensor

from retrieval import schema
from retrieval.model import RGCN, mean_into

States = list[dict[str, Tensor]]


@torch.no_grad()
def forward_with_pre(rgcn: RGCN, g, feats: dict[str, Tensor]) -> tuple[States, States]:
    """Every layer's states (input projection first) and pre-activations (``pres[0]`` empty), as ``rgcn(g, ...)``.

    Mirrors :meth:`RGCN.forward` / :meth:`RGCNLayer.forward` (eval mode), keeping ``pre``.
    """
    mg = rgcn.message_graph(g)
    h = rgcn.input_states(feats)
    states, pres = [h], [{}]
    for lay in rgcn.layers:
        msgs = lay.conv(mg, h)
        pre = {nt: lay.loop(x) + msgs[nt] if nt in msgs else lay.loop(x) for nt, x in h.items()}
        h = {nt: lay.finish(pre[nt], x) for nt, x in h.items()}
        states.append(h)
        pres.append(pre)
    return states, pres


def message_etypes(rgcn: RGCN, g) -> list[schema.CanonicalEtype]:
    """Relations of ``g`` that carry messages in ``rgcn`` and have edges (as :meth:`RGCN.message_graph`)."""
    rel_index = rgcn.layers[0].rel_index
    return [e for e in g.canonical_etypes if e in rel_index and g.num_edges(e)]


def relation_weights(rgcn: RGCN) -> list[dict[schema.CanonicalEtype, Tensor]]:
    """Per layer, ``W_r`` of every relation (basis sums computed once)."""
    with torch.no_grad():
        return [{e: lay.basis(i).detach() for e, i in lay.rel_index.items()} for lay in rgcn.layers]


@torch.no_grad()
def reembed(rgcn: RGCN, g, states: States, pres: States, weights: list[dict], touched: dict[str, Iterable[int]],
            tol: float = 0.0) -> tuple[dict[str, set[int]], set[int]]:
    """Update ``states`` / ``pres`` in place after edits of ``g``.

    Args:
        rgcn: the model.
        g: the edited graph (new nodes carry ``feat``).
        states: cached states per layer (grown here for new nodes).
        pres: cached pre-activations per layer (``pres[0]`` unused).
        weights: :func:`relation_weights` of ``rgcn``.
        touched: per node type, the nodes whose edges changed (new nodes are added automatically).
        tol: relative tolerance (0 = exact).

    Returns:
        Per node type the nodes whose stored state changed at some layer (touched ones included), and
        the image nodes whose FINAL state changed (to re-normalise and re-index).
    """
    etypes = message_etypes(rgcn, g)
    struct = {nt: {int(n) for n in touched.get(nt, ())} for nt in g.ntypes}
    for nt in g.ntypes:  # grow the caches for new nodes
        old, now = states[0][nt].shape[0], g.num_nodes(nt)
        if now > old:
            for s in [*states, *pres[1:]]:
                s[nt] = grow(s[nt], now)
            states[0][nt][old:now] = rgcn.project(nt, g.nodes[nt].data["feat"][old:now])
            struct[nt].update(range(old, now))
    changed = {nt: set(v) for nt, v in struct.items()}
    full = {nt: torch.tensor(sorted(v), dtype=torch.int64) for nt, v in struct.items()}
    full_in = {nt: _in_edges(g, etypes, nt, ids) for nt, ids in full.items()}  # the same at every layer
    deltas: dict[str, tuple[Tensor, Tensor]] = {}  # nt -> (sorted node ids, change of their stored state)
    for layer in range(rgcn.num_layers):
        lay, w = rgcn.layers[layer], weights[layer]
        parts: dict[str, list[tuple[Tensor, Tensor]]] = {nt: [] for nt in g.ntypes}
        for nt, (ids, dh) in deltas.items():
            parts[nt].append((ids, dh @ lay.loop.weight.T))
        for etype in etypes:
            if etype[0] in deltas:
                ids, dh = deltas[etype[0]]
                src, dst = g.out_edges(ids.to(g.idtype), etype=etype)
                if len(src):
                    deg = g.in_degrees(dst, etype=etype).clamp(min=1).to(dh.dtype)
                    msg = dh @ w[etype]
                    parts[etype[2]].append((dst.long(), msg[torch.searchsorted(ids, src.long())] / deg[:, None]))
        deltas = {}
        for nt in g.ntypes:
            inc_ids, inc_pre = _incremental(pres[layer + 1][nt], parts[nt], full[nt])
            ids = torch.cat([full[nt], inc_ids])
            if not len(ids):
                continue
            pre = torch.cat([_full_pre(rgcn, full_in[nt], states, w, layer, nt, full[nt]), inc_pre])
            order = torch.argsort(ids)
            ids, pre = ids[order], pre[order]
            new = lay.finish(pre, states[layer][nt][ids])
            pres[layer + 1][nt][ids] = pre
            old = states[layer + 1][nt][ids]
            diff = new - old
            keep = diff.norm(dim=1) > tol * old.norm(dim=1).clamp_min(1e-6) if tol > 0 else diff.abs().amax(1) > 0
            if bool(keep.any()):
                kept = ids[keep]
                states[layer + 1][nt][kept] = new[keep]
                deltas[nt] = (kept, diff[keep])
                changed[nt].update(kept.tolist())
    final = deltas.get(schema.IMAGE)
    return changed, set(final[0].tolist()) if final is not None else set()


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


def _incremental(pre: Tensor, parts: list[tuple[Tensor, Tensor]], full: Tensor) -> tuple[Tensor, Tensor]:
    """Nodes receiving changes (not in ``full``) and their updated pre-activations."""
    if not parts:
        return torch.zeros(0, dtype=torch.int64), pre.new_zeros(0, pre.shape[1])
    dst = torch.cat([p[0] for p in parts])
    val = torch.cat([p[1] for p in parts])
    if len(full):
        ok = ~torch.isin(dst, full)
        dst, val = dst[ok], val[ok]
    ids, inv = torch.unique(dst, return_inverse=True)
    acc = pre[ids].clone().index_add_(0, inv, val)
    return ids, acc


def _in_edges(g, etypes, nt: str, ids: Tensor) -> list[tuple[schema.CanonicalEtype, Tensor, Tensor]]:
    """Per relation into ``nt``, the in-edges of ``ids``: (relation, source ids, destination positions)."""
    out = []
    if not len(ids):
        return out
    pos = torch.full((g.num_nodes(nt),), -1, dtype=torch.int64)
    pos[ids] = torch.arange(len(ids))
    for etype in etypes:
        if etype[2] == nt:
            src, dst = g.in_edges(ids.to(g.idtype), etype=etype)
            if len(src):
                out.append((etype, src.long(), pos[dst.long()]))
    return out


def _full_pre(rgcn: RGCN, edges: list, states: States, w: dict, layer: int, nt: str, ids: Tensor) -> Tensor:
    """Pre-activations of ``ids`` (type ``nt``) at layer ``layer + 1`` from all their in-edges (:func:`_in_edges`)."""
    pre = rgcn.layers[layer].loop(states[layer][nt][ids])
    for etype, src, pos in edges:
        pre = pre + mean_into(states[layer][etype[0]][src], pos, len(ids)) @ w[etype]
    return pre
