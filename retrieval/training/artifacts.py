"""A trained model directory: load it (:mod:`retrieval.training.save` writes it); the engine's inference API.

Layout of ``MODEL_DIR``: ``config.json`` (TrainConfig), ``model.pt`` (R-GCN, head, scale), ``graph.bin`` +
``ids.json`` (the information graph), ``attributes/`` (the attribute predictor, when predicted),
``features/images.npy`` + ``features/queries.npy``, ``catalog.json`` (where the catalog is), ``splits.json``
(query indices), ``train_log.json``, ``metrics.json``, ``manifest.json`` (checksums, checked before any read:
:mod:`retrieval.training.manifest`); the ``graph-caption/`` variant is a model directory of this layout inside it.

:class:`TrainedModel` runs one full forward pass at load and caches every node's per-layer states.
A new caption is then embedded as a sink from cached neighbour states (:meth:`embed_new_caption`,
O(degree x layers)), composed with its candidate (:meth:`compose`) and searched against
:meth:`image_embeddings`; after graph edits :meth:`reembed` updates only the k-hop neighbourhood.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import cast

import dgl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from retrieval.catalog.datasets.options import OPTIONS_FILE, DatasetOptions, reload_catalog
from retrieval.catalog.records import Catalog
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.config import load_config
from retrieval.errors import ModelNotFoundError, UnknownItemError
from retrieval.features import encode_texts
from retrieval.graph import schema
from retrieval.graph.adjacency import Adjacency
from retrieval.graph.buffer import GraphBuffer
from retrieval.graph.build import GRAPH_FILE, IDS_FILE, GraphIds, InfoGraph, MentionFinder
from retrieval.model.attributes import AttributePredictor
from retrieval.model.fast_head import numpy_head
from retrieval.model.heads import ComposeAEHead, ScaledNorm, TirgHead, make_head
from retrieval.model.reembed import forward_with_pre, reembed, relation_weights
from retrieval.model.rgcn import RGCN
from retrieval.training.config import TrainConfig, load_train_config
from retrieval.training.loop import (
    CAPTION_VARIANT_DIR,
    build_rgcn,
    caption_in_edges,
)
from retrieval.training.manifest import read_artifact, read_json, reading, verify_manifest

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.pt"
ATTRIBUTES_DIR = "attributes"
FEATURES_DIR = "features"
CATALOG_FILE = "catalog.json"
SPLITS_FILE = "splits.json"
LOG_FILE = "train_log.json"
METRICS_FILE = "metrics.json"
#: Default relative tolerance of :meth:`TrainedModel.reembed` for loaded models: a node whose state moves
#: by less than this fraction of its norm keeps its old state and does not propagate (hub attribute nodes
#: would otherwise spread every edit over the whole graph in 3 hops).
#: 1e-2 measured on the demo (6,019 images): p99 23 ms per interaction (1e-3: 50 ms), largest image embedding
#: error 0.003 against an exact re-embed, 99.8% of top-10 results unchanged.
REEMBED_TOL = 1e-2


def load_model(model_dir: str | Path, *, reembed_tol: float = REEMBED_TOL) -> TrainedModel:
    """Load a model directory written by :func:`retrieval.training.run.train` (rebuilt from ``config.json``).

    ``manifest.json`` is verified first (~0.15 s for the demo model, :mod:`retrieval.training.manifest`): a
    file changed or unreadable raises CorruptArtifactError naming it; no manifest, MissingManifestError.

    Args:
        model_dir: the model directory.
        reembed_tol: relative tolerance of :meth:`TrainedModel.reembed` after graph edits (0 = exact).
    """
    d = Path(model_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE, CATALOG_FILE):
        if not (d / name).is_file():
            raise ModelNotFoundError(
                f"{d} is not a trained model ({name} is missing).",
                fix="train one with `tailor train --data DIR --out MODEL`",
            )
    verify_manifest(d)
    cfg = read_artifact(d / CONFIG_FILE, load_train_config)
    graph = read_artifact(d / GRAPH_FILE, lambda p: dgl.load_graphs(str(p))[0][0], extra=(dgl.DGLError,))
    info = InfoGraph(graph, read_artifact(d / IDS_FILE, GraphIds.load))
    weights = read_artifact(d / WEIGHTS_FILE, lambda p: torch.load(p, map_location="cpu", weights_only=True))
    with reading(d / WEIGHTS_FILE):  # weights that do not fit config.json
        rgcn = build_rgcn(weights["in_dims"], cfg)
        head = make_head(cfg.head, cfg.hidden, residual=cfg.residual)
        norm = ScaledNorm(cfg.scale)
        rgcn.load_state_dict(weights["rgcn"])
        head.load_state_dict(weights["head"])
        norm.load_state_dict(weights["norm"])
    return TrainedModel(d, cfg, info, rgcn, head, norm, reembed_tol=reembed_tol)


class TrainedModel:
    """A loaded model with cached per-layer node states: the engine's inference API."""

    def __init__(
        self,
        model_dir: Path,
        cfg: TrainConfig,
        info: InfoGraph,
        rgcn: RGCN,
        head: ComposeAEHead | TirgHead,
        norm: ScaledNorm,
        *,
        reembed_tol: float = 0.0,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.cfg = cfg
        self.info = info
        self.rgcn = rgcn.eval()
        self.head = head.eval()
        self.norm = norm.eval()
        self.reembed_tol = float(reembed_tol)
        self.states: list[dict[str, torch.Tensor]] = []
        self.buffer = GraphBuffer(info.graph)
        self.refresh()

    # -- artifacts -----------------------------------------------------------------------
    @property
    def graph(self):
        """The DGL heterograph, pending additions written in (interactions add through :attr:`buffer`)."""
        return self.buffer.graph

    @property
    def ids(self):
        """Node id <-> name maps."""
        return self.info.ids

    @cached_property
    def predictor(self) -> AttributePredictor | None:
        """The attribute predictor the graph's image attributes came from (None unless predicted)."""
        d = self.model_dir / ATTRIBUTES_DIR
        return read_artifact(d, AttributePredictor.load, model_dir=self.model_dir) if d.is_dir() else None

    @cached_property
    def catalog_info(self) -> dict:
        """``catalog.json``: path, format and size of the training catalog."""
        return read_json(self.model_dir / CATALOG_FILE)

    @cached_property
    def dataset(self) -> DatasetOptions:
        """``dataset.json``: how the catalog folder was read (older models: the saved format, defaults)."""
        path = self.model_dir / OPTIONS_FILE
        if path.is_file():
            return read_artifact(path, lambda p: load_config(DatasetOptions, p))
        return DatasetOptions(format=self.catalog_info.get("format", "auto"))

    @cached_property
    def catalog(self) -> Catalog:
        """The catalog the model was trained on (loaded on first use, the skipped images dropped again)."""
        info = self.catalog_info
        return reload_catalog(info["path"], self.dataset, info.get("skipped_image_ids", []))

    @cached_property
    def taxonomy(self) -> Taxonomy:
        """The EI tree the graph hangs on."""
        src = self.catalog_info.get("taxonomy")
        return Taxonomy.load(src if src and Path(src).is_file() else None)

    @cached_property
    def splits(self) -> dict[str, list[int]]:
        """Query indices (catalog order) of train / val / test."""
        return read_json(self.model_dir / SPLITS_FILE)

    @cached_property
    def image_features(self) -> np.ndarray:
        """Raw image features ``[N_images, D_img]`` in node order."""
        return read_artifact(self.model_dir / FEATURES_DIR / "images.npy", np.load, model_dir=self.model_dir)

    @cached_property
    def query_features(self) -> np.ndarray:
        """Text features of the catalog's queries ``[N_queries, D_txt]``."""
        return read_artifact(self.model_dir / FEATURES_DIR / "queries.npy", np.load, model_dir=self.model_dir)

    @cached_property
    def mention_finder(self) -> MentionFinder:
        """The attribute-mention rule the graph was built with."""
        return MentionFinder(self.cfg.attribute_source, self.taxonomy, self.ids.attributes)

    def caption_variant(self) -> TrainedModel | None:
        """The ``graph-caption`` model trained beside this one, if any."""
        sub = self.model_dir / CAPTION_VARIANT_DIR
        return load_model(sub) if (sub / CONFIG_FILE).is_file() else None

    # -- ids -----------------------------------------------------------------------------
    def image_node(self, image_id: str) -> int:
        """Node id of an image id (UnknownItemError if absent)."""
        node = self.ids.index(schema.IMAGE).get(image_id)
        if node is None:
            raise UnknownItemError(
                f"Image {image_id!r} is not in the model's catalog.",
                fix="use an image id from the catalog (tailor catalog check lists them)",
            )
        return node

    def mentions(self, text: str) -> list[int]:
        """Attribute node ids a modification text mentions."""
        index = self.ids.index(schema.ATTRIBUTE)
        return [index[k] for k in self.mention_finder(text) if k in index]

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Text features ``[n, D_txt]`` with the model's text encoder."""
        return encode_texts(texts, self.cfg.features)

    # -- inference -------------------------------------------------------------------------
    @torch.no_grad()
    def refresh(self) -> None:
        """Full forward pass; cache every node's per-layer states (and pre-activations) and the sink fast path."""
        g = self.graph
        feats = {nt: g.nodes[nt].data["feat"] for nt in g.ntypes}
        self.states, self._pres = forward_with_pre(self.rgcn, g, feats)
        self._prepare_fast_path()
        self._image_emb = F.normalize(self.rgcn.readout(self.states, schema.IMAGE), dim=-1).numpy()

    @torch.no_grad()
    def _prepare_fast_path(self) -> None:
        """Weights of the sink fast path and of :meth:`reembed` (once per refresh), then the state views."""
        proj = cast(nn.Linear, self.rgcn.proj[schema.CAPTION])
        mean = getattr(self.rgcn, f"mean_{schema.CAPTION}").numpy()
        std = getattr(self.rgcn, f"std_{schema.CAPTION}").numpy()
        weight = proj.weight.detach().numpy()
        w = weight.T / std[:, None]  # standardisation folded into the projection
        self._proj = (w.astype(np.float32), proj.bias.detach().numpy() - (mean / std) @ weight.T)
        self._layers = []
        self._rel_weights = relation_weights(self.rgcn)
        self._adjacency = Adjacency(self.buffer, list(self.rgcn.layer_list[0].rel_index))
        self._np_head = numpy_head(self.head)
        self._jk = None if self.rgcn.jk_gate is None else self.rgcn.jk_gate.detach().numpy().copy()
        for lay in self.rgcn.layer_list:
            w = {
                e: lay.basis(lay.rel_index[e]).detach().numpy()
                for e in (schema.IMAGE_REV_MODIFIES, schema.ATTRIBUTE_REV_MENTIONS)
                if e in lay.rel_index
            }
            self._layers.append(
                (
                    lay.loop.weight.detach().numpy().T.copy(),
                    lay.loop.bias.detach().numpy().copy(),
                    w,
                    lay.activation,
                    lay.residual,
                )
            )
        self._state_views()

    def _state_views(self) -> None:
        self._np_states = [{nt: s[nt].numpy() for nt in (schema.IMAGE, schema.ATTRIBUTE)} for s in self.states]

    def image_embeddings(self) -> np.ndarray:
        """L2-normalised image embeddings ``[N_images, hidden]`` (node order) for the index."""
        return self._image_emb

    def embed_new_caption(
        self, text_feature: np.ndarray, candidate_node: int | None, attribute_nodes: list[int]
    ) -> np.ndarray:
        """Embedding ``[hidden]`` of a NEW caption node, a sink fed by its candidate and attributes.

        Equal to a full forward with the caption node and its in-edges added; touches no cached
        state, costs O(degree x layers).
        """
        h = np.asarray(text_feature, dtype=np.float32).reshape(-1) @ self._proj[0] + self._proj[1]
        for layer, (w_loop, b_loop, w_rel, act, residual) in enumerate(self._layers):
            pre = h @ w_loop + b_loop
            st = self._np_states[layer]
            if candidate_node is not None and schema.IMAGE_REV_MODIFIES in w_rel:
                pre = pre + st[schema.IMAGE][candidate_node] @ w_rel[schema.IMAGE_REV_MODIFIES]
            if attribute_nodes and schema.ATTRIBUTE_REV_MENTIONS in w_rel:
                pre = pre + st[schema.ATTRIBUTE][attribute_nodes].mean(0) @ w_rel[schema.ATTRIBUTE_REV_MENTIONS]
            h = (np.maximum(pre, 0.0) if act else pre) + (h if residual else 0.0)
        return h.astype(np.float32)

    @torch.no_grad()
    def compose(self, candidate_node: int, caption_embedding: np.ndarray) -> np.ndarray:
        """L2-normalised query vector ``[hidden]`` from a candidate image node and a caption embedding
        (in numpy, :mod:`retrieval.model.fast_head`, when the head's layout allows; else torch).
        """
        if self._np_head is not None:
            img = self._np_states[-1][schema.IMAGE][candidate_node]
            if self._jk is not None:
                img = img + self._jk * self._np_states[0][schema.IMAGE][candidate_node]
            return self._np_head(img, np.asarray(caption_embedding, dtype=np.float32).reshape(-1))
        cand = self.rgcn.readout(self.states, schema.IMAGE, torch.tensor([candidate_node]))
        q = self.head(cand, torch.as_tensor(np.asarray(caption_embedding, dtype=np.float32))[None])
        return F.normalize(q, dim=-1)[0].numpy()

    def query_vector(self, candidate_id: str, text: str) -> np.ndarray:
        """Convenience: the normalised query vector of (candidate image id, modification text)."""
        node = self.image_node(candidate_id)
        cap = self.embed_new_caption(self.encode_texts([text])[0], node, self.mentions(text))
        return self.compose(node, cap)

    @torch.no_grad()
    def embed_queries(self, text_feats: np.ndarray, candidates: list[int], attributes: list[list[int]]) -> np.ndarray:
        """Batched: normalised query vectors ``[n, hidden]`` (captions as sinks)."""
        caps = self.rgcn.sink_states(
            self.states,
            schema.CAPTION,
            torch.as_tensor(np.asarray(text_feats, np.float32)),
            caption_in_edges(list(candidates), attributes),
        )
        cand = torch.as_tensor(candidates, dtype=torch.int64)
        q = self.head(self.rgcn.readout(self.states, schema.IMAGE, cand), caps)
        return F.normalize(q, dim=-1).numpy()

    def forget_edges(self) -> None:
        """Call after REMOVING edges from :attr:`graph`: the kept edge indexes are rebuilt from it."""
        self.rgcn.forget_message_graph()
        if getattr(self, "_adjacency", None) is not None:
            self._adjacency.forget()

    @torch.no_grad()
    def reembed(self, touched: dict[str, Iterable[int]], *, tol: float | None = None) -> dict[str, list[int]]:
        """Update the cached states after edits of :attr:`graph` (:mod:`retrieval.model.reembed`).

        Call after editing the graph (new nodes need ``feat``; pass the endpoints of new / removed
        edges and the new nodes). Only the touched nodes are re-aggregated; changes flow on to at most
        k hops (k = layers) through cached pre-activations. With ``tol`` 0 the result equals a full
        re-embed of the edited graph; with ``tol`` > 0 a node whose state moves by at most ``tol`` times
        its norm keeps it and sends nothing on (an edit stays local instead of reaching the whole graph
        through hub attribute nodes); the pending change is kept and sent once it grows past ``tol``.

        Args:
            touched: per node type, the nodes whose edges changed.
            tol: relative tolerance (default :attr:`reembed_tol`).

        Returns:
            Per node type, the nodes whose states changed; for images, those whose embedding changed
            (to re-index).
        """
        tol = self.reembed_tol if tol is None else float(tol)
        n_images = self._image_emb.shape[0]
        changed, final = reembed(
            self.rgcn, self.buffer, self.states, self._pres, self._rel_weights, touched, tol, self._adjacency
        )
        self._state_views()
        n_now = self.states[-1][schema.IMAGE].shape[0]
        final |= set(range(n_images, n_now))
        if n_now != n_images:
            self._image_emb = F.normalize(self.rgcn.readout(self.states, schema.IMAGE), dim=-1).numpy()
        elif final:
            ids = torch.tensor(sorted(final), dtype=torch.int64)
            emb = self.rgcn.readout(self.states, schema.IMAGE, ids)
            self._image_emb[ids.numpy()] = F.normalize(emb, dim=-1).numpy()
        changed[schema.IMAGE] = final
        return {nt: sorted(v) for nt, v in changed.items() if v}
