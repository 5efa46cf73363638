"""The metrics every report shares, defined once: latency percentiles (and recall@k).

A leaf module (numpy only): training, evaluation, the benchmarks and ``bench/`` all import it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentiles(ms: Sequence[float], prefix: str, qs: Sequence[int] = (50, 99)) -> dict[str, float]:
    """``{prefix}_p50_ms`` and ``{prefix}_p99_ms`` (one key per ``qs``) of latencies in milliseconds."""
    return {f"{prefix}_p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in qs}
