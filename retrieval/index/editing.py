"""Graph edits with their index update: the one place the engine changes its graph (issue 4).

:meth:`EditMixin._apply_edit` adds nodes and edges (with reverses) to the DGL graph, removes edges,
re-embeds only the k-hop neighbourhood (:meth:`TrainedModel.reembed`), writes the changed image
vectors into the index and keeps the explanation facts (:class:`~retrieval.graph.explain.GraphFacts`) in
step. A mixin of :class:`retrieval.engine.facade.Engine` (through the interactions mixin).
"""

from __future__ import annotations

import numpy as np

from retrieval.errors import InteractionError
from retrieval.graph import schema

IS_A = (schema.ATTRIBUTE, schema.IS_A, schema.CONCEPT)
Pairs = list[tuple[int, int]]


class EditMixin:
    """Graph + index + facts edits; needs the Engine's ``model``, ``facts``, ``index``, ``_emb``, ``_lock``."""

    def _apply_edit(
        self,
        *,
        nodes: dict[str, list[tuple[str, np.ndarray]]] | None = None,
        edges: dict[schema.CanonicalEtype, Pairs] | None = None,
        remove: dict[schema.CanonicalEtype, Pairs] | None = None,
        link_concepts: bool = True,
        reembed: bool = True,
    ) -> dict[str, list[int]]:
        """Apply a graph edit AND the matching index update together.

        Args:
            nodes: per node type, new ``(name, feature)``; their ids are the next free ones, in order.
            edges: per canonical (forward) relation, ``(src, dst)`` node id pairs to add.
            remove: per canonical (forward) relation, ``(src, dst)`` pairs whose edges (and reverses) go.
            link_concepts: hang new attribute nodes on their group / EI-tree concept (``is_a``).
            reembed: re-embed now (False: the caller re-embeds later, e.g. once after a replay).

        Returns:
            Per node type, the node ids whose embeddings were recomputed (touched ones if not ``reembed``).
        """
        import torch

        with self._lock:
            buf, ids = self.model.buffer, self.model.ids
            touched: dict[str, set[int]] = {nt: set() for nt in buf.ntypes}
            edges = dict(edges or {})
            for ntype, new in (nodes or {}).items():
                for name, feat in new:
                    node = ids.add(ntype, name)
                    first = buf.add_nodes(ntype, torch.as_tensor(np.asarray(feat, np.float32))[None])
                    if first != node:
                        raise InteractionError(
                            f"{ntype} node ids out of step (names {node}, graph {first}).",
                            fix="reload the engine: the graph was edited outside _apply_edit",
                        )
                    touched[ntype].add(node)
                    if ntype == schema.ATTRIBUTE:
                        self._attr_feats = None
                    if ntype == schema.ATTRIBUTE:
                        concept = self._concept_of(name) if link_concepts else -1
                        self.facts.add_attribute(name, concept)
                        if concept >= 0:
                            edges[IS_A] = [*edges.get(IS_A, []), (node, concept)]
            for etype, pairs in (remove or {}).items():
                if self._remove_edges(etype, pairs):
                    for s, d in pairs:
                        touched[etype[0]].add(s)
                        touched[etype[2]].add(d)
                        if etype[0] == schema.IMAGE and etype[2] == schema.ATTRIBUTE:
                            self.facts.drop_image_attribute(s, d)
            for etype, pairs in edges.items():
                if not pairs:
                    continue
                src = np.array([p[0] for p in pairs], dtype=np.int64)
                dst = np.array([p[1] for p in pairs], dtype=np.int64)
                buf.add_edges(etype, src, dst)
                buf.add_edges(schema.reverse(etype), dst, src)
                touched[etype[0]].update(src.tolist())
                touched[etype[2]].update(dst.tolist())
                if etype[0] == schema.IMAGE and etype[2] == schema.ATTRIBUTE:
                    for s, d in pairs:
                        self.facts.add_image_attribute(s, d, etype[1])
            touched_lists = {nt: sorted(v) for nt, v in touched.items() if v}
            if not reembed:
                return touched_lists
            changed = self.model.reembed(touched_lists)
            self._emb = np.asarray(self.model.image_embeddings(), dtype=np.float32)
            images = changed.get(schema.IMAGE, [])
            if images:
                self.index.update(np.asarray(images, dtype=np.int64), self._emb[images])
            return changed

    def _concept_of(self, attribute_key: str) -> int:
        from retrieval.graph.build import attribute_parent

        return self.model.ids.index(schema.CONCEPT).get(attribute_parent(attribute_key, self.taxonomy), -1)

    def _remove_edges(self, etype: schema.CanonicalEtype, pairs: Pairs) -> bool:
        """Remove every ``src -> dst`` edge of ``etype`` and its reverse; True if any existed."""
        import torch

        g = self.model.graph
        found = False
        for rel, a, b in ((etype, 0, 1), (schema.reverse(etype), 1, 0)):
            eids = []
            for p in pairs:
                src, dst, eid = g.out_edges(torch.tensor([p[a]]), form="all", etype=rel)
                eids += eid[dst == p[b]].tolist()
            if eids:
                g.remove_edges(torch.tensor(eids, dtype=torch.int64), etype=rel)
                found = True
        if found:
            self.model.forget_edges()
        return found

    def _link_attribute(self, node: int, reembed: bool) -> None:
        """Hang a detached attribute node (made by a pending statement) on its concept, as a global one is."""
        concept = self._concept_of(self.model.ids.attributes[node])
        self._detached.discard(node)
        if concept >= 0:
            self.facts.attr_concept[node] = concept
            self.facts._chains.clear()
            self._apply_edit(edges={IS_A: [(node, concept)]}, reembed=reembed)
