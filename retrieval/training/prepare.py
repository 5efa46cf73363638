"""Everything training and evaluation derive from a catalog: features, attributes, graph, query sets.

:func:`build_setup` loads the catalog, encodes images and query texts (cached), gets image
attributes from the configured source (predicted / caption / ground-truth), builds the information
graph with one caption node per training query, and turns train / validation / test queries into
node ids.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from retrieval.catalog.datasets.options import DatasetOptions, load_dataset, reload_catalog, without_images
from retrieval.catalog.records import TEST, TRAIN, VAL, Catalog
from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key
from retrieval.errors import DatasetError
from retrieval.features import FeatureConfig, encode_images, encode_texts
from retrieval.features.base import torch_threads
from retrieval.graph import schema
from retrieval.graph.build import (
    CaptionSpec,
    InfoGraph,
    MentionFinder,
    build_graph,
    caption_attribute_keys,
    taxonomy_attribute_keys,
)
from retrieval.model.attributes import AttributePredictor, exclusive_groups, image_label_lists

if TYPE_CHECKING:
    from retrieval.training.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class QuerySet:
    """Queries as node ids: candidates, targets, text features, mentioned attribute nodes."""

    candidates: torch.Tensor
    targets: torch.Tensor
    text: torch.Tensor
    attributes: list[list[int]]

    def __len__(self) -> int:
        return len(self.candidates)


@dataclass
class Setup:
    """A catalog prepared for one attribute source."""

    catalog: Catalog
    catalog_dir: Path
    taxonomy: Taxonomy
    cfg: TrainConfig
    image_feats: np.ndarray  # [N_images, D_img], catalog image order = image node order
    query_feats: np.ndarray  # [N_queries, D_txt], catalog query order
    image_attrs: list[list[str]]
    info: InfoGraph
    mention: MentionFinder
    predictor: AttributePredictor | None
    train_q: list[int]
    val_q: list[int]
    test_q: list[int]
    cache_dir: Path | None = None
    dataset: DatasetOptions = field(default_factory=DatasetOptions)
    skipped: dict = field(default_factory=dict)
    _mentions: dict[str, list[str]] = field(default_factory=dict)

    def node_features(self) -> dict[str, torch.Tensor]:
        """``ndata["feat"]`` per node type."""
        g = self.info.graph
        return {nt: g.nodes[nt].data["feat"] for nt in g.ntypes}

    def mentions(self, text: str) -> list[int]:
        """Attribute node ids a text mentions."""
        keys = self._mentions.get(text)
        if keys is None:
            keys = self._mentions[text] = self.mention(text)
        index = self.info.ids.index(schema.ATTRIBUTE)
        return [index[k] for k in keys if k in index]

    def query_set(self, query_ids: list[int]) -> QuerySet:
        """Queries (catalog indices) as node ids; unknown targets become -1."""
        index = self.info.ids.index(schema.IMAGE)
        qs = [self.catalog.queries[i] for i in query_ids]
        return QuerySet(
            candidates=torch.tensor([index[q.source] for q in qs], dtype=torch.int64),
            targets=torch.tensor([index.get(q.target, -1) for q in qs], dtype=torch.int64),
            text=torch.as_tensor(
                self.query_feats[query_ids] if query_ids else np.zeros((0, self.query_feats.shape[1]), np.float32)
            ),
            attributes=[self.mentions(q.text) for q in qs],
        )

    @property
    def train_set(self) -> QuerySet:
        """Training queries (their captions are graph nodes ``train_caption_nodes``)."""
        return self.query_set(self.train_q)

    @property
    def val_set(self) -> QuerySet:
        """Validation queries."""
        return self.query_set(self.val_q)

    @property
    def train_caption_nodes(self) -> torch.Tensor:
        """Caption node of each training query (node i = i-th training query)."""
        return torch.arange(len(self.train_q), dtype=torch.int64)

    def pool(self, split: str) -> torch.Tensor:
        """Image node ids of a split."""
        return torch.tensor([i for i, im in enumerate(self.catalog.images) if im.split == split], dtype=torch.int64)

    @property
    def val_pool(self) -> torch.Tensor:
        """Images searched for validation: the split(s) of the validation targets."""
        splits = {self.catalog.images[t].split for t in self.val_set.targets.tolist() if t >= 0}
        return torch.tensor([i for i, im in enumerate(self.catalog.images) if im.split in splits], dtype=torch.int64)


def split_queries(catalog: Catalog, cfg: TrainConfig) -> tuple[list[int], list[int], list[int]]:
    """Train / validation / test query indices (queries whose images are in the catalog)."""
    ok = [i for i, q in enumerate(catalog.queries) if q.source in catalog]
    train = [i for i in ok if catalog.queries[i].split == TRAIN and catalog.queries[i].target in catalog]
    val = [i for i in ok if catalog.queries[i].split == VAL and catalog.queries[i].target in catalog]
    test = [i for i in ok if catalog.queries[i].split == TEST]
    rng = random.Random(cfg.seed)
    if not val and cfg.val_fraction > 0 and len(train) > 1:
        n_val = min(cfg.max_val_queries, max(1, int(len(train) * cfg.val_fraction)))
        val, train = held_out_components(catalog, train, n_val, rng)
    val = val[: cfg.max_val_queries]
    if cfg.max_train_queries and len(train) > cfg.max_train_queries:
        train = sorted(rng.sample(train, cfg.max_train_queries))
    if not train:
        raise DatasetError(
            "the catalog has no training queries.",
            path=str(catalog.root),
            fix="generate / load a catalog with train queries (Fashion200K: derive_train_queries)",
        )
    return train, val, test


def held_out_components(
    catalog: Catalog, queries: list[int], n_val: int, rng: random.Random
) -> tuple[list[int], list[int]]:
    """Hold out whole groups of products linked by queries until ``n_val`` queries are held out.

    Validation queries then share no product with the training queries (as test queries), so
    validation recall measures generalisation, not memorised training images.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def product_of(image_id: str) -> str:
        return catalog.image(image_id).product_id

    product = {i: (product_of(catalog.queries[i].source), product_of(catalog.queries[i].target)) for i in queries}
    for a, b in product.values():
        parent[find(a)] = find(b)
    groups: dict[str, list[int]] = {}
    for i in queries:
        groups.setdefault(find(product[i][0]), []).append(i)
    keys = sorted(groups)
    rng.shuffle(keys)
    val: list[int] = []
    for k in keys:
        if len(val) >= n_val:
            break
        if len(groups[k]) <= max(n_val - len(val), 1) * 2:
            val += groups[k]
    held = set(val)
    return sorted(val), [i for i in queries if i not in held]


