"""Joint training of the R-GCN and its composition head (paper 2.1, A.1).

Two losses with equal weight: link prediction (candidate + relative caption -> the true target against
random other images, the candidate's other photos and the batch's other targets) and ComposeAE's
compositional loss on the graph embeddings (in-batch retrieval, rotational symmetry, auto-encoder
reconstruction). Adam (lr 1e-3), full-graph training on CPU, early stopping on validation R@10
(held-out train queries), seeded.
``train(catalog_dir, out_dir, cfg)`` writes a model directory that :func:`retrieval.training.artifacts.load_model`
reads back.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from retrieval.features.base import torch_threads
from retrieval.graph import schema
from retrieval.metrics import recall_hits, target_ranks
from retrieval.model.heads import ComposeAEHead, ScaledNorm, TirgHead, make_head
from retrieval.model.losses import (
    batch_classification_loss,
    compositional_loss,
    link_prediction_loss,
    own_product_negatives,
)
from retrieval.model.rgcn import RGCN
from retrieval.training.config import TrainConfig
from retrieval.training.prepare import QuerySet
from retrieval.training.sim_edits import warmup_graph

log = logging.getLogger(__name__)

CAPTION_VARIANT_DIR = "graph-caption"


def build_rgcn(in_dims: dict[str, int], cfg: TrainConfig) -> RGCN:
    """The (untrained) R-GCN ``cfg`` describes, for feature sizes ``in_dims``."""
    return RGCN(
        in_dims,
        etypes=cfg.message_etypes(),
        hidden=cfg.hidden,
        num_layers=cfg.layers,
        num_bases=cfg.num_bases,
        dropout=cfg.dropout,
        residual=cfg.residual_layers,
        jk=cfg.jk_readout,
    )


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Fitted:
    """A trained graph model and what its training logged."""

    rgcn: RGCN
    head: ComposeAEHead | TirgHead
    norm: ScaledNorm
    log: list[dict] = field(default_factory=list)
    best_val: float = 0.0
    best_epoch: int = 0
    seconds: float = 0.0


def caption_in_edges(
    candidates: list[int], attributes: list[list[int]]
) -> dict[schema.CanonicalEtype, tuple[torch.Tensor, torch.Tensor]]:
    """In-edges of new (sink) caption nodes: candidate image and mentioned attributes per caption."""
    cand_src = [c for c in candidates if c >= 0]
    cand_dst = [i for i, c in enumerate(candidates) if c >= 0]
    att_src = [a for lst in attributes for a in lst]
    att_dst = [i for i, lst in enumerate(attributes) for _ in lst]
    t = lambda x: torch.tensor(x, dtype=torch.int64)  # noqa: E731
    return {
        schema.IMAGE_REV_MODIFIES: (t(cand_src), t(cand_dst)),
        schema.ATTRIBUTE_REV_MENTIONS: (t(att_src), t(att_dst)),
    }


def embed_queries(
    rgcn: RGCN, head: ComposeAEHead | TirgHead, states: list[dict[str, torch.Tensor]], qs: QuerySet
) -> torch.Tensor:
    """Query vectors ``[n, hidden]`` (unnormalised) of queries whose captions are sinks."""
    cap = rgcn.sink_states(states, schema.CAPTION, qs.text, caption_in_edges(qs.candidates.tolist(), qs.attributes))
    return head(rgcn.readout(states, schema.IMAGE, qs.candidates), cap)


def fit(
    g,
    feats: dict[str, torch.Tensor],
    train_caps: torch.Tensor,
    train: QuerySet,
    val: QuerySet,
    val_pool: torch.Tensor,
    cfg: TrainConfig,
    *,
    progress: bool = True,
    desc: str = "train",
) -> Fitted:
    """Train on the graph ``g`` with node features ``feats``.

    Args:
        g: the information graph; training captions are nodes ``train_caps`` (aligned with ``train``).
        feats: node features per type.
        train_caps: ``[n_train]`` caption node of each training query.
        train: training queries (image node ids).
        val: validation queries (captions embedded as sinks, as at query time).
        val_pool: image node ids searched for validation.
        cfg: the configuration.
        progress: show a tqdm bar.
        desc: bar label.
    """
    with torch_threads():
        return _fit(g, feats, train_caps, train, val, val_pool, cfg, progress=progress, desc=desc)


def _step(
    out: Fitted,
    opt,
    g,
    feats,
    train_caps,
    train: QuerySet,
    idx: torch.Tensor,
    own: torch.Tensor,
    gen: torch.Generator,
    cfg: TrainConfig,
) -> float:
    """One optimiser step on the training queries ``idx`` (a full-graph forward); returns the loss."""
    rgcn, head, norm = out.rgcn, out.head, out.norm
    states = rgcn(g, feats, all_layers=True)
    img, cap = rgcn.readout(states, schema.IMAGE), states[-1][schema.CAPTION]
    src, tgt, txt = img[train.candidates[idx]], img[train.targets[idx]], cap[train_caps[idx]]
    q = head(src, txt)
    negs = img[torch.randint(g.num_nodes(schema.IMAGE), (len(idx), cfg.negatives), generator=gen)]
    hard = own[idx]
    mask = (hard >= 0) & (hard != train.targets[idx][:, None])
    link = link_prediction_loss(
        q,
        tgt,
        negs,
        norm,
        hard=img[hard.clamp(min=0)],
        hard_mask=mask,
        batch_ids=train.targets[idx] if cfg.inbatch_negatives else None,
    )
    comp = batch_classification_loss(q, tgt, norm) + compositional_loss(
        head, src, txt, tgt, norm, rot_weight=cfg.rot_weight, rec_weight=cfg.rec_weight
    )
    loss = link + cfg.compose_weight * comp
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.item())


def tune_interaction_relations(
    out: Fitted, g, feats, train_caps, train: QuerySet, cfg: TrainConfig, *, progress: bool = True
) -> list[dict]:
    """A.3 without touching the catalog's relations: on the warm-up graph ``g``, ``cfg.warmup_epochs``
    epochs that update ONLY the interaction relations' basis coefficients (every other weight frozen),
    so a graph without interaction edges embeds exactly as the fitted model did. Returns the epochs' log.
    """
    params = [*out.rgcn.parameters(), *out.head.parameters(), *out.norm.parameters()]
    was = [p.requires_grad for p in params]
    coeffs, hooks = [], []
    for lay in out.rgcn.layer_list:
        rows = torch.zeros_like(lay.basis.coeff)
        for e in schema.RESERVED_RELATIONS:
            for rel in (e, schema.reverse(e)):
                if rel in lay.rel_index:
                    rows[lay.rel_index[rel]] = 1.0
        coeffs.append(lay.basis.coeff)
        hooks.append(lay.basis.coeff.register_hook(lambda grad, rows=rows: grad * rows))
    for p in params:
        p.requires_grad_(False)
    for c in coeffs:
        c.requires_grad_(True)
    opt = torch.optim.Adam(coeffs, lr=cfg.warmup_lr)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    own = own_product_negatives(g, train.candidates, cfg.hard_negatives)
    steps = max(1, -(-len(train) // cfg.batch_size))
    logs = []
    start = time.perf_counter()
    try:
        out.rgcn.train()
        out.head.eval()
        for epoch in tqdm(
            range(1, cfg.warmup_epochs + 1),
            desc="tune interaction relations",
            unit="epoch",
            disable=not progress,
            leave=False,
        ):
            order = torch.randperm(len(train), generator=gen)
            total = sum(
                _step(
                    out,
                    opt,
                    g,
                    feats,
                    train_caps,
                    train,
                    order[s * cfg.batch_size : (s + 1) * cfg.batch_size],
                    own,
                    gen,
                    cfg,
                )
                for s in range(steps)
            )
            logs.append({"epoch": epoch, "loss": total / steps, "seconds": round(time.perf_counter() - start, 2)})
    finally:
        for h in hooks:
            h.remove()
        for p, r in zip(params, was, strict=True):
            p.requires_grad_(r)
        out.rgcn.eval()
        out.head.eval()
    return logs


def _fit(
    g, feats, train_caps, train: QuerySet, val: QuerySet, val_pool, cfg: TrainConfig, *, progress: bool, desc: str
) -> Fitted:
    seed_everything(cfg.seed)
    in_dims = {nt: int(x.shape[1]) for nt, x in feats.items()}
    rgcn = build_rgcn(in_dims, cfg)
    rgcn.set_feature_stats(feats)
    head = make_head(cfg.head, cfg.hidden, residual=cfg.residual)
    norm = ScaledNorm(cfg.scale)
    params = [*rgcn.parameters(), *head.parameters(), *norm.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    out = Fitted(rgcn, head, norm)
    own = own_product_negatives(g, train.candidates, cfg.hard_negatives)
    best_state = None
    bad = 0
    start = time.perf_counter()
    steps = max(1, -(-len(train) // cfg.batch_size))
    bar = tqdm(range(1, cfg.epochs + 1), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        rgcn.train()
        head.train()
        order = torch.randperm(len(train), generator=gen)
        total = 0.0
        for s in range(steps):
            idx = order[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            total += _step(out, opt, g, feats, train_caps, train, idx, own, gen, cfg)
        val_r10 = validate(rgcn, head, g, feats, val, val_pool)
        out.log.append(
            {
                "epoch": epoch,
                "loss": total / steps,
                "val_R@10": val_r10,
                "seconds": round(time.perf_counter() - start, 2),
            }
        )
        bar.set_postfix(loss=f"{total / steps:.3f}", val_r10=f"{val_r10:.1f}")
        if best_state is None or val_r10 > out.best_val:
            out.best_val, out.best_epoch, bad = val_r10, epoch, 0
            best_state = copy.deepcopy((rgcn.state_dict(), head.state_dict(), norm.state_dict()))
        else:
            bad += 1
            if bad >= cfg.patience:
                log.info("early stop at epoch %d (best val R@10 %.2f at %d)", epoch, out.best_val, out.best_epoch)
                break
        if cfg.max_seconds and time.perf_counter() - start > cfg.max_seconds:
            log.info("time budget reached at epoch %d (best val R@10 %.2f at %d)", epoch, out.best_val, out.best_epoch)
            break
    if best_state is not None:
        rgcn.load_state_dict(best_state[0])
        head.load_state_dict(best_state[1])
        norm.load_state_dict(best_state[2])
    rgcn.eval()
    head.eval()
    out.seconds = time.perf_counter() - start
    return out


@torch.no_grad()
def validate(
    rgcn: RGCN, head: ComposeAEHead | TirgHead, g, feats, val: QuerySet, pool: torch.Tensor, k: int = 10
) -> float:
    """Validation R@k in percent (captions as sinks, candidate excluded, pool = ``pool`` image nodes)."""
    if not len(val):
        return 0.0
    rgcn.eval()
    head.eval()
    states = rgcn(g, feats, all_layers=True)
    q = F.normalize(embed_queries(rgcn, head, states, val), dim=-1)
    emb = F.normalize(rgcn.readout(states, schema.IMAGE, pool), dim=-1)
    pos = torch.full((g.num_nodes(schema.IMAGE),), -1, dtype=torch.int64)
    pos[pool] = torch.arange(len(pool))
    ranks = target_ranks((q @ emb.T).numpy(), pos[val.targets].numpy(), pos[val.candidates].numpy())
    return 100.0 * recall_hits(ranks, (k,))[k] / len(val)


def fit_setup(setup, cfg: TrainConfig, *, progress: bool = True, desc: str = "train") -> tuple[Fitted, dict]:
    """:func:`fit` on a prepared setup's graph, plus A.3's interaction warm-up when configured.

    Returns:
        The fitted model and ``{"warmup": summary}`` (empty without warm-up) for ``metrics.json``.
    """
    g, extra = setup.info.graph, {}
    warm = None
    if cfg.interaction_warmup:
        warm, extra["warmup"] = warmup_graph(setup, cfg)
        if cfg.warmup_mode == "joint":
            g = warm
    feats = {nt: g.nodes[nt].data["feat"] for nt in g.ntypes}
    fitted = fit(
        g,
        feats,
        setup.train_caption_nodes,
        setup.train_set,
        setup.val_set,
        setup.val_pool,
        cfg,
        progress=progress,
        desc=desc,
    )
    if warm is not None and cfg.warmup_mode == "relations":
        with torch_threads():
            extra["warmup"]["tune"] = tune_interaction_relations(
                fitted,
                warm,
                {nt: warm.nodes[nt].data["feat"] for nt in warm.ntypes},
                setup.train_caption_nodes,
                setup.train_set,
                cfg,
                progress=progress,
            )
    return fitted, extra
