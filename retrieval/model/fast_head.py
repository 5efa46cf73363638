"""One query through the composition head in numpy: the online ``modify`` path.

The trained head (:class:`~retrieval.model.rgcn.TirgHead` or :class:`~retrieval.model.rgcn.ComposeAEHead`) is
a few small MLPs; for ONE (candidate, caption) pair torch spends ~0.3 ms in per-operator overhead,
numpy ~0.03 ms on the same weights. :func:`numpy_head` copies the weights once (eval mode: dropout
off, layer norms as trained) and returns a function equal to the torch head up to float rounding,
or None for a layout it does not know (batch norm, another head): the caller keeps torch then.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from torch import nn

from retrieval.model.heads import ComposeAEHead, TirgHead

Fn = Callable[[np.ndarray], np.ndarray]


def _affine(x: np.ndarray, *, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w + b


def _layer_norm(x: np.ndarray, *, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    return (x - x.mean()) / np.sqrt(x.var() + eps) * g + b


def _mlp(seq: nn.Sequential) -> Fn | None:
    """``x [d] -> y`` for a :func:`retrieval.model.rgcn.mlp` (LayerNorm?, Linear, ReLU, Dropout?, Linear)."""
    steps: list[Fn] = []
    for mod in seq:
        if isinstance(mod, nn.Linear):
            w, b = mod.weight.detach().numpy().T.copy(), mod.bias.detach().numpy().copy()
            steps.append(partial(_affine, w=w, b=b))
        elif isinstance(mod, nn.ReLU):
            steps.append(lambda x: np.maximum(x, 0.0))
        elif isinstance(mod, nn.LayerNorm):
            g, b, eps = mod.weight.detach().numpy().copy(), mod.bias.detach().numpy().copy(), mod.eps
            steps.append(partial(_layer_norm, g=g, b=b, eps=eps))
        elif not isinstance(mod, nn.Dropout):
            return None

    def run(x: np.ndarray) -> np.ndarray:
        for step in steps:
            x = step(x)
        return x

    return run


def numpy_head(head: nn.Module) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """``(candidate [d], caption [d]) -> unit query [d]`` in numpy, or None when ``head`` is not supported."""
    if isinstance(head, TirgHead):
        gate, res = _mlp(head.gate), _mlp(head.res)
        if gate is None or res is None:
            return None
        a0, a1 = (float(v) for v in head.a.detach().numpy())

        def tirg(img: np.ndarray, txt: np.ndarray) -> np.ndarray:
            x = np.concatenate([img, txt])
            return _unit(1.0 / (1.0 + np.exp(-gate(x))) * img * a0 + res(x) * a1)

        return tirg
    if isinstance(head, ComposeAEHead):
        phi, delta, rho = _mlp(head.phi), _mlp(head.delta), _mlp(head.rho)
        if phi is None or delta is None or rho is None:
            return None
        a, residual = float(head.a.detach().numpy()[0]), head.residual

        def composeae(img: np.ndarray, txt: np.ndarray) -> np.ndarray:
            x, d = phi(img), delta(txt)
            theta = rho(np.concatenate([x * np.cos(d), x * np.sin(d)]))
            return _unit(theta + a * img if residual else theta)

        return composeae
    return None


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