def image_attributes(
    catalog: Catalog, taxonomy: Taxonomy, source: str, feats: np.ndarray, cfg: TrainConfig
) -> tuple[list[list[str]], AttributePredictor | None]:
    """Attribute keys of every image from ``source``, and the predictor when it is ``predicted``."""
    if source == "caption":
        return [caption_attribute_keys(im.caption) for im in catalog.images], None
    if source == "ground-truth":
        return [
            [attribute_key(CATEGORY, im.category), *im.attributes] if im.category else list(im.attributes)
            for im in catalog.images
        ], None
    train = [i for i, im in enumerate(catalog.images) if im.split == TRAIN] or list(range(len(catalog.images)))
    labels = image_label_lists([catalog.images[i] for i in train], taxonomy)
    acfg = dataclasses.replace(cfg.attributes, source="predicted", threshold=cfg.threshold, seed=cfg.seed)
    groups = exclusive_groups(taxonomy)
    with torch_threads():
        predictor = AttributePredictor.fit(feats[train], labels, acfg, groups)
        out = [list(p) for p in predictor.predict(feats)]
        # Cross-fitting: a train image gets the prediction of a classifier that never saw it, so train and
        # test images carry equally noisy attributes (else the R-GCN learns to trust memorised ones).
        folds = min(cfg.attribute_folds, len(train))
        if folds >= 2:
            order = np.random.RandomState(cfg.seed).permutation(len(train))
            for k in range(folds):
                held = order[k::folds]
                rest = np.setdiff1d(order, held)
                fold = AttributePredictor.fit(feats[[train[i] for i in rest]], [labels[i] for i in rest], acfg, groups)
                for i, p in zip(held, fold.predict(feats[[train[i] for i in held]]), strict=True):
                    out[train[i]] = list(p)
    return out, predictor


