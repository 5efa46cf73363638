"""Simulated interactions as graph edits, shared by ``tailor simulate`` and training's warm-up (A.3).

Both interaction kinds of paper 2.2 become new edges of the reserved relations (:mod:`retrieval.graph.schema`):

* more metadata: ``image -has_user_attribute-> attribute`` for attributes a person states;
* "I like that": the liked images are linked to each other (``liked_with``), to a caption node of the
  query's words (``liked_for``) and to the query's candidate (``liked_from``).

A simulated person knows an image's TRUE attributes: the catalog's ground truth (``category:<c>`` plus
its ``group:value`` attributes) when it has them (demo), else the A.5 caption split (Fashion200K), and
states only "general" ones: attributes ranked by how often they occur (3.2, A.7). The edges come as
``{canonical relation: [(src, dst), ...]}`` lists, the format :meth:`retrieval.engine.facade.Engine.apply_edit`
takes; :func:`add_to_graph` applies them to a bare DGL graph (training).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from retrieval.catalog.records import TRAIN, Catalog
from retrieval.catalog.taxonomy import CATEGORY, attribute_key
from retrieval.graph import schema
from retrieval.graph.build import caption_attribute_keys

if TYPE_CHECKING:
    from retrieval.training.config import TrainConfig
    from retrieval.training.prepare import Setup

log = logging.getLogger(__name__)

Edges = dict[schema.CanonicalEtype, list[tuple[int, int]]]
#: Table 3's evaluated metadata: the 5 (AA2) and 15 (AA3, AA4) most frequent attributes.
METADATA_TOP = (5, 15)
#: Images liked per simulated "I like that" (3.2: the 10 nearest the target).
LIKED_PER_INTERACTION = 10
#: Most training queries the warm-up turns into likes (A.3 used 200 of Fashion200K's ~170,000).
WARMUP_MAX_SHARE = 0.1


def true_attributes(catalog: Catalog) -> list[list[str]]:
    """Per catalog image, the attribute keys a person would know: ground truth if any, else caption-based."""
    if any(im.attributes for im in catalog.images):
        return [
            list(
                dict.fromkeys([attribute_key(CATEGORY, im.category), *im.attributes] if im.category else im.attributes)
            )
            for im in catalog.images
        ]
    return [caption_attribute_keys(im.caption) for im in catalog.images]


def attribute_ranking(attrs: Sequence[Iterable[str]]) -> list[str]:
    """Attribute keys by how many images have them, most frequent first (ties by key)."""
    counts = Counter(k for keys in attrs for k in set(keys))
    return sorted(counts, key=lambda k: (-counts[k], k))


def warmup_keys(ranking: Sequence[str], known: Iterable[str], *, skip: int, n: int) -> list[str]:
    """The ``n`` most frequent attributes after the first ``skip`` (the evaluated ones) that are graph nodes."""
    known = set(known)
    return [k for k in ranking[skip:] if k in known][:n]


def metadata_edges(
    attrs: Sequence[Iterable[str]], keys: Iterable[str], images: Iterable[int], attr_index: dict[str, int]
) -> list[tuple[int, int]]:
    """``(image, attribute node)`` pairs: each image in ``images`` tagged with its attributes among ``keys``."""
    keys = set(keys)
    return [(int(i), attr_index[k]) for i in images for k in dict.fromkeys(attrs[i]) if k in keys and k in attr_index]


def liked_sets(
    emb: np.ndarray,
    targets: Sequence[int] | np.ndarray,
    candidates: Sequence[int] | np.ndarray,
    pool: np.ndarray,
    n: int,
) -> list[list[int]]:
    """For each (target, candidate), the ``n`` pool images nearest the target (FAISS, inner product).

    The target is included (it is its own nearest neighbour, and is put first if ties hide it); the
    candidate is not (the person liked results of the query, not the photo they started from).
    """
    import faiss  # heavy: faiss, only for the nearest images of simulated likes

    vecs = np.ascontiguousarray(emb[pool], dtype=np.float32)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    query = np.ascontiguousarray(emb[np.asarray(targets, dtype=np.int64)], dtype=np.float32)
    _, nn = index.search(query, min(n + 2, len(pool)))
    out = []
    for t, c, row in zip(targets, candidates, nn, strict=True):
        near = [int(pool[j]) for j in row if j >= 0 and int(pool[j]) not in (int(t), int(c))]
        out.append([int(t), *near][:n])
    return out


def like_edges(liked: Sequence[Sequence[int]], candidates: Sequence[int] | np.ndarray, first_caption: int) -> Edges:
    """Edges of "I like that" interactions; interaction ``i`` gets the caption node ``first_caption + i``.

    ``liked_with`` links every unordered pair of liked images once (the reverse relation carries the other
    direction); pairs already linked by an earlier interaction of the batch are not repeated.
    """
    with_, for_, from_ = [], [], []
    seen_with: set[tuple[int, int]] = set()
    seen_from: set[tuple[int, int]] = set()
    for i, (images, cand) in enumerate(zip(liked, candidates, strict=True)):
        images = list(dict.fromkeys(int(x) for x in images))
        for a_pos, a in enumerate(images):
            for b in images[a_pos + 1 :]:
                pair = (min(a, b), max(a, b))
                if pair not in seen_with:
                    seen_with.add(pair)
                    with_.append(pair)
            for_.append((a, first_caption + i))
            if a != int(cand) and (a, int(cand)) not in seen_from:
                seen_from.add((a, int(cand)))
                from_.append((a, int(cand)))
    return {schema.IMAGE_LIKED_WITH: with_, schema.IMAGE_LIKED_FOR: for_, schema.IMAGE_LIKED_FROM: from_}


def count_edges(edges: Edges) -> int:
    """Forward edges in an edit (each also gets its reverse in the graph)."""
    return sum(len(v) for v in edges.values())


def add_to_graph(g, edges: Edges, new_nodes: dict[str, np.ndarray] | None = None):
    """A copy of DGL graph ``g`` with new nodes (``{ntype: features [n, d]}``) and ``edges`` plus reverses."""
    g = g.clone()
    for ntype, feats in (new_nodes or {}).items():
        if len(feats):
            g.add_nodes(len(feats), {"feat": torch.as_tensor(np.asarray(feats, np.float32))}, ntype=ntype)
    for etype, pairs in edges.items():
        if pairs:
            src = torch.tensor([p[0] for p in pairs], dtype=g.idtype)
            dst = torch.tensor([p[1] for p in pairs], dtype=g.idtype)
            g.add_edges(src, dst, etype=etype)
            g.add_edges(dst, src, etype=schema.reverse(etype))
    return g


def warmup_graph(setup: Setup, cfg: TrainConfig):
    """A.3: the training graph plus simulated interactions of OTHER kinds than the evaluated ones.

    More metadata: half the training images (not those of validation queries; the other half shows the
    model images without stated attributes, as at test time) tagged with their true attributes among the
    ``cfg.warmup_attributes`` most frequent after the top 15 (Table 3 evaluates the top 5 / 15).
    I like that: ``cfg.warmup_likes`` training queries (at most :data:`WARMUP_MAX_SHARE` of them: a liked
    target linked to its candidate is a shortcut the model must not learn to expect), each liking the 10
    training images nearest its
    target in raw image-feature space (no embedding exists before training), with a new caption node of
    the query's words. The R-GCN trained on this graph learns the reserved relations' weights, so later
    interactions need no training; the saved graph stays the catalog's (the warm-up edges train only).

    Returns:
        The warm-up graph (a copy) and a summary for ``metrics.json``.
    """
    cat, g, ids = setup.catalog, setup.info.graph, setup.info.ids
    truth = true_attributes(cat)
    attr_index = ids.index(schema.ATTRIBUTE)
    keys = warmup_keys(attribute_ranking(truth), attr_index, skip=METADATA_TOP[-1], n=cfg.warmup_attributes)
    image_index = ids.index(schema.IMAGE)
    held = {
        image_index[x] for i in setup.val_q for x in (cat.queries[i].source, cat.queries[i].target) if x in image_index
    }
    images = np.array(
        [image_index[im.image_id] for im in cat.images if im.split == TRAIN and image_index[im.image_id] not in held],
        dtype=np.int64,
    )
    rng = np.random.RandomState(cfg.seed)
    tagged = np.sort(rng.permutation(images)[: len(images) // 2])
    meta = metadata_edges(truth, keys, tagged.tolist(), attr_index)  # image node order = catalog order
    edges: Edges = {schema.IMAGE_HAS_USER_ATTRIBUTE: meta}
    n_likes = min(cfg.warmup_likes, int(WARMUP_MAX_SHARE * len(setup.train_q)))
    n_likes = n_likes if len(images) > LIKED_PER_INTERACTION else 0
    captions = np.zeros((0, setup.query_feats.shape[1]), np.float32)
    if n_likes:
        picks = np.sort(rng.choice(len(setup.train_q), n_likes, replace=False))
        train = setup.train_set
        cands, targets = train.candidates[picks].numpy(), train.targets[picks].numpy()
        feats = setup.image_feats / np.linalg.norm(setup.image_feats, axis=1, keepdims=True).clip(1e-12)
        liked = liked_sets(feats, targets, cands, images, LIKED_PER_INTERACTION)
        edges.update(like_edges(liked, cands, g.num_nodes(schema.CAPTION)))
        captions = setup.query_feats[[setup.train_q[p] for p in picks]]
    warm = add_to_graph(g, edges, {schema.CAPTION: captions})
    summary = {
        "attributes": keys,
        "metadata_edges": len(meta),
        "likes": n_likes,
        "like_edges": count_edges({e: edges.get(e, []) for e in schema.LIKE_RELATIONS}),
    }
    log.info("interaction warm-up: %s", summary)
    return warm, summary
