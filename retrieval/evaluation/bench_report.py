"""The bench report as a person reads it: a markdown table and a latency plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.evaluation.plots import new_figure, save_figure


def markdown_table(report: dict) -> str:
    """One row per size: latencies in ms (cached text: the text feature already known), HNSW recall."""
    recall_key = f"recall@{report['k']}"
    cols = [
        "size",
        "images",
        "index",
        "modify p50",
        "modify p99",
        "modify p99, cached text",
        "search p50",
        "search p99",
        "numpy modify p99*",
        "exact modify p99*",
        "HNSW modify p99*",
        f"HNSW {recall_key}",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    nan = float("nan")
    for name, r in report["sizes"].items():
        e, h = r.get("exact", {}), r.get("hnsw", {})
        cells = [name + (" (synthetic)" if r.get("synthetic") else ""), str(r["images"]), r.get("index", "")]
        cells += [
            f"{r.get(key, nan):.2f}"
            for key in (
                "modify_p50_ms",
                "modify_p99_ms",
                "modify_cached_text_p99_ms",
                "search_p50_ms",
                "search_p99_ms",
                "numpy_modify_p99_ms",
            )
        ]
        cells += [
            f"{e.get('modify_cached_text_p99_ms', nan):.2f}",
            f"{h.get('modify_cached_text_p99_ms', nan):.2f}",
            f"{h.get(recall_key, nan):.3f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    demo = report["sizes"].get("demo", {})
    if "interaction_p50_ms" in demo:
        lines.append(
            f"\nOne interaction incorporated (demo): p50 {demo['interaction_p50_ms']:.2f} ms, p99 "
            f"{demo['interaction_p99_ms']:.2f} ms; full re-embed {demo['full_reembed_ms']:.2f} ms "
            f"({demo['interaction_speedup']:.1f}x the p50; largest embedding error "
            f"{demo['interaction_max_error']:.2g})."
        )
    if "undo_global_ms" in demo:
        lines.append(
            f"A global undo (model reloaded, log replayed): {demo['undo_global_ms']:.0f} ms; a shopper's "
            f"longest search meanwhile {demo['undo_longest_search_ms']:.0f} ms."
        )
    if "undo_like_p50_ms" in demo:
        lines.append(
            f"Undo of a like (edges taken back out): p50 {demo['undo_like_p50_ms']:.1f} ms, p99 "
            f"{demo['undo_like_p99_ms']:.1f} ms; a shopper's longest search meanwhile "
            f"{demo['undo_like_longest_search_ms']:.0f} ms."
        )
    if "explain_p50_ms" in demo:
        f = demo["explain_faithfulness"]
        lines.append(
            f"'Why this one?' weighted by the model (demo): p50 {demo['explain_p50_ms']:.1f} ms, p99 "
            f"{demo['explain_p99_ms']:.1f} ms (facts alone p50 {demo['explain_facts_p50_ms']:.2f} ms); removing "
            f"the top-weighted edge moved the score by {f['top_drop']:.4f}, a random edge of the neighbourhood by "
            f"{f['random_drop']:.4f} (top moved more in {100 * f['wins']:.0f} % of pairs, sign right in "
            f"{100 * f['sign']:.0f} %, {f['pairs']} products)."
        )
    lines.append(
        f"\n(*) cached text. Peak memory {report['peak_memory_mb']} MB; load average "
        f"{report['machine']['load_avg_1m']} on {report['machine']['cpus']} CPUs; {report['note']}."
    )
    return "\n".join(lines)


def plot_latency(report: dict, path: str | Path) -> Path:
    """Grouped bars of p50 / p99 per size and measurement (log scale), as PNG."""
    series = [
        ("modify", "modify"),
        ("modify_cached_text", "modify, cached text"),
        ("search", "search"),
        ("numpy_modify", "numpy modify, cached text"),
        ("exact", "exact modify, cached text"),
        ("hnsw", "HNSW modify, cached text"),
    ]
    names = list(report["sizes"])
    fig, ax = new_figure((10.5, 4.8))
    width = 0.8 / len(series)
    for j, (key, label) in enumerate(series):
        p50, p99 = [], []
        for name in names:
            r = report["sizes"][name]
            src = r.get(key, {}) if key in ("exact", "hnsw") else r
            pk = "modify_cached_text" if key in ("exact", "hnsw") else key
            p50.append(src.get(f"{pk}_p50_ms", np.nan))
            p99.append(src.get(f"{pk}_p99_ms", np.nan))
        x = np.arange(len(names)) + j * width
        ax.bar(x, p99, width, alpha=0.35, color=f"C{j}")
        ax.bar(x, p50, width, label=label, color=f"C{j}")
    ax.axhline(10.0, color="k", linestyle="--", linewidth=0.8, label="10 ms target")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{n}\n({report['sizes'][n]['images']} images)" for n in names])
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms): p50 solid, p99 light")
    ax.set_title("tailor engine latency (1 thread)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)