def encode_catalog(catalog: Catalog, fcfg: FeatureConfig, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Image features (catalog order) and query-text features (catalog query order)."""
    image_feats = encode_images([catalog.image_path(im) for im in catalog.images], fcfg, cache_dir)
    return image_feats, encode_queries(catalog, fcfg, cache_dir)


def encode_queries(catalog: Catalog, fcfg: FeatureConfig, cache_dir: Path | None) -> np.ndarray:
    """Query-text features (catalog query order)."""
    texts = [q.text for q in catalog.queries]
    return encode_texts(texts, fcfg, cache_dir) if texts else np.zeros((0, 384), np.float32)


def usable_catalog(
    catalog: Catalog, fcfg: FeatureConfig, cache_dir: Path | None
) -> tuple[Catalog, np.ndarray, np.ndarray, dict]:
    """Drop images without a file or that fail to decode (and the queries naming them), then encode.

    Returns:
        The usable catalog, its image and query-text features, and what was skipped: counts and the
        dropped image ids (``skipped_image_ids``, saved so a reload drops the same ones).
    """
    missing = set(catalog.missing_images)
    catalog, lost_missing = without_images(catalog, missing)
    bad: list[int] = []
    feats = encode_images([catalog.image_path(im) for im in catalog.images], fcfg, cache_dir, missing=bad)
    undecodable = {catalog.images[i].image_id for i in bad}
    if undecodable:
        keep = np.setdiff1d(np.arange(len(catalog.images)), np.array(sorted(set(bad)), dtype=np.int64))
        feats = feats[keep]
    catalog, lost_bad = without_images(catalog, undecodable)
    skipped = {
        "missing_images": len(missing),
        "undecodable_images": len(undecodable),
        "skipped_queries": lost_missing + lost_bad,
        "skipped_image_ids": sorted(missing | undecodable),
    }
    if missing or undecodable:
        log.warning(
            "skipped %d images without a file and %d that failed to decode, and the %d queries naming them",
            len(missing),
            len(undecodable),
            skipped["skipped_queries"],
        )
    return catalog, feats, encode_queries(catalog, fcfg, cache_dir), skipped


def build_setup(
    catalog_dir: str | Path,
    cfg: TrainConfig,
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    base: Setup | None = None,
    taxonomy: Taxonomy | None = None,
    features: tuple[np.ndarray, np.ndarray] | None = None,
    dataset: DatasetOptions | None = None,
    skipped_ids: list[str] | None = None,
) -> Setup:
    """Load, encode, attribute and build the graph for ``cfg.attribute_source``.

    Args:
        catalog_dir: catalog folder.
        cfg: training configuration.
        cache_dir: feature cache folder.
        progress: (unused by the encoders, which show bars on long runs).
        base: a setup of the same catalog whose catalog and features are reused.
        taxonomy: the EI tree (default: the project's ``data/taxonomy.yml``).
        features: precomputed (image features, query-text features) in catalog order.
        dataset: how the folder is read (default: detect the layout, A.4 query texts).
        skipped_ids: with ``features``: the images training skipped (dropped again, not re-checked).
    """
    catalog_dir = Path(catalog_dir)
    cache = Path(cache_dir) if cache_dir else None
    dataset = dataset or DatasetOptions()
    skipped: dict = {}
    if base is not None:
        catalog, image_feats, query_feats, taxonomy = base.catalog, base.image_feats, base.query_feats, base.taxonomy
        dataset, skipped = base.dataset, base.skipped
    else:
        taxonomy = taxonomy or Taxonomy.load()
        if features is not None:
            catalog = reload_catalog(catalog_dir, dataset, skipped_ids or [])
            skipped = {"skipped_image_ids": list(skipped_ids or [])}
        if features is not None and (len(features[0]), len(features[1])) == (len(catalog.images), len(catalog.queries)):
            image_feats, query_feats = features
        else:
            loaded = load_dataset(catalog_dir, dataset)
            dataset = dataclasses.replace(dataset, format=loaded.source_format)  # saved as detected
            catalog, image_feats, query_feats, skipped = usable_catalog(loaded, cfg.features, cache)
    train_q, val_q, test_q = split_queries(catalog, cfg)
    attrs, predictor = image_attributes(catalog, taxonomy, cfg.attribute_source, image_feats, cfg)
    extra = [] if cfg.attribute_source == "caption" else taxonomy_attribute_keys(taxonomy)
    if predictor is not None:
        extra += [k for k in predictor.labels if k not in set(extra)]
    all_keys = list(dict.fromkeys([*extra, *(k for a in attrs for k in a)]))
    mention = MentionFinder(cfg.attribute_source, taxonomy, all_keys)
    text_encoder = lambda texts: encode_texts(texts, cfg.features, cache)  # noqa: E731
    caps = [
        CaptionSpec(catalog.queries[i].text, catalog.queries[i].source, tuple(mention(catalog.queries[i].text)), i)
        for i in train_q
    ]
    info = build_graph(
        [im.image_id for im in catalog.images],
        attrs,
        caps,
        taxonomy,
        image_features=image_feats,
        caption_features=query_feats[train_q],
        text_encoder=text_encoder,
        extra_attributes=extra,
        image_products=[im.product_id for im in catalog.images] if cfg.product_links else None,
    )
    log.info(
        "setup %s: %d train / %d val / %d test queries", cfg.attribute_source, len(train_q), len(val_q), len(test_q)
    )
    return Setup(
        catalog,
        catalog_dir,
        taxonomy,
        cfg,
        image_feats,
        query_feats,
        attrs,
        info,
        mention,
        predictor,
        train_q,
        val_q,
        test_q,
        cache,
        dataset,
        skipped,
    )
