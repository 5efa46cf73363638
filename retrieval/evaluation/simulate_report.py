"""The simulate report as a person reads it: the paper-style table and a bar plot of the rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.evaluation.plots import new_figure, save_figure
from retrieval.training.sim_edits import (
    METADATA_TOP,
)

ROW_TITLES = {
    "AA1": "Graph with predicted attributes (as trained)",
    "AA2": f"+ true attributes among the {METADATA_TOP[0]} most frequent, every image",
    "AA3": f"+ true attributes among the {METADATA_TOP[1]} most frequent, every image",
    "AA4": f"+ true attributes among the {METADATA_TOP[1]} most frequent, half the images",
    "AA5": "+ all caption-based attributes (A.5), every image",
    "BB1": "Graph with predicted attributes (as trained)",
    "BB2": "I like that! ({n} interactions)",
}


def _title(name: str, report: dict) -> str:
    return ROW_TITLES.get(name, name).format(n=report.get("interactions", ""))


def markdown_table(report: dict) -> str:
    """The rows as a markdown table (recalls in percent), with the protocol's caveats below."""
    rows = report["rows"]
    ks = [c for c in next(iter(rows.values())) if c.startswith("R@")]
    likes = report["protocol"] == "i-like-that"
    cols = ["row", "model", *ks, *(["# edges", "conn. acc. (%)"] if likes else ["# edges"])]
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    for name, r in rows.items():
        edges = r.get("edges", report.get("details", {}).get(name, {}).get("edges"))
        cells = [name, _title(name, report), *(f"{r[k]:.2f}" for k in ks), "-" if not edges else f"{edges:,}"]
        if likes:
            cells.append(f"{r['connection_accuracy']:.2f}" if "connection_accuracy" in r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(
        f"\n{report['queries']} test queries ranking {report['pool']} test images (hit: the target's "
        f"{report.get('match', 'product')}); no training after the model's own."
    )
    if likes:
        d = report["details"]["BB2"]
        lines.append(
            f"Interactions on {report['interaction_split']} queries"
            + (" (the evaluated ones, as in the paper)" if report["overlap"] else " (no overlap)")
            + f"; connection accuracy over {d['connection_queries']} queries with a liked image in the "
            f"top 10 (before the likes: {d['connection_accuracy_before']:.2f})."
        )
        if "held_out" in report:
            h = report["held_out"]
            lines.append(
                f"Held-out test queries (no interaction, {h['queries']}): R@10 {h['BB1']['R@10']:.2f} -> "
                f"{h['BB2']['R@10']:.2f}."
            )
        if "held_out_close" in report:
            h = report["held_out_close"]
            lines.append(
                f"Held-out test queries close to a liked one ({h['queries']}): R@10 {h['BB1']['R@10']:.2f} -> "
                f"{h['BB2']['R@10']:.2f}."
            )
    return "\n".join(lines)


def plot_rows(report: dict, path: str | Path) -> Path:
    """Grouped recall bars (R@k per row) as PNG."""
    rows = report["rows"]
    ks = [c for c in next(iter(rows.values())) if c.startswith("R@")]
    names = list(rows)
    fig, ax = new_figure((1.6 * len(names) + 3, 4.2))
    width = 0.8 / len(ks)
    for j, k in enumerate(ks):
        x = np.arange(len(names)) + j * width
        bars = ax.bar(x, [rows[n][k] for n in names], width, label=k, color=f"C{j}")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names)
    ax.set_ylim(0, 105)
    ax.set_ylabel("recall (%)")
    ax.set_title(f"tailor simulate {report['protocol']} ({report['queries']} test queries)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return save_figure(fig, path)
