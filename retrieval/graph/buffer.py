"""The information graph with edits not yet written into the DGL heterograph (issue 4).

An interaction adds a node or two and a few edges. DGL rebuilds a relation's whole edge table on
every ``add_edges`` call (~0.25 ms each, up to six per "I like that") and every table of a node
type on ``add_nodes`` (~1.3 ms for a caption, whose features are copied too): more than the
incremental re-embedding itself. :class:`GraphBuffer` keeps such additions aside, answers node
and edge counts, features and edge ranges for them, and writes them into DGL in one batch per node
type / relation when someone needs the DGL graph itself (:attr:`GraphBuffer.graph`: a full forward,
removing edges, the simulations, saving).

The re-embedding reads the buffer through :class:`retrieval.graph.adjacency.Adjacency`, so an interaction
is incorporated (states, index) without touching DGL.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from retrieval.graph import schema

log = logging.getLogger(__name__)

#: pending additions (nodes + edges) written into DGL at once; bounds the buffer a long-running
#: server keeps (reads concatenate it) while one write per relation stays rare (~every 100 likes)
FLUSH_AT = 1024


class GraphBuffer:
    """A DGL heterograph ``g`` plus pending node and edge additions.

    Pending nodes get the next ids of their type; pending edges the next edge ids of their relation,
    exactly as DGL numbers them when they are written (:meth:`flush`, also done once
    :data:`FLUSH_AT` additions are pending).
    """

    def __init__(self, g) -> None:
        self._g = g
        self.ntypes = list(g.ntypes)
        self.canonical_etypes = list(g.canonical_etypes)
        self._nodes: dict[str, list[torch.Tensor]] = {}
        self._edges: dict[schema.CanonicalEtype, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        self._n_nodes: dict[str, int] = {}
        self._n_edges: dict[schema.CanonicalEtype, int] = {}
        self._dirty: set[schema.CanonicalEtype] = set()

    @property
    def graph(self):
        """The DGL graph with every pending addition written in."""
        self.flush()
        return self._g

    @property
    def pending(self) -> bool:
        """True while additions wait to be written into DGL."""
        return bool(self._n_nodes or self._n_edges)

    # -- counts and reads ----------------------------------------------------------------
    def num_nodes(self, ntype: str) -> int:
        """Nodes of ``ntype``, pending ones included."""
        return int(self._g.num_nodes(ntype)) + self._n_nodes.get(ntype, 0)

    def num_edges(self, etype: schema.CanonicalEtype | None = None) -> int:
        """Edges of ``etype`` (all relations if None), pending ones included."""
        if etype is None:
            return int(self._g.num_edges()) + sum(self._n_edges.values())
        return int(self._g.num_edges(etype)) + self._n_edges.get(etype, 0)

    def features(self, ntype: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """``feat`` rows ``start:stop`` of ``ntype``, pending nodes included."""
        stop = self.num_nodes(ntype) if stop is None else stop
        stored = self._g.nodes[ntype].data["feat"]
        n = stored.shape[0]
        parts = [stored[start : min(stop, n)]] if start < n else []
        if stop > n:
            parts.append(_tail_slice(self._nodes[ntype], self._n_nodes[ntype], max(start - n, 0), stop - n, torch.cat))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def edges(
        self, etype: schema.CanonicalEtype, start: int = 0, stop: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(src, dst)`` int64 of edge ids ``start:stop`` of ``etype``, pending edges included."""
        stop = self.num_edges(etype) if stop is None else stop
        n = int(self._g.num_edges(etype))
        src, dst = [], []
        if start < n:
            s, d = self._g.find_edges(torch.arange(start, min(stop, n), dtype=self._g.idtype), etype=etype)
            src.append(s.numpy().astype(np.int64))
            dst.append(d.numpy().astype(np.int64))
        if stop > n:
            ps, pd = self._edges[etype]
            total, lo, hi = self._n_edges[etype], max(start - n, 0), stop - n
            src.append(_tail_slice(ps, total, lo, hi, np.concatenate))
            dst.append(_tail_slice(pd, total, lo, hi, np.concatenate))
        if not src:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(src), np.concatenate(dst)

    def stored_edges(self) -> int:
        """Edges in the DGL graph itself (pending ones not counted)."""
        return int(self._g.num_edges())

    def take_dirty(self) -> set[schema.CanonicalEtype]:
        """The relations edges were added to (through the buffer) since the last call."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    # -- additions -----------------------------------------------------------------------
    def add_nodes(self, ntype: str, feats: torch.Tensor) -> int:
        """Append ``len(feats)`` nodes of ``ntype`` (``feat`` rows); returns the first new id."""
        first = self.num_nodes(ntype)
        self._nodes.setdefault(ntype, []).append(torch.as_tensor(feats, dtype=torch.float32).reshape(len(feats), -1))
        self._n_nodes[ntype] = self._n_nodes.get(ntype, 0) + len(feats)
        self._maybe_flush()
        return first

    def add_edges(self, etype: schema.CanonicalEtype, src: np.ndarray, dst: np.ndarray) -> None:
        """Append edges ``src -> dst`` of ``etype`` (node ids may be pending ones)."""
        src, dst = np.asarray(src, dtype=np.int64).reshape(-1), np.asarray(dst, dtype=np.int64).reshape(-1)
        if not len(src):
            return
        ps, pd = self._edges.setdefault(etype, ([], []))
        ps.append(src)
        pd.append(dst)
        self._n_edges[etype] = self._n_edges.get(etype, 0) + len(src)
        self._dirty.add(etype)
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if sum(self._n_nodes.values()) + sum(self._n_edges.values()) >= FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Write the pending additions into DGL: one call per node type, then one per relation."""
        if not self.pending:
            return
        g = self._g
        for ntype, parts in self._nodes.items():
            g.add_nodes(sum(len(p) for p in parts), {"feat": torch.cat(parts)}, ntype=ntype)
        for etype, (ps, pd) in self._edges.items():
            g.add_edges(torch.from_numpy(np.concatenate(ps)), torch.from_numpy(np.concatenate(pd)), etype=etype)
        log.debug(
            "graph buffer: wrote %d nodes and %d edges into DGL",
            sum(self._n_nodes.values()),
            sum(self._n_edges.values()),
        )
        self._nodes.clear()
        self._edges.clear()
        self._n_nodes.clear()
        self._n_edges.clear()


def _tail_slice(parts: list, total: int, start: int, stop: int, cat):
    """Rows ``start:stop`` of the concatenation of ``parts`` (``total`` rows), joining only the parts
    it needs: reads are nearly always of the newest rows, so the walk starts from the end.
    """
    need, end = [], total
    for part in reversed(parts):
        if end <= start:
            break
        begin = end - len(part)
        if begin < stop:
            need.append(part[max(start - begin, 0) : min(stop, end) - begin])
        end = begin
    if not need:
        return parts[-1][:0]
    need.reverse()
    return need[0] if len(need) == 1 else cat(need)
