"""``tailor table 1 | 2``: the paper's Table 1 (Fashion200K) and Table 2 (FashionIQ) beside measured rows.

The published rows are copied from the paper (``/work/shared/reference/graph-retrieval-paper.txt``); the
measured rows come from :func:`retrieval.evaluation.evaluate.evaluate` on a trained model, with the
dataset it was trained on named in the header. Which published row a measured method corresponds to
is given per row; no measured row is one of the paper's unless it says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import ConfigError
from retrieval.training.artifacts import load_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaperTable:
    """One of the paper's result tables."""

    number: int
    dataset: str
    formats: tuple[str, ...]  # catalog layouts the table may be measured on
    ks: tuple[int, ...]
    rows: tuple[tuple[str, tuple[float, ...]], ...]
    methods: tuple[tuple[str, str], ...]  # (measured method, the published row it compares with)
    match: str  # the hit rule of the published protocol


TABLES = {
    1: PaperTable(
        1,
        "Fashion200K",
        ("fashion200k", "demo"),
        (1, 10, 50),
        (
            ("TIRG Vo et al. (2019)", (14.1, 42.5, 63.8)),
            ("TIRG with Complete Text Query", (14.2, 41.9, 63.3)),
            ("TIRG with BERT and Complete Text Query", (19.9, 51.7, 71.8)),
            ("ComposeAE Anwaar et al. (2021)", (22.8, 55.3, 73.4)),
            ("Our Graph with Predicted Attributes", (16.97, 40.0, 59.91)),
            ("Our Graph with Caption Based Attributes", (82.1, 82.5, 87.5)),
        ),
        (
            ("image-only", ""),
            ("text-only", ""),
            ("concat", ""),
            ("tirg", "TIRG Vo et al. (2019)"),  # with --relative-caption replace; see _compare_with
            ("composeae", "ComposeAE Anwaar et al. (2021)"),
            ("attribute-intersection", ""),
            ("graph-predicted", "Our Graph with Predicted Attributes"),
            ("graph-caption", "Our Graph with Caption Based Attributes"),
        ),
        "caption",
    ),
    2: PaperTable(
        2,
        "FashionIQ",
        ("fashioniq",),
        (10, 50, 100),
        (
            ("TIRG with Complete Text Query", (3.34, 9.18, 9.45)),
            ("TIRG with BERT and Complete Text Query", (11.5, 28.8, 28.9)),
            ("ComposeAE Anwaar et al. (2021)", (11.8, 29.4, 29.9)),
            ("Our Graph", (6.74, 19.09, 30.2)),
        ),
        (
            ("image-only", ""),
            ("text-only", ""),
            ("concat", ""),
            ("tirg", "TIRG with BERT and Complete Text Query"),
            ("composeae", "ComposeAE Anwaar et al. (2021)"),
            ("attribute-intersection", ""),
            ("graph-predicted", "Our Graph"),
        ),
        "image",
    ),
}


def paper_table(number: int) -> PaperTable:
    """Table ``number`` (1 or 2) of the paper."""
    if number not in TABLES:
        raise ConfigError(
            f"the paper has no result table {number} here.", fix="use table 1 (Fashion200K) or 2 (FashionIQ)"
        )
    return TABLES[number]


def measure_table(number: int, model_dir: str | Path, *, match: str | None = None, progress: bool = True) -> dict:
    """Evaluate ``model_dir`` for table ``number``; the report names the dataset and the protocol.

    Raises:
        ConfigError: the model was trained on a layout the table is not about.
    """
    from retrieval.evaluation.evaluate import evaluate  # lazy: keeps ``paper_table`` free of the heavy chain

    table = paper_table(number)
    tm = load_model(model_dir)
    info = tm.catalog_info
    fmt = tm.catalog.source_format
    if fmt not in table.formats:
        raise ConfigError(
            f"Table {number} is {table.dataset}, but {model_dir} was trained on a {fmt} catalog ({info['path']}).",
            fix=f"train on a {' or '.join(table.formats)} folder: tailor train --data DIR --out MODEL",
        )
    methods = tuple(m for m, _ in table.methods)
    rule = match or table.match
    report = evaluate(model_dir, None, methods=methods, match=rule, progress=progress)
    measured_ks = {f"R@{k}" for k in table.ks}
    complete = fmt != "fashion200k" or tm.dataset.relative_caption == "target"
    rows = [
        {
            "method": m,
            "compare_with": _compare_with(number, m, paper, complete_text=complete),
            **{k: v for k, v in report["results"][m].items() if k in measured_ks},
        }
        for m, paper in table.methods
        if m in report["results"]
    ]
    cat = tm.catalog
    return {
        "table": number,
        "dataset": table.dataset,
        "measured_on": {
            "format": fmt,
            "path": info["path"],
            "images": len(cat.images),
            "queries": report["queries"],
            "relative_caption": tm.dataset.relative_caption if fmt == "fashion200k" else None,
            "match": rule,
        },
        "published": [
            {"row": name, **{f"R@{k}": v for k, v in zip(table.ks, vals, strict=True)}} for name, vals in table.rows
        ],
        "measured": rows,
        **({"categories": report["categories"]} if "categories" in report else {}),
    }


def _compare_with(number: int, method: str, paper: str, *, complete_text: bool) -> str:
    """The published row a measured method compares with: on Table 1, tailor's TIRG given the target's
    whole caption (A.4) with a BERT-family sentence encoder (MiniLM) is the "BERT and Complete Text" row.
    """
    if number == 1 and method == "tirg" and complete_text:
        return "TIRG with BERT and Complete Text Query"
    return paper


def table_text(report: dict) -> str:
    """The published rows, then the measured ones, as one markdown table with the dataset named."""
    table = paper_table(report["table"])
    cols = [f"R@{k}" for k in table.ks]
    on = report["measured_on"]
    head = (
        f"Table {table.number}: {table.dataset}. Published rows from the paper; measured rows: tailor on a "
        f"{on['format']} folder {on['path']} ({on['images']} images, {on['queries']} test queries, hit rule "
        f"{on['match']}{', relative caption ' + on['relative_caption'] if on.get('relative_caption') else ''})."
    )
    lines = [head, "", "| model | source | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for row in report["published"]:
        lines.append(f"| {row['row']} | paper | " + " | ".join(f"{row[c]:.2f}" for c in cols) + " |")
    for row in report["measured"]:
        note = f"measured (compare: {row['compare_with']})" if row["compare_with"] else "measured"
        lines.append(f"| {row['method']} | {note} | " + " | ".join(f"{row[c]:.2f}" for c in cols) + " |")
    if "categories" in report:
        lines += [
            "",
            "Per category (measured):",
            "",
            "| method | category | queries | gallery | " + " | ".join(cols) + " |",
        ]
        lines.append("|---|---|---|---|" + "---|" * len(cols))
        for m, cats in report["categories"].items():
            for c, r in cats.items():
                lines.append(
                    f"| {m} | {c} | {r['queries']} | {r['gallery']} | " + " | ".join(f"{r[k]:.2f}" for k in cols) + " |"
                )
    return "\n".join(lines)
