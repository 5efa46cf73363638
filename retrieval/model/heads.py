"""Composition heads: how a candidate image and the modification text make one query vector (TIRG, ComposeAE)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# -- composition heads ----------------------------------------------------------------------------
def mlp(
    in_dim: int, out_dim: int, hidden: int | None = None, *, norm: str = "none", dropout: float = 0.0
) -> nn.Sequential:
    """``[norm] -> Linear -> ReLU -> [dropout] -> Linear``, norm in none / batch / layer."""
    hidden = hidden or out_dim
    layers: list[nn.Module] = []
    if norm == "batch":
        layers.append(nn.BatchNorm1d(in_dim))
    elif norm == "layer":
        layers.append(nn.LayerNorm(in_dim))
    layers += [nn.Linear(in_dim, hidden), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*layers)


class ScaledNorm(nn.Module):
    """``scale * x / ||x||`` with a learned scale (ComposeAE's / TIRG's NormalizationLayer)."""

    def __init__(self, scale: float = 4.0, *, learn: bool = True) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)), requires_grad=learn)

    def forward(self, x: Tensor) -> Tensor:
        """Args: ``x`` ``[n, d]``. Returns ``[n, d]`` rows of norm ``scale``."""
        return self.scale * F.normalize(x, dim=-1)


class TirgHead(nn.Module):
    """TIRG's gated residual composition: ``a0 * sigmoid(gate([i;t])) * i + a1 * res([i;t])``.

    ``conjugate`` composes with the negated text (the inverse modification), so ComposeAE's
    rotational-symmetry term applies; decoders serve its reconstruction terms.
    """

    def __init__(self, img_dim: int, txt_dim: int, *, norm: str = "batch", dropout: float = 0.0) -> None:
        super().__init__()
        merged = img_dim + txt_dim
        self.gate = mlp(merged, img_dim, merged, norm=norm, dropout=dropout)
        self.res = mlp(merged, img_dim, merged, norm=norm, dropout=dropout)
        self.a = nn.Parameter(torch.tensor([1.0, 10.0]))
        self.dec_img = mlp(img_dim, img_dim)
        self.dec_txt = mlp(img_dim, txt_dim)

    def forward(self, img: Tensor, txt: Tensor, *, conjugate: bool = False) -> Tensor:
        """Args: ``img`` ``[n, img_dim]``, ``txt`` ``[n, txt_dim]``. Returns ``[n, img_dim]``."""
        x = torch.cat([img, -txt if conjugate else txt], dim=1)
        return torch.sigmoid(self.gate(x)) * img * self.a[0] + self.res(x) * self.a[1]


class ComposeAEHead(nn.Module):
    """ComposeAE's composition: the text rotates the image in complex space, rho maps back.

    ``z = phi(img) * exp(i * delta(txt))`` (``conjugate`` flips the rotation), ``theta = rho([Re z;
    Im z])``; with ``residual`` the candidate is added back (``theta + a * img``) so the query
    starts at the candidate and the text moves it. Decoders reconstruct image and text from
    ``theta`` for ComposeAE's auto-encoder terms.
    """

    def __init__(
        self,
        img_dim: int,
        txt_dim: int,
        *,
        dim: int | None = None,
        norm: str = "none",
        dropout: float = 0.0,
        residual: bool = True,
    ) -> None:
        super().__init__()
        dim = dim or img_dim
        self.phi = mlp(img_dim, dim, norm=norm, dropout=dropout)
        self.delta = mlp(txt_dim, dim, norm=norm)
        self.rho = mlp(2 * dim, img_dim, dim, norm=norm)
        self.dec_img = mlp(img_dim, img_dim)
        self.dec_txt = mlp(img_dim, txt_dim)
        self.residual = residual
        self.a = nn.Parameter(torch.tensor([1.0]))

    def forward(self, img: Tensor, txt: Tensor, *, conjugate: bool = False) -> Tensor:
        """Args: ``img`` ``[n, img_dim]``, ``txt`` ``[n, txt_dim]``. Returns the query ``[n, img_dim]``."""
        x = self.phi(img)
        delta = self.delta(txt)
        sign = -1.0 if conjugate else 1.0
        theta = self.rho(torch.cat([x * torch.cos(delta), sign * x * torch.sin(delta)], dim=1))
        return theta + self.a * img if self.residual else theta


def make_head(kind: str, dim: int, *, residual: bool = True) -> ComposeAEHead | TirgHead:
    """The graph model's composition head: ``composeae`` or ``tirg``, on ``dim``-d embeddings."""
    if kind == "tirg":
        return TirgHead(dim, dim, norm="layer")
    return ComposeAEHead(dim, dim, residual=residual)
