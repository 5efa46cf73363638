"""Matplotlib helpers shared by the reports (evaluate, bench, simulate): headless figures saved as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def new_figure(figsize: tuple[float, float]) -> tuple[Any, Any]:
    """A ``(figure, axes)`` pair on the headless Agg backend (no display needed)."""
    import matplotlib  # heavy: matplotlib loads in ~0.6 s; only the reports' plots need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: after the Agg backend is chosen

    return plt.subplots(figsize=figsize)


def save_figure(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Lay out ``fig``, write it to ``path`` (parent folders created) as PNG, close it; returns the path."""
    import matplotlib.pyplot as plt  # heavy: matplotlib, only when a plot is saved

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
