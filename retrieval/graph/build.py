"""The information graph (paper 2.1, Fig. 1b) as a DGL heterograph, with JSON id maps.

Nodes: product images, relative captions (one per training query), attributes (``group:value``)
and EI-tree concepts. Edges: caption modifies its candidate image, image has attribute, caption
mentions attribute, attribute / concept is-a concept, each with its reverse; the relations
reserved for issue 4's interactions are present with zero edges. Node features (``feat``): image
feature for images, text feature of the caption / the attribute's or concept's name otherwise.

:func:`build_graph` takes resolved inputs (attribute lists, captions, feature arrays); where the
attributes come from (predicted, caption-based A.5, ground truth) is decided by the caller
(:mod:`retrieval.training.loop`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dgl
import numpy as np
import torch

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, normalise_text, split_key
from retrieval.catalog.text_attributes import caption_attributes, text_attributes
from retrieval.errors import ModelNotFoundError
from retrieval.graph import schema

log = logging.getLogger(__name__)

GRAPH_FILE = "graph.bin"
IDS_FILE = "ids.json"
TextEncoder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CaptionSpec:
    """A relative caption to add as a node: its words, candidate image and mentioned attributes."""

    text: str
    candidate: str
    attributes: tuple[str, ...] = ()
    query_index: int = -1


@dataclass
class GraphIds:
    """Node id <-> name maps of a graph, one list per node type (position = DGL node id)."""

    images: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    caption_queries: list[int] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    concepts: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index: dict[str, dict[str, int]] = {}

    def names(self, ntype: str) -> list[str]:
        """Node names of ``ntype`` in node-id order."""
        return {
            schema.IMAGE: self.images,
            schema.CAPTION: self.captions,
            schema.ATTRIBUTE: self.attributes,
            schema.CONCEPT: self.concepts,
            schema.USER: self.users,
        }[ntype]

    def index(self, ntype: str) -> dict[str, int]:
        """Name -> node id of ``ntype`` (the first node for duplicated caption texts)."""
        names = self.names(ntype)
        cached = self._index.get(ntype)
        if cached is None or len(cached) > len(names) or (names and names[-1] not in cached):
            cached = {}
            for i, name in enumerate(names):
                cached.setdefault(name, i)
            self._index[ntype] = cached
        return cached

    def add(self, ntype: str, name: str) -> int:
        """Append a node name and return its new id (the graph must get the node too)."""
        names = self.names(ntype)
        names.append(name)
        self._index.pop(ntype, None)
        if ntype == schema.CAPTION:
            self.caption_queries.append(-1)
        return len(names) - 1

    def to_dict(self) -> dict[str, list]:
        """JSON-ready form."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the maps as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> GraphIds:
        """Read maps written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"Graph id map {path} is missing.", fix="re-run `tailor train`")
        return cls(**json.loads(path.read_text()))


@dataclass
class InfoGraph:
    """A built graph and its id maps."""

    graph: dgl.DGLHeteroGraph
    ids: GraphIds

    def save(self, folder: str | Path) -> None:
        """Write ``graph.bin`` (dgl.save_graphs) and ``ids.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        dgl.save_graphs(str(folder / GRAPH_FILE), [self.graph])
        self.ids.save(folder / IDS_FILE)

    @classmethod
    def load(cls, folder: str | Path) -> InfoGraph:
        """Read a graph written by :meth:`save`."""
        folder = Path(folder)
        if not (folder / GRAPH_FILE).is_file():
            raise ModelNotFoundError(f"{folder / GRAPH_FILE} is missing.", fix="re-run `tailor train`")
        graphs, _ = dgl.load_graphs(str(folder / GRAPH_FILE))
        return cls(graphs[0], GraphIds.load(folder / IDS_FILE))


# -- names ---------------------------------------------------------------------------------------
def attribute_name(key: str) -> str:
    """The words an attribute node's feature is computed from (``color:navy`` -> ``navy``)."""
    _, value = split_key(key)
    return value.replace("-", " ") if value else key


def concept_name(concept: str) -> str:
    """The words a concept node's feature is computed from (``group:color`` -> ``color``)."""
    if concept.startswith(schema.GROUP_CONCEPT_PREFIX):
        concept = concept[len(schema.GROUP_CONCEPT_PREFIX) :]
    return concept.replace("-", " ")


def attribute_parent(key: str, taxonomy: Taxonomy) -> str:
    """The concept an attribute is-a: a category's EI-tree parent, else its group's concept node."""
    group, value = split_key(key)
    if group == CATEGORY and value in taxonomy.categories:
        return taxonomy.categories[value].parent
    return schema.group_concept(group)


