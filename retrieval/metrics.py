"""The metrics every report shares, defined once: recall@k and latency percentiles.

A leaf module (numpy only): training, evaluation, the benchmarks and ``bench/`` all import it.
Torch callers pass ``tensor.numpy()``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NO_RANK = np.iinfo(np.int64).max // 2
"""The rank of a query whose correct images are all outside the pool (never a hit)."""


def target_ranks(
    scores: np.ndarray, targets: np.ndarray | Sequence[np.ndarray], exclude: np.ndarray | None = None
) -> np.ndarray:
    """0-based rank of the best-scored correct column per query, ``exclude`` columns scored lowest.

    The rank counts the columns scored strictly higher than the best correct one (ties favour the
    target). An excluded column scores ``-inf``, also when it is a correct one.

    Args:
        scores: ``[n, pool]``.
        targets: per query, the pool columns that count as a hit: ``[n]`` (one each), ``[n, t]``
            or a list of 1-d arrays; ``-1`` = none.
        exclude: ``[n]`` pool column to leave out per query (the candidate), ``-1`` = none.

    Returns:
        ``[n]`` int64 ranks, :data:`NO_RANK` for a query without a correct column.
    """
    s = np.array(scores, copy=True)
    if not np.issubdtype(s.dtype, np.floating):
        s = s.astype(np.float64)
    n = len(s)
    rows = np.arange(n)
    if exclude is not None:
        ex = np.asarray(exclude, dtype=np.int64)
        keep = ex >= 0
        s[rows[keep], ex[keep]] = -np.inf
    t = _padded(targets, n)
    valid = t >= 0
    picked = s[rows[:, None], np.where(valid, t, 0)]
    best = np.where(valid, picked, -np.inf).max(axis=1, initial=-np.inf)
    ranks = (s > best[:, None]).sum(axis=1).astype(np.int64)
    ranks[~valid.any(axis=1)] = NO_RANK
    return ranks


def recall_hits(ranks: np.ndarray, ks: Sequence[int]) -> dict[int, int]:
    """How many queries rank a correct image in their top ``k``, per ``k``."""
    r = np.asarray(ranks)
    return {int(k): int((r < k).sum()) for k in ks}


def recall_at_k(ranks: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """``{"R@k": percent}`` from target ranks, rounded to 2 decimals (0 queries: 0.0)."""
    n = max(len(ranks), 1)
    return {f"R@{k}": round(100.0 * hits / n, 2) for k, hits in recall_hits(ranks, ks).items()}


def percentile(ms: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100, linear interpolation between samples) of latencies; q=50: median."""
    return float(np.percentile(np.asarray(ms, dtype=np.float64), q))


def percentiles(
    ms: Sequence[float], prefix: str = "", qs: Sequence[int] = (50, 99), *, digits: int = 3
) -> dict[str, float]:
    """``{prefix}_p50_ms`` and ``{prefix}_p99_ms`` (one key per ``qs``; ``p50_ms`` without a prefix).

    Args:
        ms: latencies in milliseconds (at least one).
        prefix: what was timed, the start of each key.
        qs: percentiles, 0..100.
        digits: decimals kept.
    """
    head = f"{prefix}_" if prefix else ""
    return {f"{head}p{q}_ms": round(percentile(ms, q), digits) for q in qs}


def _padded(targets: np.ndarray | Sequence[np.ndarray], n: int) -> np.ndarray:
    """Targets as an ``[n, t]`` int64 array, ``-1`` padded."""
    if isinstance(targets, np.ndarray) and targets.dtype != object:
        t = targets.astype(np.int64, copy=False)
        return t[:, None] if t.ndim == 1 else t.reshape(n, -1)
    cols = [np.asarray(c, dtype=np.int64).ravel() for c in targets]
    out = np.full((n, max((len(c) for c in cols), default=0)), -1, dtype=np.int64)
    for i, c in enumerate(cols):
        out[i, : len(c)] = c
    return out
