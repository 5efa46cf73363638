"""Training losses of the graph model and the baselines (paper 2.1, A.1).

Link prediction (the true target against random, hard and in-batch negatives), ComposeAE's in-batch
classification and its compositional terms (rotational symmetry, reconstruction), and the own-product
hard negatives of link prediction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dgl
import torch
import torch.nn.functional as F
from torch import Tensor

from retrieval.graph import schema

if TYPE_CHECKING:
    from retrieval.model.heads import ComposeAEHead, ScaledNorm, TirgHead


def batch_classification_loss(query: Tensor, target: Tensor, norm: ScaledNorm) -> Tensor:
    """In-batch softmax: query ``i`` must pick target ``i`` among the batch's targets ``[n, d]``."""
    logits = norm(query) @ F.normalize(target, dim=-1).T
    return F.cross_entropy(logits, torch.arange(len(query), device=query.device))


def compositional_loss(
    head: ComposeAEHead | TirgHead,
    src: Tensor,
    txt: Tensor,
    tgt: Tensor,
    norm: ScaledNorm,
    *,
    rot_weight: float = 1.0,
    rec_weight: float = 0.1,
) -> Tensor:
    """ComposeAE's compositional terms on (graph) embeddings.

    Rotational symmetry: composing the TARGET with the conjugate rotation must retrieve the source
    (in-batch classification); auto-encoder: image and text are reconstructed from the composed
    query (MSE, weight 0.1 each as in ComposeAE).

    Args:
        head: the composition head.
        src: ``[n, d]`` candidate image embeddings.
        txt: ``[n, d]`` caption embeddings.
        tgt: ``[n, d]`` target image embeddings.
        norm: the learned-scale normalisation used for retrieval.
        rot_weight: weight of the rotational-symmetry term.
        rec_weight: weight of each reconstruction term.
    """
    back = head(tgt, txt, conjugate=True)
    rot = batch_classification_loss(back, src, norm)
    q = head(src, txt)
    rec = F.mse_loss(head.dec_img(q), src) + F.mse_loss(head.dec_txt(q), txt)
    return rot_weight * rot + rec_weight * rec


def own_product_negatives(g: dgl.DGLHeteroGraph, candidates: Tensor, k: int) -> Tensor:
    """Hard negatives per query: up to ``k`` OTHER photos of the candidate's product.

    A modification never targets the candidate's own product, yet its other photos sit next to the
    candidate (``same_product`` links smooth them together) and random negatives never teach the query
    to leave them: before this, half the demo's top-1 results were the candidate's other photo. The
    candidate itself is left out (search excludes it).

    Args:
        g: the information graph (``same_product`` edges name a product's photos).
        candidates: ``[n]`` candidate image nodes.
        k: columns per query.

    Returns:
        ``[n, k]`` image node ids, ``-1`` padded.
    """
    out = torch.full((len(candidates), max(k, 0)), -1, dtype=torch.int64)
    etype = schema.IMAGE_SAME_PRODUCT
    if k < 1 or etype not in g.canonical_etypes or not g.num_edges(etype):
        return out
    src, dst = g.edges(etype=etype)
    siblings: dict[int, list[int]] = {}
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        siblings.setdefault(a, []).append(b)
    for i, c in enumerate(candidates.tolist()):
        sib = siblings.get(c, [])[:k]
        out[i, : len(sib)] = torch.tensor(sib, dtype=torch.int64)
    return out


def link_prediction_loss(
    query: Tensor,
    target: Tensor,
    negatives: Tensor,
    norm: ScaledNorm,
    *,
    hard: Tensor | None = None,
    hard_mask: Tensor | None = None,
    batch_ids: Tensor | None = None,
) -> Tensor:
    """Softmax of the true target against negatives (``[n, m, d]``), masked hard ones and the batch's targets.

    Args:
        query: ``[n, d]`` composed queries.
        target: ``[n, d]`` target embeddings.
        negatives: ``[n, m, d]`` random other images.
        norm: the learned-scale normalisation.
        hard: ``[n, h, d]`` hard negatives (e.g. :func:`own_product_negatives`).
        hard_mask: ``[n, h]`` True where ``hard`` is a real negative.
        batch_ids: ``[n]`` target node ids: every OTHER query's target is a negative too (rows with the
            same target id are left out); None = no in-batch negatives.
    """
    qn = norm(query)
    cands = torch.cat([target[:, None], negatives] + ([hard] if hard is not None else []), dim=1)
    logits = (qn[:, None, :] * F.normalize(cands, dim=-1)).sum(-1)
    if hard is not None and hard_mask is not None:
        keep = torch.cat([torch.ones(logits.shape[0], 1 + negatives.shape[1], dtype=torch.bool), hard_mask], dim=1)
        logits = logits.masked_fill(~keep, float("-inf"))
    if batch_ids is not None:
        inb = qn @ F.normalize(target, dim=-1).T
        inb = inb.masked_fill(batch_ids[:, None] == batch_ids[None, :], float("-inf"))
        logits = torch.cat([logits, inb], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.int64, device=query.device))