def concept_parent(concept: str, taxonomy: Taxonomy) -> str | None:
    """Parent concept (group concepts hang under the root), None for the root."""
    if concept in taxonomy.concepts:
        return taxonomy.concepts[concept].parent
    return taxonomy.root


# -- phrase matching (caption-based attributes, A.5) ----------------------------------------------
class PhraseMatcher:
    """Exact normalised phrase match of attribute names in a text, by word n-grams."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.table: dict[str, list[str]] = {}
        for key in keys:
            phrase = normalise_text(split_key(key)[1])
            if phrase:
                self.table.setdefault(phrase, []).append(key)
        self.max_words = max((len(p.split()) for p in self.table), default=0)

    def __call__(self, text: str) -> list[str]:
        """Attribute keys whose whole name occurs in ``text`` (word boundaries), in first-seen order."""
        words = re.findall(r"[\w'-]+", normalise_text(text))
        out: dict[str, None] = {}
        for n in range(min(self.max_words, len(words)), 0, -1):
            for i in range(len(words) - n + 1):
                for key in self.table.get(" ".join(words[i : i + n]), ()):
                    out.setdefault(key, None)
        return list(out)


# -- build ---------------------------------------------------------------------------------------
def build_graph(
    image_ids: Sequence[str],
    image_attributes: Sequence[Sequence[str]],
    captions: Sequence[CaptionSpec],
    taxonomy: Taxonomy,
    *,
    image_features: np.ndarray,
    caption_features: np.ndarray,
    text_encoder: TextEncoder,
    extra_attributes: Sequence[str] = (),
    image_products: Sequence[str] | None = None,
) -> InfoGraph:
    """Build the heterograph.

    Args:
        image_ids: image node order.
        image_attributes: ``group:value`` keys per image (same order).
        captions: relative captions to add as nodes (candidate ids must be in ``image_ids``).
        taxonomy: the EI tree; attribute and concept nodes hang on it.
        image_features: float32 ``[len(image_ids), D_img]``.
        caption_features: float32 ``[len(captions), D_txt]``.
        text_encoder: texts -> float32 ``[n, D_txt]`` for attribute / concept names.
        extra_attributes: keys that get a node even if no image has them (the taxonomy's values).
        image_products: product id per image: photos of one product are linked by ``same_product``.

    Returns:
        The graph (every relation of :data:`schema.ALL_RELATIONS`, features in ``ndata["feat"]``)
        and its id maps.
    """
    if len(image_attributes) != len(image_ids) or len(image_features) != len(image_ids):
        raise ValueError("image_ids, image_attributes and image_features must have the same length")
    if len(caption_features) != len(captions):
        raise ValueError("captions and caption_features must have the same length")
    ids = GraphIds(images=list(image_ids))
    image_index = ids.index(schema.IMAGE)
    attr_index: dict[str, int] = {}

    def attr(key: str) -> int:
        if key not in attr_index:
            attr_index[key] = len(attr_index)
        return attr_index[key]

    for key in extra_attributes:
        attr(key)
    edges: dict[schema.CanonicalEtype, tuple[list[int], list[int]]] = {e: ([], []) for e in schema.ALL_RELATIONS}
    has_attr = edges[schema.IMAGE_HAS_ATTRIBUTE]
    for i, keys in enumerate(image_attributes):
        for key in dict.fromkeys(keys):
            has_attr[0].append(i)
            has_attr[1].append(attr(key))
    if image_products is not None:
        photos: dict[str, list[int]] = {}
        for i, product in enumerate(image_products):
            photos.setdefault(product, []).append(i)
        same = edges[schema.IMAGE_SAME_PRODUCT]
        for members in photos.values():
            for a in members:
                for b in members:
                    if a != b:
                        same[0].append(a)
                        same[1].append(b)
    modifies = edges[schema.CAPTION_MODIFIES]
    mentions = edges[schema.CAPTION_MENTIONS]
    for c, spec in enumerate(captions):
        ids.captions.append(spec.text)
        ids.caption_queries.append(spec.query_index)
        if spec.candidate in image_index:
            modifies[0].append(c)
            modifies[1].append(image_index[spec.candidate])
        for key in dict.fromkeys(spec.attributes):
            mentions[0].append(c)
            mentions[1].append(attr(key))
    ids.attributes = list(attr_index)
    # concepts: every attribute's parent, then up the tree to the root
    concept_index: dict[str, int] = {}
    attr_is_a = edges[schema.ATTRIBUTE_IS_A]
    for a, key in enumerate(ids.attributes):
        parent = attribute_parent(key, taxonomy)
        attr_is_a[0].append(a)
        attr_is_a[1].append(concept_index.setdefault(parent, len(concept_index)))
    concept_is_a = edges[schema.CONCEPT_IS_A]
    todo = list(concept_index)
    while todo:
        concept = todo.pop(0)
        up = concept_parent(concept, taxonomy)
        if up is None:
            continue
        if up not in concept_index:
            concept_index[up] = len(concept_index)
            todo.append(up)
        concept_is_a[0].append(concept_index[concept])
        concept_is_a[1].append(concept_index[up])
    ids.concepts = list(concept_index)
    for etype in schema.BASE_RELATIONS + schema.RESERVED_RELATIONS:
        src, dst = edges[etype]
        edges[schema.reverse(etype)] = (list(dst), list(src))
    num_nodes = {
        schema.IMAGE: len(ids.images),
        schema.CAPTION: len(ids.captions),
        schema.ATTRIBUTE: len(ids.attributes),
        schema.CONCEPT: len(ids.concepts),
        schema.USER: 0,
    }
    data = {e: (torch.tensor(s, dtype=torch.int64), torch.tensor(d, dtype=torch.int64)) for e, (s, d) in edges.items()}
    g = dgl.heterograph(data, num_nodes_dict=num_nodes, idtype=torch.int64)
    text_dim = int(caption_features.shape[1]) if caption_features.ndim == 2 and len(captions) else None
    attr_feats = _encode(text_encoder, [attribute_name(k) for k in ids.attributes], text_dim)
    text_dim = attr_feats.shape[1]
    g.nodes[schema.IMAGE].data["feat"] = torch.as_tensor(np.asarray(image_features, dtype=np.float32))
    g.nodes[schema.CAPTION].data["feat"] = torch.as_tensor(
        np.asarray(caption_features, dtype=np.float32).reshape(len(captions), text_dim)
    )
    g.nodes[schema.ATTRIBUTE].data["feat"] = torch.as_tensor(attr_feats)
    g.nodes[schema.CONCEPT].data["feat"] = torch.as_tensor(
        _encode(text_encoder, [concept_name(c) for c in ids.concepts], text_dim)
    )
    g.nodes[schema.USER].data["feat"] = torch.zeros(0, text_dim)
    log.info("graph: %s nodes, %d edges", num_nodes, g.num_edges())
    return InfoGraph(g, ids)


def _encode(encoder: TextEncoder, texts: list[str], dim: int | None) -> np.ndarray:
    if not texts:
        return np.zeros((0, dim or 0), dtype=np.float32)
    return np.asarray(encoder(texts), dtype=np.float32)


def edge_counts(g: dgl.DGLHeteroGraph) -> dict[str, int]:
    """Edges per canonical relation (``etype_key`` -> count)."""
    return {schema.etype_key(e): int(g.num_edges(e)) for e in g.canonical_etypes}


def neighbours(g: dgl.DGLHeteroGraph, etype: schema.CanonicalEtype, node: int) -> list[int]:
    """Destination node ids of ``node``'s out-edges of relation ``etype``."""
    return g.successors(node, etype=etype).tolist()


# -- attribute sources ---------------------------------------------------------------------------
ATTRIBUTE_SOURCES = ("predicted", "caption", "ground-truth")


def caption_attribute_keys(caption: str) -> list[str]:
    """A.5 caption-based attributes of a product caption: ``caption-first:<word>``, ``caption-rest:<rest>``."""
    first, rest = caption_attributes(caption)
    out = []
    if first:
        out.append(f"{schema.CAPTION_FIRST_GROUP}:{first}")
    if rest:
        out.append(f"{schema.CAPTION_REST_GROUP}:{rest}")
    return out


def taxonomy_attribute_keys(taxonomy: Taxonomy) -> list[str]:
    """Every taxonomy attribute and category as a key: the attribute nodes a taxonomy graph always has."""
    return [f"{CATEGORY}:{c}" for c in taxonomy.categories] + taxonomy.attributes()


class MentionFinder:
    """The attributes a relative caption mentions, consistently for training and query time.

    Taxonomy sources (predicted, ground-truth): taxonomy phrases and synonyms
    (:func:`retrieval.catalog.text_attributes.text_attributes`). Caption source (A.5): exact normalised phrase
    match of the attribute nodes' names.
    """

    def __init__(self, source: str, taxonomy: Taxonomy, attribute_keys: Sequence[str]) -> None:
        self.source = source
        self.taxonomy = taxonomy
        self.matcher = PhraseMatcher(attribute_keys) if source == "caption" else None

    def __call__(self, text: str) -> list[str]:
        """Attribute keys mentioned by ``text``."""
        if self.matcher is not None:
            return self.matcher(text)
        return text_attributes(text, self.taxonomy)
