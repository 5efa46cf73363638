"""Baselines on the SAME features as the graph: image-only, text-only, concat, TIRG, ComposeAE, A.2.

Learned baselines project images with a trainable linear layer (the role of the fine-tuned last
layer of TIRG's / ComposeAE's CNN), compose with the text feature and are trained with in-batch
softmax (ComposeAE's batch-based classification), Adam, early stopping on validation R@10. Each
returns a scorer ``(candidates, text_feats, query_texts) -> [n, pool]`` scores.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from retrieval.catalog.taxonomy import split_key
from retrieval.metrics import recall_hits, target_ranks
from retrieval.model.heads import ComposeAEHead, ScaledNorm, TirgHead, mlp
from retrieval.model.losses import batch_classification_loss, compositional_loss

log = logging.getLogger(__name__)

LEARNED = ("text-only", "concat", "tirg", "composeae")


@dataclass(frozen=True)
class BaselineConfig:
    """Training settings shared by the learned baselines."""

    dim: int = 512
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    patience: int = 5
    seed: int = 0
    max_seconds: float = 75.0


@dataclass
class Queries:
    """Queries as rows of the feature arrays: candidate / target image rows, text features."""

    candidates: np.ndarray  # int [n]
    targets: np.ndarray  # int [n], -1 unknown
    text: np.ndarray  # float32 [n, D_txt]
    texts: list[str]

    def __len__(self) -> int:
        return len(self.candidates)


class Composer(nn.Module):
    """A learned baseline: trainable image projection plus a composition of (image, text)."""

    def __init__(self, kind: str, img_dim: int, txt_dim: int, dim: int) -> None:
        super().__init__()
        self.kind = kind
        self.img = nn.Linear(img_dim, dim)
        self.norm = ScaledNorm(4.0)
        if kind == "text-only":
            self.comp: nn.Module = mlp(txt_dim, dim, dim)
        elif kind == "concat":
            self.comp = mlp(dim + txt_dim, dim, 2 * dim, norm="batch")
        elif kind == "tirg":
            self.comp = TirgHead(dim, txt_dim, norm="batch")
        elif kind == "composeae":
            self.comp = ComposeAEHead(dim, txt_dim, norm="batch", dropout=0.1, residual=False)
        else:
            raise ValueError(f"unknown baseline {kind!r}")

    def target(self, img: Tensor) -> Tensor:
        """Projected target images ``[n, dim]``."""
        return self.img(img)

    def forward(self, img: Tensor, txt: Tensor) -> Tensor:
        """Query vectors ``[n, dim]`` from raw candidate image ``[n, D_img]`` and text ``[n, D_txt]``."""
        if self.kind == "text-only":
            return self.comp(txt)
        x = self.img(img)
        if self.kind == "concat":
            return self.comp(torch.cat([x, txt], dim=1))
        return self.comp(x, txt)

    def loss(self, img: Tensor, txt: Tensor, tgt_img: Tensor) -> Tensor:
        """Batch classification (+ ComposeAE's compositional terms for ``composeae``)."""
        q, tgt = self(img, txt), self.target(tgt_img)
        loss = batch_classification_loss(q, tgt, self.norm)
        if self.kind == "composeae":
            assert isinstance(self.comp, ComposeAEHead)  # __init__ builds one for this kind
            loss = loss + compositional_loss(
                self.comp, self.img(img), txt, tgt, self.norm, rot_weight=0.01, rec_weight=0.1
            )
        return loss


def train_composer(
    kind: str,
    img_feats: np.ndarray,
    train: Queries,
    val: Queries,
    val_pool: np.ndarray,
    cfg: BaselineConfig = BaselineConfig(),
    *,
    progress: bool = True,
) -> Composer:
    """Train one learned baseline; early stopping on validation R@10 over ``val_pool`` image rows."""
    torch.manual_seed(cfg.seed)
    feats = torch.as_tensor(img_feats, dtype=torch.float32)
    mean, std = feats.mean(0), feats.std(0) + 1e-6
    feats = (feats - mean) / std
    model = Composer(kind, feats.shape[1], train.text.shape[1], cfg.dim)
    model.register_buffer("mean", mean)
    model.register_buffer("std", std)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    cand, tgt = torch.as_tensor(train.candidates), torch.as_tensor(train.targets)
    txt = torch.as_tensor(train.text)
    best, best_state, bad, start = -1.0, None, 0, time.perf_counter()
    bar = tqdm(range(cfg.epochs), desc=f"baseline {kind}", unit="epoch", disable=not progress, leave=False)
    for _ in bar:
        model.train()
        order = torch.randperm(len(cand), generator=gen)
        for lo in range(0, len(order) - 1, cfg.batch_size):
            idx = order[lo : lo + cfg.batch_size]
            if len(idx) < 2:
                continue
            loss = model.loss(feats[cand[idx]], txt[idx], feats[tgt[idx]])
            opt.zero_grad()
            loss.backward()
            opt.step()
        r10 = _val_r10(model, feats, val, val_pool)
        bar.set_postfix(loss=f"{loss.item():.3f}", val_r10=f"{r10:.1f}")
        if r10 > best:
            best, best_state, bad = r10, copy.deepcopy(model.state_dict()), 0
        else:
            bad += 1
        if bad >= cfg.patience or time.perf_counter() - start > cfg.max_seconds:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    log.info("baseline %s: val R@10 %.2f in %.1f s", kind, best, time.perf_counter() - start)
    return model.eval()


@torch.no_grad()
def composer_scores(model: Composer, img_feats: np.ndarray, q: Queries, pool: np.ndarray) -> np.ndarray:
    """Cosine scores ``[n, len(pool)]`` of a trained baseline."""
    # buffers registered by train_composer; nn.Module.__getattr__ types them Tensor | Module
    mean, std = cast(Tensor, model.mean), cast(Tensor, model.std)
    feats = (torch.as_tensor(img_feats, dtype=torch.float32) - mean) / std
    qv = F.normalize(model(feats[torch.as_tensor(q.candidates)], torch.as_tensor(q.text)), dim=-1)
    tv = F.normalize(model.target(feats[torch.as_tensor(pool)]), dim=-1)
    return (qv @ tv.T).numpy()


def _val_r10(model: Composer, feats: Tensor, val: Queries, pool: np.ndarray) -> float:
    if not len(val):
        return 0.0
    model.eval()
    with torch.no_grad():
        qv = F.normalize(model(feats[torch.as_tensor(val.candidates)], torch.as_tensor(val.text)), dim=-1)
        tv = F.normalize(model.target(feats[torch.as_tensor(pool)]), dim=-1)
    col = {int(p): i for i, p in enumerate(pool)}
    t = np.array([col.get(int(x), -1) for x in val.targets])
    c = np.array([col.get(int(x), -1) for x in val.candidates])
    return 100.0 * recall_hits(target_ranks((qv @ tv.T).numpy(), t, c), (10,))[10] / len(val)


def image_only_scores(img_feats: np.ndarray, q: Queries, pool: np.ndarray) -> np.ndarray:
    """Cosine of raw candidate features to the pool (the text is ignored)."""
    x = img_feats / (np.linalg.norm(img_feats, axis=1, keepdims=True) + 1e-9)
    return x[q.candidates] @ x[pool].T


def attribute_intersection_scores(
    img_feats: np.ndarray,
    image_attrs: Sequence[Sequence[str]],
    q: Queries,
    pool: np.ndarray,
    mentions: Callable[[str], list[str]],
) -> np.ndarray:
    """The paper's A.2: X = images with the caption's attributes, Y = images sharing the candidate's.

    The attributes the caption asks for are its mentions the candidate lacks (all mentions if it has
    them all); Y counts the candidate's attributes outside the asked-for groups. Rank: in X first,
    then by |shared with the candidate|, then by image-feature similarity (ties).
    """
    sims = image_only_scores(img_feats, q, pool)
    pool_sets = [set(image_attrs[p]) for p in pool]
    out = np.empty_like(sims)
    for i, (cand, text) in enumerate(zip(q.candidates, q.texts, strict=True)):
        cand_attrs = set(image_attrs[cand])
        mentioned = list(dict.fromkeys(mentions(text)))
        wanted = [m for m in mentioned if m not in cand_attrs] or mentioned
        groups = {split_key(m)[0] for m in wanted}
        keep = {a for a in cand_attrs if split_key(a)[0] not in groups}
        in_x = np.array([all(w in s for w in wanted) if wanted else 0 for s in pool_sets], dtype=np.float64)
        shared = np.array([len(keep & s) for s in pool_sets], dtype=np.float64)
        out[i] = 100.0 * in_x + 2.0 * shared + sims[i]
    return out
