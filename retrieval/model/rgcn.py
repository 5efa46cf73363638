"""R-GCN with basis decomposition (DGL ``HeteroGraphConv``) and the composition heads.

The R-GCN (Schlichtkrull et al. 2018) embeds every node of the information graph: typed input
projections, then ``num_layers`` layers where node ``v`` of type ``t`` gets

    h_v' = act( W_self h_v + b + sum_r mean_{u in N_r(v)} h_u W_r ),   W_r = sum_b a_rb V_b

with the ``V_b`` SHARED by all relations of a layer. Each relation is a small module inside one
``dgl.nn.HeteroGraphConv`` (3-4x faster than ``RelGraphConv`` on CPU). The same layer arithmetic
is exposed per node (:meth:`RGCN.node_update`) so a new caption node can be embedded as a sink from
cached neighbour states, and an edited neighbourhood re-embedded, without a full pass.

Composition heads (:mod:`retrieval.model.heads`) turn (candidate, caption embedding) into a query vector:
:class:`ComposeAEHead` (complex rotation, Anwaar et al. 2021) and :class:`TirgHead` (gated
residual, Vo et al. 2019); the baselines use them on raw features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import dgl
import dgl.function as fn
import torch
import torch.nn.functional as F
from dgl.nn import HeteroGraphConv
from torch import Tensor, nn

from retrieval.graph import schema
from retrieval.graph.schema import CanonicalEtype


class BasisWeights(nn.Module):
    """Per-relation weights ``W_r = sum_b a_rb V_b`` from ``num_bases`` shared matrices.

    Args:
        num_rels: number of relations R.
        in_dim: input size.
        out_dim: output size.
        num_bases: number of shared bases B (clipped to ``1..R``).
    """

    def __init__(self, num_rels: int, in_dim: int, out_dim: int, *, num_bases: int) -> None:
        super().__init__()
        num_bases = max(1, min(num_bases, num_rels))
        self.bases = nn.Parameter(torch.empty(num_bases, in_dim, out_dim))
        self.coeff = nn.Parameter(torch.empty(num_rels, num_bases))
        nn.init.xavier_uniform_(self.bases, gain=nn.init.calculate_gain("relu"))
        nn.init.xavier_uniform_(self.coeff)

    def forward(self, rel: int) -> Tensor:
        """``W_rel``: ``[in_dim, out_dim]``."""
        return torch.einsum("b,bio->io", self.coeff[rel], self.bases)


class RelationConv(nn.Module):
    """Message function of one relation: mean of the source states, times ``W_r``.

    Holds no parameters of its own: ``W_r`` comes from the layer's shared :class:`BasisWeights`.
    """

    def __init__(self, rel: int, basis: BasisWeights) -> None:
        super().__init__()
        self.rel = rel
        self._basis = [basis]  # a list: the layer, not this module, owns the shared bases

    def forward(self, g: dgl.DGLGraph, h: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """Args: ``g`` one-relation graph, ``h`` source (and destination) states ``[N_src, D]``.

        Returns:
            ``[N_dst, D_out]`` mean-aggregated, projected messages (zeros where no in-edge).
        """
        h_src = h[0] if isinstance(h, tuple) else h
        with g.local_scope():
            g.srcdata["h"] = h_src
            g.update_all(fn.copy_u("h", "m"), fn.mean("m", "a"))
            return g.dstdata["a"] @ self._basis[0](self.rel)


class RGCNLayer(nn.Module):
    """One R-GCN layer over the relations ``etypes`` with shared bases and a self-loop."""

    def __init__(
        self,
        etypes: Sequence[CanonicalEtype],
        in_dim: int,
        out_dim: int,
        *,
        num_bases: int,
        activation: bool = True,
        dropout: float = 0.0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual and in_dim == out_dim
        self.etypes: list[CanonicalEtype] = [(e[0], e[1], e[2]) for e in etypes]
        self.rel_index = {e: i for i, e in enumerate(self.etypes)}
        self.basis = BasisWeights(len(self.etypes), in_dim, out_dim, num_bases=num_bases)
        mods = {e: RelationConv(i, self.basis) for i, e in enumerate(self.etypes)}
        self.conv = HeteroGraphConv(mods, aggregate="sum")
        self.loop = nn.Linear(in_dim, out_dim)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)

    def finish(self, pre: Tensor, x: Tensor) -> Tensor:
        """Activation (all but the last layer), dropout, and the residual input ``x`` if enabled."""
        out = self.dropout(F.relu(pre)) if self.activation else pre
        return out + x if self.residual else out

    def forward(self, g: dgl.DGLHeteroGraph, h: dict[str, Tensor]) -> dict[str, Tensor]:
        """Args: ``h[ntype]`` ``[N_ntype, in_dim]``. Returns ``[N_ntype, out_dim]`` per node type."""
        msgs = self.conv(g, h)
        out = {}
        for ntype, x in h.items():
            pre = self.loop(x)
            if ntype in msgs:
                pre = pre + msgs[ntype]
            out[ntype] = self.finish(pre, x)
        return out


class RGCN(nn.Module):
    """The graph encoder: typed input projections, then ``num_layers`` :class:`RGCNLayer`.

    Args:
        in_dims: feature size per node type (``{"image": 1280, "caption": 384, ...}``).
        etypes: canonical relations that carry messages (others in the graph are ignored).
        hidden: hidden and output size (the paper: 128).
        num_layers: number of layers (the paper: 3).
        num_bases: shared bases per layer.
        dropout: dropout on features and hidden states.
        residual: add each layer's input to its output (keeps a node's own identity through the
            layers; without it 3 layers over-smooth images that share attributes).
        jk: jumping-knowledge readout of images: ``h_L + g * h_0`` with a learned per-dimension gate
            ``g`` (:meth:`readout`), so the embedding keeps the image's own features beside the smoothed state.
    """

    def __init__(
        self,
        in_dims: dict[str, int],
        *,
        etypes: Sequence[CanonicalEtype],
        hidden: int = 128,
        num_layers: int = 3,
        num_bases: int = 8,
        dropout: float = 0.1,
        residual: bool = False,
        jk: bool = False,
    ) -> None:
        super().__init__()
        self.jk_gate = nn.Parameter(torch.ones(hidden)) if jk else None
        self.etypes: list[CanonicalEtype] = [(e[0], e[1], e[2]) for e in etypes]
        self.hidden = hidden
        self.proj = nn.ModuleDict({nt: nn.Linear(d, hidden) for nt, d in in_dims.items()})
        for nt, d in in_dims.items():  # feature standardisation, set from the training graph
            self.register_buffer(f"mean_{nt}", torch.zeros(d))
            self.register_buffer(f"std_{nt}", torch.ones(d))
        self.in_drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            RGCNLayer(
                self.etypes,
                hidden,
                hidden,
                num_bases=num_bases,
                activation=i < num_layers - 1,
                dropout=dropout,
                residual=residual,
            )
            for i in range(num_layers)
        )

    @property
    def num_layers(self) -> int:
        """Number of message-passing layers."""
        return len(self.layers)

    @property
    def layer_list(self) -> list[RGCNLayer]:
        """The message-passing layers, typed (``nn.ModuleList`` items are plain ``nn.Module`` to mypy)."""
        return cast("list[RGCNLayer]", list(self.layers))

    @torch.no_grad()
    def set_feature_stats(self, feats: dict[str, Tensor]) -> None:
        """Standardise each node type's features with their mean / std (kept in the state dict)."""
        for nt, x in feats.items():
            if nt in self.proj and len(x) > 1:
                getattr(self, f"mean_{nt}").copy_(x.mean(0))
                getattr(self, f"std_{nt}").copy_(x.std(0) + 1e-6)

    def project(self, ntype: str, x: Tensor) -> Tensor:
        """Layer-0 state of ``ntype`` nodes from raw features ``[n, in_dim]``: ``[n, hidden]``."""
        x = (x - getattr(self, f"mean_{ntype}")) / getattr(self, f"std_{ntype}")
        return self.proj[ntype](self.in_drop(x))

    def input_states(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        """Layer-0 states per node type (standardised features, typed projections), ``[N, hidden]``."""
        return {nt: self.project(nt, x) for nt, x in feats.items() if nt in self.proj}

    def message_graph(self, g: dgl.DGLHeteroGraph) -> dgl.DGLHeteroGraph:
        """``g`` restricted to the message-carrying relations that have edges (empty ones add zeros).

        Cached per graph, node counts and edge counts, so edits (new nodes / edges) rebuild it; an edit
        that removes edges calls :meth:`forget_message_graph` (the counts may not change).
        """
        etypes = [e for e in g.canonical_etypes if e in self.layer_list[0].rel_index]
        counts = (tuple(g.num_nodes(nt) for nt in g.ntypes), tuple(int(g.num_edges(e)) for e in etypes))
        cached = self.__dict__.get("_mg_cache")
        if cached is not None and cached[0] is g and cached[1] == counts:
            return cached[2]
        keep = [e for e, n in zip(etypes, counts[1], strict=True) if n]
        mg = g if len(keep) == len(g.canonical_etypes) else g.edge_type_subgraph(keep)
        self.__dict__["_mg_cache"] = (g, counts, mg)
        return mg

    def forget_message_graph(self) -> None:
        """Drop the cached message graph (after removing edges, which may leave the counts unchanged)."""
        self.__dict__.pop("_mg_cache", None)

    def forward(
        self, g: dgl.DGLHeteroGraph, feats: dict[str, Tensor], *, all_layers: bool = False
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Embed every node.

        Args:
            g: the information graph (left untouched: ``local_scope``).
            feats: ``{ntype: [N_ntype, in_dims[ntype]]}``.
            all_layers: return the states of every layer (input projection first) instead.

        Returns:
            ``{ntype: [N_ntype, hidden]}`` final states, or a list of ``num_layers + 1`` such dicts.
        """
        with g.local_scope():
            mg = self.message_graph(g)
            h = self.input_states(feats)
            states = [h]
            for layer in self.layers:
                h = layer(mg, h)
                states.append(h)
        return states if all_layers else h

    def readout(self, states: list[dict[str, Tensor]], ntype: str, ids: Tensor | None = None) -> Tensor:
        """Final embeddings of ``ntype`` nodes (``ids``, default all) from per-layer ``states``.

        The last layer's state, plus for images with ``jk`` the gated layer-0 projection. Every
        consumer of image embeddings (training, search, re-embedding) goes through here.
        """
        last = states[-1][ntype] if ids is None else states[-1][ntype][ids]
        if self.jk_gate is None or ntype != schema.IMAGE:
            return last
        first = states[0][ntype] if ids is None else states[0][ntype][ids]
        return last + self.jk_gate * first

    def node_update(self, layer: int, self_state: Tensor, agg: dict[CanonicalEtype, Tensor]) -> Tensor:
        """Layer ``layer`` (0-based) for some nodes from aggregated neighbour states.

        Args:
            layer: which layer.
            self_state: ``[n, hidden]`` the nodes' own states at the layer's input.
            agg: per relation, ``[n, hidden]`` MEAN of in-neighbour states (zeros where none).

        Returns:
            ``[n, hidden]`` the nodes' states at the layer's output, as :meth:`forward` computes them.
        """
        lay = self.layer_list[layer]
        pre = lay.loop(self_state)
        for etype, a in agg.items():
            if etype in lay.rel_index:
                pre = pre + a @ lay.basis(lay.rel_index[etype])
        return lay.finish(pre, self_state)

    def sink_states(
        self,
        states: list[dict[str, Tensor]],
        ntype: str,
        feats: Tensor,
        in_edges: dict[CanonicalEtype, tuple[Tensor, Tensor]],
    ) -> Tensor:
        """Final states of NEW nodes that only receive messages (sinks), from cached layer states.

        A sink changes no other node, so the cached states stay valid: O(in-degree x layers).

        Args:
            states: per-layer states of the graph (``forward(..., all_layers=True)``).
            ntype: node type of the new nodes.
            feats: ``[n, in_dims[ntype]]`` their features.
            in_edges: per relation (into ``ntype``), ``(src node ids [E], dst positions in 0..n-1 [E])``.

        Returns:
            ``[n, hidden]``, equal to the full forward with the nodes and edges added.
        """
        n = feats.shape[0]
        h = self.project(ntype, feats)
        for layer in range(self.num_layers):
            agg = {e: mean_into(states[layer][e[0]][src], dst, n) for e, (src, dst) in in_edges.items() if len(src)}
            h = self.node_update(layer, h, agg)
        return h


def mean_into(x: Tensor, dst: Tensor, n: int) -> Tensor:
    """Mean of rows ``x`` ``[E, d]`` grouped by ``dst`` ``[E]`` into ``[n, d]`` (zeros where none)."""
    out = torch.zeros(n, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, dst, x)
    count = torch.bincount(dst, minlength=n).clamp(min=1).to(x.dtype)
    return out / count[:, None]
