"""Attribute sources of the information graph (paper A.5).

* ``predicted``: :class:`AttributePredictor`, a multi-label classifier trained on the train split's image
  features. Its labels are the taxonomy attributes the train captions mention (``group:value``) plus
  the category (``category:dress``), so it also works for Fashion200K where only captions exist. The
  confidence threshold (:attr:`AttributeConfig.threshold`) is what the paper's Table 5 ablation varies.
* ``caption``: :func:`caption_attributes`, the caption's first word and its rest (the upper bound).

:func:`text_attributes` links caption / query text to attribute nodes by exact normalised phrase
match with the taxonomy's synonyms.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, split_key
from retrieval.catalog.text_attributes import (  # noqa: F401 - re-exported: callers import them from here
    PhraseMatcher,
    caption_attributes,
    image_label_lists,
    text_attributes,
)
from retrieval.config import load_config, save_config
from retrieval.errors import ConfigError, InvalidQueryError, ModelNotFoundError
from retrieval.features.base import torch_threads

log = logging.getLogger(__name__)

SOURCES = ("predicted", "caption")
CONFIG_FILE = "attribute_config.json"
WEIGHTS_FILE = "attribute_model.npz"
LABELS_FILE = "attribute_labels.json"


@dataclass(frozen=True)
class AttributeConfig:
    """Where image attributes come from and how the predictor is trained.

    Attributes:
        source: "predicted" (classifier on image features) or "caption" (first word / rest, A.5).
        threshold: minimum predicted probability for an image to get an attribute (Table 5 ablation).
        epochs: training epochs over the train split.
        hidden: hidden units of the MLP (0 = a single logistic layer).
        seed: seed of initialisation, dropout and shuffling.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        batch_size: training mini-batch size.
        dropout: dropout on the hidden layer.
        min_count: labels seen fewer times in training are not learned.
        exclusive_top1: keep at most one value per exclusive group (categories always) in predictions.
    """

    source: str = "predicted"
    threshold: float = 0.5
    epochs: int = 40
    hidden: int = 256
    seed: int = 0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    dropout: float = 0.2
    min_count: int = 3
    exclusive_top1: bool = True

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"AttributeConfig.source {self.source!r} is unknown.", fix=f"use one of {SOURCES}")
        if not 0.0 < float(self.threshold) < 1.0:
            raise ConfigError(f"AttributeConfig.threshold must be in (0, 1), got {self.threshold}.", fix="use 0.5")
        for name in ("epochs", "batch_size", "min_count"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"AttributeConfig.{name} must be >= 1.", fix="use a positive integer")
        if int(self.hidden) < 0 or not 0.0 <= float(self.dropout) < 1.0 or float(self.lr) <= 0:
            raise ConfigError(
                "AttributeConfig needs hidden >= 0, 0 <= dropout < 1 and lr > 0.",
                fix="use hidden=256, dropout=0.2, lr=1e-3",
            )


# -- the classifier ----------------------------------------------------------------------------
class _Net(nn.Module):
    """An MLP over the image features plus, optionally, a linear colour branch (late fusion of logits)."""

    def __init__(self, dim: int, colour_dim: int, n_labels: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dim = dim
        if hidden == 0:
            self.mlp = nn.Sequential(nn.Linear(dim, n_labels))
        else:
            self.mlp = nn.Sequential(
                nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels)
            )
        self.colour = nn.Linear(colour_dim, n_labels) if colour_dim else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.mlp(x[:, : self.dim])
        if self.colour is not None:
            logits = logits + self.colour(x[:, self.dim :])
        return logits


class AttributePredictor:
    """Multi-label attribute classifier over image features (fit on the train split).

    An optional ``colour`` input (:func:`retrieval.features.colour_histograms`) feeds a small linear
    branch whose logits add to the MLP's: on the demo catalog it lifts colour accuracy from 0.39 to 0.75
    without hurting the other groups. A predictor fit with it needs it at prediction time too.
    """

    def __init__(
        self,
        labels: Sequence[str],
        dim: int,
        cfg: AttributeConfig,
        exclusive_groups: Iterable[str] = (),
        colour_dim: int = 0,
    ) -> None:
        """An untrained predictor; use :meth:`fit` or :meth:`load`."""
        self.labels = tuple(labels)
        self.dim = int(dim)
        self.colour_dim = int(colour_dim)
        self.cfg = cfg
        self.exclusive_groups = frozenset({CATEGORY, *exclusive_groups})
        self.mean = np.zeros(self.dim + self.colour_dim, np.float32)
        self.std = np.ones(self.dim + self.colour_dim, np.float32)
        self.model = _Net(self.dim, self.colour_dim, len(self.labels), cfg.hidden, cfg.dropout)
        self.model.eval()

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        label_lists: Sequence[Sequence[str]],
        cfg: AttributeConfig | None = None,
        exclusive_groups: Iterable[str] = (),
        colour: np.ndarray | None = None,
    ) -> AttributePredictor:
        """Train on ``features`` [N, dim] and their label lists; labels rarer than ``cfg.min_count`` are dropped.

        Args:
            features: train-split image features.
            label_lists: per image, its attribute keys (see :func:`image_label_lists`).
            cfg: training configuration.
            exclusive_groups: groups whose values exclude each other (``taxonomy`` groups with
                ``relation: exclusive``); predictions keep their single best value.
            colour: optional [N, colour_dim] colour histograms of the same images.
        """
        cfg = cfg or AttributeConfig()
        feats = np.asarray(features, dtype=np.float32)
        if feats.ndim != 2 or len(feats) != len(label_lists) or not len(feats):
            raise InvalidQueryError(
                f"Got features of shape {feats.shape} for {len(label_lists)} label lists.",
                fix="pass one non-empty feature row per image and one label list per row",
            )
        colour_dim = 0 if colour is None else int(np.shape(colour)[-1])
        counts = Counter(k for keys in label_lists for k in set(keys))
        labels = sorted(k for k, c in counts.items() if c >= cfg.min_count)
        if not labels:
            raise InvalidQueryError(
                f"No label occurs {cfg.min_count}+ times in {len(feats)} training images.",
                fix="check the captions mention taxonomy attributes or lower min_count",
            )
        out = cls(labels, feats.shape[1], cfg, exclusive_groups, colour_dim)
        x = out._inputs(feats, colour)
        col = {k: i for i, k in enumerate(labels)}
        target = np.zeros((len(feats), len(labels)), np.float32)
        for row, keys in enumerate(label_lists):
            for k in keys:
                if k in col:
                    target[row, col[k]] = 1.0
        out.mean = x.mean(0)
        out.std = x.std(0) + 1e-6
        out._train((x - out.mean) / out.std, target)
        return out

    def _inputs(self, features: np.ndarray, colour: np.ndarray | None) -> np.ndarray:
        feats = np.asarray(features, dtype=np.float32)
        if feats.ndim == 1:
            feats = feats[None, :]
        if feats.ndim != 2 or feats.shape[1] != self.dim:
            raise InvalidQueryError(
                f"Features of shape {feats.shape} do not fit this {self.dim}-d attribute predictor.",
                fix="encode images with the encoder the predictor was trained on",
            )
        if not self.colour_dim:
            return feats
        if colour is None:
            raise InvalidQueryError(
                "This attribute predictor was trained with colour histograms and needs them.",
                fix="pass colour=retrieval.features.colour_histograms(paths) for the same images",
            )
        col = np.asarray(colour, dtype=np.float32).reshape(len(feats), -1)
        if col.shape[1] != self.colour_dim:
            raise InvalidQueryError(
                f"Colour input of width {col.shape[1]} does not fit this predictor ({self.colour_dim}).",
                fix="use retrieval.features.colour_histograms",
            )
        return np.hstack([feats, col])

    def _train(self, x: np.ndarray, y: np.ndarray) -> None:
        cfg = self.cfg
        with torch.random.fork_rng(devices=[]), torch_threads(1):  # small ops: 1 thread beats 2 on a busy CPU
            torch.manual_seed(cfg.seed)
            self.model = _Net(self.dim, self.colour_dim, len(self.labels), cfg.hidden, cfg.dropout)
            gen = torch.Generator().manual_seed(cfg.seed)
            xt, yt = torch.from_numpy(x), torch.from_numpy(y)
            groups = [{"params": self.model.mlp.parameters(), "weight_decay": cfg.weight_decay}]
            if self.model.colour is not None:  # few weights, little overfitting: no decay (best on the demo)
                groups.append({"params": self.model.colour.parameters(), "weight_decay": 0.0})
            opt = torch.optim.Adam(groups, lr=cfg.lr)
            loss_fn = nn.BCEWithLogitsLoss()
            self.model.train()
            bar = tqdm(range(cfg.epochs), desc="attribute classifier", unit="epoch", leave=False)
            for _ in bar:
                order = torch.randperm(len(xt), generator=gen)
                total = 0.0
                for lo in range(0, len(order), cfg.batch_size):
                    idx = order[lo : lo + cfg.batch_size]
                    loss = loss_fn(self.model(xt[idx]), yt[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                bar.set_postfix(loss=f"{total / len(xt):.4f}")
            self.model.eval()
        log.info(
            "Attribute classifier: %d labels, %d images, final loss %.4f", len(self.labels), len(x), total / len(x)
        )

    # -- inference -----------------------------------------------------------------------
    def predict_proba(self, features: np.ndarray, colour: np.ndarray | None = None) -> np.ndarray:
        """Probabilities [N, len(labels)] (float32); ``colour`` is required if the predictor was fit with it."""
        x = torch.from_numpy((self._inputs(features, colour) - self.mean) / self.std)
        with torch.no_grad():
            return torch.sigmoid(self.model(x)).numpy().astype(np.float32)

    def predict(
        self, features: np.ndarray, threshold: float | None = None, colour: np.ndarray | None = None
    ) -> list[tuple[str, ...]]:
        """Attribute keys per image with probability >= ``threshold`` (config default), most likely first.

        With ``exclusive_top1`` only the most likely value of each exclusive group is kept.
        """
        thr = self.cfg.threshold if threshold is None else float(threshold)
        if not 0.0 <= thr <= 1.0:
            raise InvalidQueryError(f"Threshold {thr} is outside [0, 1].", fix="use e.g. 0.5")
        probs = self.predict_proba(features, colour)
        groups = [split_key(k)[0] for k in self.labels]
        out = []
        for row in probs:
            keys: list[str] = []
            seen: set[str] = set()
            for j in np.argsort(-row, kind="stable"):
                if row[j] < thr:
                    break
                g = groups[j]
                if self.cfg.exclusive_top1 and g in self.exclusive_groups:
                    if g in seen:
                        continue
                    seen.add(g)
                keys.append(self.labels[j])
            out.append(tuple(keys))
        return out

    # -- persistence ---------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """Write weights (npz), labels and config JSON into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {f"w.{k}": v.detach().numpy() for k, v in self.model.state_dict().items()}
        np.savez(directory / WEIGHTS_FILE, mean=self.mean, std=self.std, **state)
        meta = {
            "labels": list(self.labels),
            "dim": self.dim,
            "colour_dim": self.colour_dim,
            "exclusive_groups": sorted(self.exclusive_groups),
        }
        (directory / LABELS_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        save_config(self.cfg, directory / CONFIG_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> AttributePredictor:
        """Load a predictor written by :meth:`save`."""
        directory = Path(directory)
        for name in (WEIGHTS_FILE, LABELS_FILE, CONFIG_FILE):
            if not (directory / name).is_file():
                raise ModelNotFoundError(
                    f"No attribute predictor in {directory} ({name} is missing).", fix="train the engine first"
                )
        cfg = load_config(AttributeConfig, directory / CONFIG_FILE)
        meta = json.loads((directory / LABELS_FILE).read_text())
        out = cls(meta["labels"], meta["dim"], cfg, meta.get("exclusive_groups", ()), meta.get("colour_dim", 0))
        with np.load(directory / WEIGHTS_FILE) as data:
            out.mean, out.std = data["mean"], data["std"]
            state = {k[2:]: torch.from_numpy(data[k]) for k in data.files if k.startswith("w.")}
        out.model.load_state_dict(state)
        out.model.eval()
        return out


def exclusive_groups(taxonomy: Taxonomy) -> list[str]:
    """Names of the taxonomy's exclusive attribute groups."""
    return [g.name for g in taxonomy.groups.values() if g.exclusive]


def evaluate_attributes(
    predictor: AttributePredictor,
    features: np.ndarray,
    label_lists: Sequence[Sequence[str]],
    threshold: float | None = None,
    colour: np.ndarray | None = None,
) -> dict[str, object]:
    """Micro precision / recall / F1 over the predictor's labels, and per-group accuracy.

    Per-group accuracy: among images whose true labels hold exactly one value of a group, how often the
    group's most probable value is that one (threshold-free).
    """
    preds = predictor.predict(features, threshold, colour)
    probs = predictor.predict_proba(features, colour)
    known = set(predictor.labels)
    tp = fp = fn = 0
    for pred, true in zip(preds, label_lists, strict=True):
        t = set(true) & known
        p = set(pred)
        tp += len(p & t)
        fp += len(p - t)
        fn += len(t - p)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    cols: dict[str, list[int]] = {}
    for j, k in enumerate(predictor.labels):
        cols.setdefault(split_key(k)[0], []).append(j)
    per_group: dict[str, float] = {}
    for g, js in sorted(cols.items()):
        hits = n = 0
        for row, true in enumerate(label_lists):
            vals = [j for j in js if predictor.labels[j] in set(true)]
            if len(vals) != 1:
                continue
            n += 1
            hits += int(js[int(np.argmax(probs[row, js]))] == vals[0])
        if n:
            per_group[g] = round(hits / n, 4)
    return {
        "images": len(preds),
        "threshold": predictor.cfg.threshold if threshold is None else threshold,
        "micro_precision": round(prec, 4),
        "micro_recall": round(rec, 4),
        "micro_f1": round(f1, 4),
        "mean_predicted": round(float(np.mean([len(p) for p in preds])) if preds else 0.0, 3),
        "per_group_accuracy": per_group,
    }
