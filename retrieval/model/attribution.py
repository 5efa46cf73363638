"""Per-edge contributions to one result's score, from the R-GCN's own arithmetic (issue 15).

The score of a result ``r`` for a query is the model's similarity ``s = <q, e_r>``: ``e_r`` the result's
normalised readout, ``q`` the normalised composition of the candidate's readout with the embedding of the
query caption (a sink fed by the candidate and the attribute nodes the words mention,
:meth:`~retrieval.training.artifacts.TrainedModel.embed_new_caption`), or a fixed vector on a first search.

:class:`EdgeAttribution` weighs a set of graph facts (an edge and its reverse) and the query caption's
in-edges by exact leave-one-out on the local neighbourhood: the region is every endpoint of the facts plus
the result, the candidate and the mentioned attributes. Each region node is recomputed layer by layer from
ALL its in-edges (messages from nodes outside the region are their cached states, constant), with one
row per left-out fact, in one batched pass: ``weight = s - s(without the fact)``, positive when the fact
raises the score. A removed fact drops its messages in both directions at every layer and the means are
taken over the edges that remain, as a graph without the edge would have them. What it leaves out: the
effect of the removal that leaves the region and comes back through an outside node (second order over
hub attributes: a mean over hundreds of images); the test in ``tests/test_explain_weights.py`` compares
the ranking with real removals from the graph and a full forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from retrieval.graph import schema
from retrieval.graph.adjacency import Adjacency
from retrieval.model.rgcn import RGCN

States = list[dict[str, Tensor]]
HUB = 64  # in-edges of one relation above which a node's summed in-neighbour states are kept between calls


@dataclass(frozen=True)
class Fact:
    """One graph fact: the edge ``src -[etype]-> dst`` (forward relation) and its reverse."""

    etype: schema.CanonicalEtype
    src: int
    dst: int


@dataclass(frozen=True)
class Query:
    """The query side of a score.

    Attributes:
        candidate: the candidate image node (None: a first search, scored against ``vector``).
        text_feature: ``[D_txt]`` the words' feature (the query caption's input), with a candidate.
        mentioned: attribute nodes the words mention (the query caption's ``rev_mentions`` in-edges).
        vector: ``[hidden]`` a fixed unit query vector, without a candidate.
    """

    candidate: int | None = None
    text_feature: np.ndarray | None = None
    mentioned: tuple[int, ...] = ()
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class Attribution:
    """The score and each fact's leave-one-out weight (``s - s_without``).

    Attributes:
        score: the model's score of the result, recomputed (equal to the cached one up to rounding).
        facts: weight per fact, in the order given.
        candidate: weight of the candidate -> query caption edge (0.0 without a candidate).
        mentioned: weight per mentioned attribute -> query caption edge, in :attr:`Query.mentioned` order.
    """

    score: float
    facts: tuple[float, ...]
    candidate: float = 0.0
    mentioned: tuple[float, ...] = ()


@dataclass
class _Inflow:
    """In-edges of one relation into the region's nodes of its destination type."""

    etype: schema.CanonicalEtype
    src: Tensor  # [E_in] local source ids (region nodes of etype[0])
    dst: Tensor  # [E_in] local destination ids
    col: Tensor  # [E_in] mask column (a fact), or -1 for an edge that is never left out
    outside: list[Tensor]  # per layer [n_dst, d]: sum of the states of sources outside the region
    n_out: Tensor  # [n_dst] how many sources are outside
    single: Tensor  # [n_dst] True where the node has exactly one in-edge of the relation


class EdgeAttribution:
    """Leave-one-out weights of graph facts for one result's score (see the module docstring).

    Made once per model and reused: it keeps the relation matrices ``W_r`` and, for hub nodes (more
    than :data:`HUB` in-edges of a relation: an attribute's images), the sum of every in-neighbour's
    cached state per layer, until the states change (:meth:`weigh`'s ``token``).

    Args:
        rgcn: the trained R-GCN (eval mode).
        head: the composition head (eval mode).
    """

    def __init__(self, rgcn: RGCN, head: nn.Module) -> None:
        self.rgcn = rgcn
        self.head = head
        with torch.no_grad():
            self.w = [{e: lay.basis(i) for e, i in lay.rel_index.items()} for lay in rgcn.layer_list]
        self._token: object = None
        self._hub_sums: dict[tuple[schema.CanonicalEtype, int, int], Tensor] = {}
        self.states: States = []  # the states of the call in progress

    @torch.no_grad()
    def weigh(
        self,
        states: States,
        adjacency: Adjacency,
        result: int,
        facts: Sequence[Fact],
        query: Query,
        *,
        token: object = None,
    ) -> Attribution:
        """Weights of ``facts`` and of the query caption's in-edges for ``result``'s score.

        Args:
            states: the cached per-layer states of every node (input projection first).
            adjacency: the graph's kept edge index (synced here).
            result: the image node scored.
            facts: the facts to weigh.
            query: the query side.
            token: an object that changes whenever ``states`` change (None: nothing is reused).
        """
        if token is None or token is not self._token:
            self._hub_sums.clear()
        self._token = token
        self.states = states
        adjacency.sync()
        facts = list(facts)
        cand = query.candidate
        mentioned = list(query.mentioned) if cand is not None else []
        region: dict[str, set[int]] = {}
        for f in facts:
            region.setdefault(f.etype[0], set()).add(int(f.src))
            region.setdefault(f.etype[2], set()).add(int(f.dst))
        region.setdefault(schema.IMAGE, set()).add(int(result))
        if cand is not None:
            region[schema.IMAGE].add(int(cand))
            region.setdefault(schema.ATTRIBUTE, set()).update(int(a) for a in mentioned)
        ids = {nt: np.array(sorted(v), dtype=np.int64) for nt, v in region.items()}
        n_cols = len(facts) + (1 + len(mentioned) if cand is not None else 0)
        masks = torch.ones(n_cols + 1, n_cols)  # row 0: the graph as it is; row i + 1: column i left out
        masks[1:] -= torch.eye(n_cols)
        flows = self._inflows(adjacency, ids, facts)
        h = {nt: self.states[0][nt][torch.from_numpy(v)].expand(n_cols + 1, -1, -1) for nt, v in ids.items()}
        layers = [h]
        for layer, lay in enumerate(self.rgcn.layer_list):
            pre = {nt: lay.loop(x) for nt, x in h.items()}
            for flow in flows:
                mean = _masked_mean(flow, h[flow.etype[0]], masks, layer, len(ids[flow.etype[2]]))
                pre[flow.etype[2]] = pre[flow.etype[2]] + mean @ self.w[layer][flow.etype]
            h = {nt: lay.finish(pre[nt], x) for nt, x in h.items()}
            layers.append(h)
        local = {nt: {int(n): i for i, n in enumerate(v)} for nt, v in ids.items()}
        e_r = F.normalize(self._readout(layers, local[schema.IMAGE][int(result)], int(result)), dim=-1)
        if cand is None:
            if query.vector is None:
                raise ValueError("a query without a candidate needs a vector")
            q = torch.as_tensor(np.asarray(query.vector, np.float32))[None]
        else:
            if query.text_feature is None:
                raise ValueError("a query with a candidate needs the words' feature")
            c_loc = local[schema.IMAGE][int(cand)]
            a_loc = torch.tensor([local[schema.ATTRIBUTE][int(a)] for a in mentioned], dtype=torch.int64)
            cap = self._caption(layers, masks[:, len(facts) :], c_loc, a_loc, query.text_feature)
            q = F.normalize(self.head(self._readout(layers, c_loc, int(cand)), cap), dim=-1)
        scores = (q * e_r).sum(-1)
        drop = (scores[0] - scores[1:]).tolist()
        n_f = len(facts)
        return Attribution(
            score=float(scores[0]),
            facts=tuple(drop[:n_f]),
            candidate=drop[n_f] if cand is not None else 0.0,
            mentioned=tuple(drop[n_f + 1 :]),
        )

    def _readout(self, layers: list[dict[str, Tensor]], loc: int, node: int) -> Tensor:
        """``[B, d]`` image readout (last state, plus the gated input projection with ``jk``)."""
        last = layers[-1][schema.IMAGE][:, loc]
        gate = self.rgcn.jk_gate
        return last if gate is None else last + gate * self.states[0][schema.IMAGE][node]

    def _caption(
        self, layers: list[dict[str, Tensor]], masks: Tensor, c_loc: int, a_loc: Tensor, text_feature: np.ndarray
    ) -> Tensor:
        """``[B, d]`` the query caption as a sink, its in-edges masked by ``masks`` (candidate, mentions)."""
        rgcn = self.rgcn
        feat = torch.as_tensor(np.asarray(text_feature, np.float32).reshape(1, -1))
        h = rgcn.project(schema.CAPTION, feat).expand(masks.shape[0], -1)
        for layer, lay in enumerate(rgcn.layer_list):
            pre = lay.loop(h)
            st = layers[layer]
            if schema.IMAGE_REV_MODIFIES in lay.rel_index:
                pre = pre + (masks[:, :1] * st[schema.IMAGE][:, c_loc]) @ self.w[layer][schema.IMAGE_REV_MODIFIES]
            if len(a_loc) and schema.ATTRIBUTE_REV_MENTIONS in lay.rel_index:
                m = masks[:, 1:]
                total = m.sum(1, keepdim=True) if len(a_loc) > 1 else torch.ones(len(m), 1)
                mean = (m[:, :, None] * st[schema.ATTRIBUTE][:, a_loc]).sum(1) / total.clamp(min=1.0)
                pre = pre + mean @ self.w[layer][schema.ATTRIBUTE_REV_MENTIONS]
            h = lay.finish(pre, h)
        return h

    def _inflows(self, adj: Adjacency, ids: dict[str, np.ndarray], facts: list[Fact]) -> list[_Inflow]:
        """Per message relation into the region: in-edges split into region sources and outside sums."""
        cols: dict[tuple[schema.CanonicalEtype, int, int], int] = {}
        for i, f in enumerate(facts):
            cols[(f.etype, int(f.src), int(f.dst))] = i
            cols[(schema.reverse(f.etype), int(f.dst), int(f.src))] = i
        rels = self.rgcn.layer_list[0].rel_index
        flows = []
        for etype in adj.live():
            st, _, dt = etype
            if etype not in rels or dt not in ids:
                continue
            dst_ids = ids[dt]
            pos, src = adj.relation(etype).in_edges(dst_ids)
            if not len(src):
                continue
            inside = ids.get(st, np.zeros(0, np.int64))
            at = np.minimum(np.searchsorted(inside, src), max(len(inside) - 1, 0))
            is_in = inside[at] == src if len(inside) else np.zeros(len(src), bool)
            col = np.array(
                [cols.get((etype, int(s), int(dst_ids[p])), -1) for s, p in zip(src[is_in], pos[is_in], strict=True)],
                dtype=np.int64,
            )
            n_dst = len(dst_ids)
            degree = np.bincount(pos, minlength=n_dst)
            outside = self._outside(etype, dst_ids, pos, src, is_in, degree)
            flows.append(
                _Inflow(
                    etype,
                    torch.from_numpy(at[is_in]),
                    torch.from_numpy(pos[is_in]),
                    torch.from_numpy(col),
                    outside,
                    torch.from_numpy(np.bincount(pos[~is_in], minlength=n_dst).astype(np.float32)),
                    torch.from_numpy(degree == 1),
                )
            )
        return flows

    def _outside(
        self,
        etype: schema.CanonicalEtype,
        dst_ids: np.ndarray,
        pos: np.ndarray,
        src: np.ndarray,
        is_in: np.ndarray,
        degree: np.ndarray,
    ) -> list[Tensor]:
        """Per layer ``[n_dst, d]``: the summed states of the sources outside the region.

        A hub's sum of ALL its sources is kept (until the states change) and its region sources subtracted.
        """
        st, layers = etype[0], self.states[: self.rgcn.num_layers]
        hubs = np.flatnonzero(degree > HUB)
        direct = ~is_in & ~np.isin(pos, hubs)
        out = [
            torch.zeros(len(dst_ids), s[st].shape[1]).index_add_(
                0, torch.from_numpy(pos[direct]), s[st][torch.from_numpy(src[direct])]
            )
            for s in layers
        ]
        for p in hubs.tolist():
            key = (etype, int(dst_ids[p]), int(degree[p]))  # the degree: edges added without a re-embedding
            total = self._hub_sums.get(key)
            if total is None:
                every = torch.from_numpy(src[pos == p])
                total = self._hub_sums[key] = torch.stack([s[st][every].sum(0) for s in layers])
            inner = torch.from_numpy(src[(pos == p) & is_in])
            for layer, s in enumerate(layers):
                out[layer][p] = total[layer] - s[st][inner].sum(0)
        return out


def _masked_mean(flow: _Inflow, h_src: Tensor, masks: Tensor, layer: int, n_dst: int) -> Tensor:
    """``[B, n_dst, d]`` mean of the kept in-edges' source states (a node's only edge: kept x state)."""
    keep = torch.ones(masks.shape[0], len(flow.col))
    left = flow.col >= 0
    if left.any():
        keep[:, left] = masks[:, flow.col[left]]
    total = flow.outside[layer].expand(masks.shape[0], -1, -1).clone()
    total.index_add_(1, flow.dst, keep[:, :, None] * h_src[:, flow.src])
    count = flow.n_out.expand(masks.shape[0], -1).clone().index_add_(1, flow.dst, keep)
    count = torch.where(flow.single, torch.ones_like(count), count)  # removing the only edge leaves no message
    return total / count.clamp(min=1.0)[:, :, None]
