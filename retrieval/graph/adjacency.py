"""Edges of the information graph as numpy CSR arrays, for the incremental re-embedding (issue 4).

:mod:`retrieval.model.reembed` asks, per layer and relation, for the out-edges of the few nodes whose
state changed, the in-edges of the structurally touched ones and in-degrees. Each of those DGL
calls cost ~100-175 us on this CPU (most of it argument checks), ~24 of them per interaction; the
same questions answered from arrays kept here cost a few microseconds. It reads the graph through
:class:`~retrieval.graph.buffer.GraphBuffer`, so edges not yet written into DGL count too.

Per relation, :class:`Adjacency` keeps every edge (``src`` / ``dst`` in DGL edge-id order), CSR
indexes by source and by destination over the first ``base`` edges, the edges added since as a
short unsorted tail, and each destination's in-degree. It follows the graph by itself for added
edges (they get the next edge ids, so ``num_edges`` says which are new); edges REMOVED need
:meth:`forget` (DGL renumbers the rest). When the tail grows past :data:`TAIL` edges the CSR
indexes are rebuilt.
"""

from __future__ import annotations

import numpy as np

from retrieval.graph import schema
from retrieval.graph.facts import Csr

COMPARE_CELLS = 4096  # tail x ids sizes below which the tail is scanned by one broadcast comparison
TAIL = 64  # unsorted edges kept beside the CSR indexes before they are rebuilt (a small relation: ~50 us)


class _Relation:
    """One relation's edges, CSR indexes, tail and in-degrees."""

    def __init__(self, src: np.ndarray, dst: np.ndarray, n_src: int, n_dst: int) -> None:
        self._build(src, dst, n_src, n_dst)

    def _build(self, src: np.ndarray, dst: np.ndarray, n_src: int, n_dst: int) -> None:
        self.src, self.dst = src, dst
        self.base = len(src)
        self.by_src = Csr.from_pairs(src, dst, n_src)
        self.by_dst = Csr.from_pairs(dst, src, n_dst)
        self.deg = np.bincount(dst, minlength=n_dst).astype(np.float32)

    def append(self, src: np.ndarray, dst: np.ndarray, n_src: int, n_dst: int) -> None:
        self.src, self.dst = np.concatenate([self.src, src]), np.concatenate([self.dst, dst])
        if len(self.deg) < n_dst:
            self.deg = np.concatenate([self.deg, np.zeros(n_dst - len(self.deg), np.float32)])
        np.add.at(self.deg, dst, 1.0)
        if len(self.src) - self.base > TAIL:  # nodes added since the CSR was built only have tail edges
            self._build(self.src, self.dst, n_src, n_dst)

    def degree(self, ids: np.ndarray) -> np.ndarray:
        """In-degree (float32) of destination nodes ``ids``; 0 for nodes newer than the last edge added."""
        if not len(ids) or ids.max() < len(self.deg):
            return self.deg[ids]
        out = np.zeros(len(ids), np.float32)
        known = ids < len(self.deg)
        out[known] = self.deg[ids[known]]
        return out

    def _tail(self, ids: np.ndarray, key: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, others = key[self.base :], other[self.base :]
        if len(keys) * len(ids) <= COMPARE_CELLS:  # small: one comparison table beats isin's set-up
            hit = np.flatnonzero((keys[:, None] == ids[None, :]).any(axis=1))
        else:
            hit = np.flatnonzero(np.isin(keys, ids, kind="table"))
        return np.searchsorted(ids, keys[hit]), others[hit]

    def out_edges(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions in ids, destinations)`` of the out-edges of sorted unique ``ids``."""
        return self._both(ids, self.by_src, self.src, self.dst)

    def in_edges(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions in ids, sources)`` of the in-edges of sorted unique ``ids``."""
        return self._both(ids, self.by_dst, self.dst, self.src)

    def _both(self, ids: np.ndarray, csr: Csr, key: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(ids):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        n = csr.n_rows
        pos, far = csr.gather(ids if ids[-1] < n else ids[ids < n])  # newer nodes: tail edges only
        if len(key) == self.base:
            return pos, far
        tpos, tfar = self._tail(ids, key, other)
        return np.concatenate([pos, tpos]), np.concatenate([far, tfar])


class Adjacency:
    """Numpy view of the relations ``etypes`` of a graph, kept in step with it.

    Args:
        g: the graph, a :class:`~retrieval.graph.buffer.GraphBuffer` (read here; edited by its owner,
            which calls :meth:`forget` after removals).
        etypes: the canonical relations to index (the R-GCN's message relations).
    """

    def __init__(self, g, etypes: list[schema.CanonicalEtype]) -> None:
        self.g = g
        self.etypes = [e for e in etypes if e in g.canonical_etypes]
        self._rels: dict[schema.CanonicalEtype, _Relation] = {}
        self._seen: int | None = None  # the DGL graph's own edge count at the last sync

    def forget(self) -> None:
        """Drop every index (after edges were removed from the graph)."""
        self._rels.clear()
        self._seen = None

    def sync(self) -> None:
        """Pick up the edges added to the graph since the last call.

        Only the relations the buffer added edges to are looked at, unless the DGL graph's own edge
        count moved (a write of the buffer, or an edit made on the DGL graph directly): then all are.
        """
        g = self.g
        stored = g.stored_edges()
        dirty = g.take_dirty()
        etypes = (
            self.etypes
            if stored != self._seen or len(self._rels) < len(self.etypes)
            else [e for e in self.etypes if e in dirty]
        )
        for etype in etypes:
            self._sync(etype)
        self._seen = stored

    def relation(self, etype: schema.CanonicalEtype) -> _Relation:
        """The edges of ``etype`` as of the last :meth:`sync`."""
        return self._rels[etype]

    def _sync(self, etype: schema.CanonicalEtype) -> None:
        g = self.g
        rel = self._rels.get(etype)
        n_edges = g.num_edges(etype)
        if rel is not None and n_edges == len(rel.src):
            return
        n_src, n_dst = g.num_nodes(etype[0]), g.num_nodes(etype[2])
        if rel is None or n_edges < len(rel.src):
            src, dst = g.edges(etype)
            self._rels[etype] = _Relation(src, dst, n_src, n_dst)
        elif n_edges > len(rel.src):
            src, dst = g.edges(etype, len(rel.src), n_edges)
            rel.append(src, dst, n_src, n_dst)

    def live(self) -> list[schema.CanonicalEtype]:
        """The indexed relations that have edges (as of the last :meth:`sync`)."""
        return [e for e in self.etypes if len(self._rels[e].src)]
