"""The engine's graph state: model and graph, explanation facts, image embeddings, vector index, items.

Owns :class:`GraphState`, the ONE writer of the image embeddings: :meth:`GraphState.apply_edit` adds
nodes and edges (with reverses) to the DGL graph, removes edges, re-embeds only the k-hop
neighbourhood (:meth:`TrainedModel.reembed`), writes the changed image vectors into the index and keeps
the explanation facts (:class:`~retrieval.graph.explain.GraphFacts`) in step, all in one call;
:meth:`GraphState.full_reembed` re-embeds and re-indexes everything. Also the image id <-> node maps
and the photos of each product (:class:`Items`). Undoing a like edits this one back (``unlink``); undoing
a global statement builds a new GraphState.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.errors import DatasetError, InteractionError, UnknownItemError
from retrieval.graph import schema
from retrieval.graph.explain import Explainer, GraphFacts
from retrieval.index.vectors import IndexConfig, VectorIndex
from retrieval.training.artifacts import load_model

logger = logging.getLogger(__name__)

IS_A = (schema.ATTRIBUTE, schema.IS_A, schema.CONCEPT)
Pairs = list[tuple[int, int]]


@dataclass
class Items:
    """Catalog fields of each image node (position = image node id)."""

    image_ids: list[str]
    product_ids: list[str]
    captions: list[str]
    categories: list[str]
    paths: list[str]

    @classmethod
    def from_catalog(cls, catalog: Any, image_ids: list[str]) -> Items:
        """Fields of ``image_ids`` (graph order) looked up in ``catalog``."""
        missing = [i for i in image_ids if i not in catalog]
        if missing:
            raise DatasetError(
                f"{len(missing)} image ids of the model are not in the catalog (e.g. {missing[:3]}).",
                path=str(catalog.root),
                fix="re-train the model on the current catalog",
            )
        recs = [catalog.image(i) for i in image_ids]
        return cls(
            list(image_ids),
            [r.product_id for r in recs],
            [r.caption for r in recs],
            [r.category for r in recs],
            [r.path for r in recs],
        )


class GraphState:
    """Graph, facts, embeddings and index that always agree (see the module docstring).

    Args:
        model: a :class:`retrieval.training.artifacts.TrainedModel` (its graph, states and query embedding).
        items: catalog fields per image node.
        facts: graph adjacency for explanations and text search.
        index: vector index over image node embeddings (ids = image node ids).
        embeddings: image node embeddings aligned with ``index`` (default: the model's).
    """

    def __init__(
        self,
        model: Any,
        items: Items,
        facts: GraphFacts,
        index: Any,
        *,
        embeddings: np.ndarray | None = None,
    ) -> None:
        self.model = model
        self.items = items
        self.facts = facts
        self.index = index
        self.explainer = Explainer(facts)
        self.detached: set[int] = set()  # attribute nodes made by pending statements, not yet on a concept
        self._lock = threading.RLock()
        self._emb = np.asarray(model.image_embeddings() if embeddings is None else embeddings, dtype=np.float32)
        self._node_of = {name: i for i, name in enumerate(items.image_ids)}
        self._product_nodes: dict[str, list[int]] = {}
        for node, pid in enumerate(items.product_ids):
            self._product_nodes.setdefault(pid, []).append(node)
        self._attr_feats: np.ndarray | None = None

    @classmethod
    def from_model(cls, model: Any, index_cfg: IndexConfig, *, index_dir: str | Path | None = None) -> GraphState:
        """The state of a loaded model: items from its catalog, facts from its graph, a fresh (or saved) index."""
        items = Items.from_catalog(model.catalog, model.ids.images)
        facts = GraphFacts.from_graph(model.graph, model.ids, model.taxonomy)
        emb = model.image_embeddings()
        index = None
        if index_dir is not None and Path(index_dir).is_dir():
            index = VectorIndex.load(index_dir)
            if len(index) != len(emb) or index.dim != emb.shape[1]:
                logger.warning(
                    "saved index %s does not match the model (%d vectors); rebuilding", index_dir, len(index)
                )
                index = None
        if index is None:
            index = VectorIndex(emb.shape[1], index_cfg)
            index.add(np.arange(len(emb), dtype=np.int64), emb)
        return cls(model, items, facts, index, embeddings=emb)

    # -- reading -------------------------------------------------------------------------
    @property
    def embeddings(self) -> np.ndarray:
        """Image node embeddings (row = image node id), aligned with :attr:`index`; read-only by convention."""
        return self._emb

    @property
    def taxonomy(self) -> Any:
        """The model's taxonomy."""
        return self.model.taxonomy

    def __len__(self) -> int:
        return len(self.items.image_ids)

    def has_image(self, image_id: str) -> bool:
        """True when ``image_id`` names a photo of this graph."""
        return image_id in self._node_of

    def node(self, image_id: str) -> int:
        """Image node id of ``image_id`` (UnknownItemError if the catalog has no such photo)."""
        node = self._node_of.get(image_id) if isinstance(image_id, str) else None
        if node is None:
            raise UnknownItemError(
                f"No product photo has id {image_id!r}.",
                fix="use an image_id from a previous result (or `tailor catalog check` the catalog)",
            )
        return node

    def nodes_of(self, image_ids: Iterable[str]) -> set[int]:
        """Image nodes of the known ids among ``image_ids`` (unknown ones ignored)."""
        return {self._node_of[i] for i in image_ids if i in self._node_of}

    def product_nodes(self, product_id: str) -> list[int]:
        """Image nodes of one product's photos."""
        return list(self._product_nodes.get(product_id, ()))

    def with_products(self, nodes: set[int]) -> set[int]:
        """``nodes`` plus the other photos of their products."""
        out = set(nodes)
        for n in nodes:
            out.update(self._product_nodes.get(self.items.product_ids[n], ()))
        return out

    def attribute_features(self) -> np.ndarray:
        """Unit text features of the attribute nodes (the graph's ``feat``), cached until an attribute is added."""
        if self._attr_feats is None:
            feats = self.model.buffer.features(schema.ATTRIBUTE).numpy()
            self._attr_feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
        return self._attr_feats

    def save_index(self, directory: str | Path) -> Path:
        """Write the vector index."""
        with self._lock:
            return Path(self.index.save(directory))

    # -- writing -------------------------------------------------------------------------
    def full_reembed(self) -> None:
        """Full forward pass over the graph, every image vector re-indexed."""
        with self._lock:
            self.model.refresh()
            self._emb = np.asarray(self.model.image_embeddings(), dtype=np.float32)
            self.index.update(np.arange(len(self._emb), dtype=np.int64), self._emb)

    def apply_edit(
        self,
        *,
        nodes: dict[str, list[tuple[str, np.ndarray]]] | None = None,
        edges: dict[schema.CanonicalEtype, Pairs] | None = None,
        remove: dict[schema.CanonicalEtype, Pairs] | None = None,
        unlink: dict[schema.CanonicalEtype, Pairs] | None = None,
        link_concepts: bool = True,
        reembed: bool = True,
    ) -> dict[str, list[int]]:
        """Apply a graph edit AND the matching index update together.

        Args:
            nodes: per node type, new ``(name, feature)``; their ids are the next free ones, in order.
            edges: per canonical (forward) relation, ``(src, dst)`` node id pairs to add.
            remove: per canonical (forward) relation, ``(src, dst)`` pairs whose edges (and reverses) go.
            unlink: like ``remove``, but ONE edge (and one reverse) per listed pair: what one ``edges``
                entry added, while copies other edits added stay (undoing one of several equal likes).
            link_concepts: hang new attribute nodes on their group / EI-tree concept (``is_a``).
            reembed: re-embed now (False: the caller re-embeds later, e.g. once after a replay).

        Returns:
            Per node type, the node ids whose embeddings were recomputed (touched ones if not ``reembed``).
        """
        import torch  # heavy: torch loads only when the graph is edited; searching needs numpy and faiss

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
                            fix="reload the engine: the graph was edited outside GraphState.apply_edit",
                        )
                    touched[ntype].add(node)
                    if ntype == schema.ATTRIBUTE:
                        self._attr_feats = None
                        concept = self._concept_of(name) if link_concepts else -1
                        self.facts.add_attribute(name, concept)
                        if concept >= 0:
                            edges[IS_A] = [*edges.get(IS_A, []), (node, concept)]
            removals = [(etype, pairs, False) for etype, pairs in (remove or {}).items()]
            removals += [(etype, pairs, True) for etype, pairs in (unlink or {}).items()]
            for etype, pairs, once in removals:
                if pairs and self._remove_edges(etype, pairs, once=once):
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
            changed: dict[str, list[int]] = self.model.reembed(touched_lists)
            self._emb = np.asarray(self.model.image_embeddings(), dtype=np.float32)
            images = changed.get(schema.IMAGE, [])
            if images:
                self.index.update(np.asarray(images, dtype=np.int64), self._emb[images])
            return changed

    def add_attribute(self, key: str, feature: np.ndarray | None, *, detached: bool, reembed: bool) -> int:
        """Node of attribute ``key``, created with ``feature`` if new (detached: no is_a edge, for pending
        statements); a detached one is hung on its concept once a non-detached use comes.
        """
        index = self.model.ids.index(schema.ATTRIBUTE)
        node = index.get(key)
        if node is None:
            if feature is None:
                raise InteractionError(f"The new attribute {key!r} needs a text feature.", fix="pass its feature")
            node = len(self.model.ids.attributes)
            self.apply_edit(nodes={schema.ATTRIBUTE: [(key, feature)]}, link_concepts=not detached, reembed=reembed)
            if detached:
                self.detached.add(node)
        elif node in self.detached and not detached:
            self._link_attribute(node, reembed)
        return int(node)

    def _concept_of(self, attribute_key: str) -> int:
        from retrieval.graph.build import attribute_parent  # heavy: graph.build imports torch and dgl

        concept: int = self.model.ids.index(schema.CONCEPT).get(attribute_parent(attribute_key, self.taxonomy), -1)
        return concept

    def _remove_edges(self, etype: schema.CanonicalEtype, pairs: Pairs, *, once: bool = False) -> bool:
        """Remove every ``src -> dst`` edge of ``etype`` and its reverse (``once``: the newest one per
        listed pair); True if any existed.
        """
        import torch  # heavy: torch, only when the graph is edited

        g = self.model.graph
        found = False
        for rel, a, b in ((etype, 0, 1), (schema.reverse(etype), 1, 0)):
            eids: list[int] = []
            for p in pairs:
                _, dst, eid = g.out_edges(torch.tensor([p[a]]), form="all", etype=rel)
                matching = eid[dst == p[b]].tolist()
                if once:
                    matching = [e for e in sorted(matching, reverse=True) if e not in eids][:1]
                eids += matching
            if eids:
                g.remove_edges(torch.tensor(eids, dtype=torch.int64), etype=rel)
                found = True
        if found:
            self.model.forget_edges()
        return found

    def _link_attribute(self, node: int, reembed: bool) -> None:
        """Hang a detached attribute node (made by a pending statement) on its concept, as a global one is."""
        concept = self._concept_of(self.model.ids.attributes[node])
        self.detached.discard(node)
        if concept >= 0:
            self.facts.link_attribute(node, concept)
            self.apply_edit(edges={IS_A: [(node, concept)]}, reembed=reembed)


def load_graph(
    model_dir: str | Path,
    index_cfg: IndexConfig,
    *,
    reembed_tol: float | None = None,
    index_dir: str | Path | None = None,
) -> GraphState:
    """A :class:`GraphState` of the trained model in ``model_dir`` (a saved index from ``index_dir`` if it fits)."""
    model = load_model(Path(model_dir))
    if reembed_tol is not None:
        model.reembed_tol = float(reembed_tol)
    return GraphState.from_model(model, index_cfg, index_dir=index_dir)
