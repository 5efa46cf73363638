"""``retrieval.metrics``: recall@k from target ranks against a brute-force count, and percentiles."""

from __future__ import annotations

import numpy as np
import torch

from retrieval.metrics import NO_RANK, percentile, percentiles, recall_at_k, recall_hits, target_ranks


def _brute_rank(row: np.ndarray, targets: list[int], exclude: int) -> int:
    """Position of the first correct column in a stable descending sort (ties favour the target)."""
    scored = [(-np.inf if j == exclude else float(v), j in targets, j) for j, v in enumerate(row)]
    if not targets:
        return NO_RANK
    order = sorted(scored, key=lambda x: (-x[0], not x[1]))
    return next(i for i, x in enumerate(order) if x[1])


def test_ranks_and_recalls_match_brute_force():
    rng = np.random.default_rng(0)
    n, pool = 60, 25
    scores = rng.integers(0, 6, size=(n, pool)).astype(np.float32)  # many ties
    exclude = rng.integers(-1, pool, size=n)
    targets = [list(rng.choice(pool, size=int(rng.integers(0, 4)), replace=False)) for _ in range(n)]
    targets[0] = [int(exclude[0])] if exclude[0] >= 0 else [0]  # the excluded column as the only target
    brute = np.array([_brute_rank(scores[i], targets[i], exclude[i]) for i in range(n)])
    got = target_ranks(scores, [np.array(t, dtype=np.int64) for t in targets], exclude)
    assert got.tolist() == brute.tolist()
    ks = (1, 5, 10)
    assert recall_hits(got, ks) == {k: int(sum(r < k for r in brute)) for k in ks}
    assert recall_at_k(got, ks) == {f"R@{k}": round(100.0 * sum(r < k for r in brute) / n, 2) for k in ks}


def test_one_target_each_and_torch_callers():
    rng = np.random.default_rng(1)
    scores = torch.from_numpy(rng.normal(size=(40, 30)).astype(np.float32))
    t = torch.from_numpy(rng.integers(-1, 30, size=40))
    c = torch.from_numpy(rng.integers(-1, 30, size=40))
    ranks = target_ranks(scores.numpy(), t.numpy(), c.numpy())
    brute = [_brute_rank(scores[i].numpy(), [int(t[i])] if t[i] >= 0 else [], int(c[i])) for i in range(40)]
    assert ranks.tolist() == brute
    assert (ranks[t.numpy() < 0] == NO_RANK).all()
    assert target_ranks(np.array([[0.9, 0.8, 0.1, 0.5]]), [np.array([3])], np.array([0])).tolist() == [1]
    assert recall_at_k(np.array([0, 5, 50]), (1, 10)) == {"R@1": 33.33, "R@10": 66.67}
    assert recall_at_k(np.zeros(0, dtype=np.int64), (1,)) == {"R@1": 0.0}


def test_percentiles_keys_and_values():
    ms = list(range(1, 101))
    assert percentiles(ms, "q") == {"q_p50_ms": 50.5, "q_p99_ms": 99.01}
    assert set(percentiles(ms, "x", (50, 90, 99))) == {"x_p50_ms", "x_p90_ms", "x_p99_ms"}
    assert percentiles([3.0, 1.0, 2.0], qs=(50,), digits=1) == {"p50_ms": 2.0}
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == float(np.median([1.0, 2.0, 3.0, 4.0]))
