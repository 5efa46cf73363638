"""``tailor published`` (demo products in a published dataset layout) and ``tailor table 1 | 2``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from retrieval.config import write_json
from retrieval.errors import ConfigError


def register(subparsers: Any) -> None:
    """Add the ``published`` and ``table`` commands."""
    p = subparsers.add_parser(
        "published", help="write demo products in a published layout (Fashion200K or FashionIQ files)"
    )
    p.add_argument("--layout", required=True, choices=["fashion200k", "fashioniq"], help="which dataset's files")
    p.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    p.add_argument("--size", type=int, default=40, help="demo products to render (default 40)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument(
        "--no-defects", action="store_true", help="leave out the missing and the undecodable image (default: both)"
    )
    p.set_defaults(func=run_published)

    p = subparsers.add_parser("table", help="the paper's Table 1 (Fashion200K) or 2 (FashionIQ) beside measured rows")
    p.add_argument("number", type=int, choices=[1, 2], help="1: Fashion200K, 2: FashionIQ")
    p.add_argument("--model", type=Path, default=None, help="trained model directory (written first with --data)")
    p.add_argument("--data", type=Path, default=None, help="train on this folder into --model first")
    p.add_argument("--config", type=Path, default=None, help="TrainConfig JSON for --data (default: tailor's own)")
    p.add_argument("--json", type=Path, default=None, help="also write the table as JSON here")
    p.add_argument(
        "--match",
        default=None,
        choices=["product", "image", "caption"],
        help="hit rule (default: the table's protocol: caption for Table 1 as TIRG, image for Table 2)",
    )
    p.add_argument("--published-only", action="store_true", help="print the paper's rows only (no model needed)")
    p.set_defaults(func=run_table)


def run_published(args: argparse.Namespace) -> int:
    """Write the folder and print its summary."""
    from retrieval.catalog.demo.published import write_published  # lazy: the renderer loads numpy and Pillow

    print(
        json.dumps(write_published(args.layout, args.out, args.size, args.seed, defects=not args.no_defects), indent=2)
    )
    return 0


def run_table(args: argparse.Namespace) -> int:
    """Train (with --data), evaluate and print the table."""
    from retrieval.evaluation.tables import measure_table, paper_table, table_text  # lazy: torch, faiss, the model

    if args.published_only:
        table = paper_table(args.number)
        print(f"Table {table.number}: {table.dataset} (published)")
        for name, vals in table.rows:
            print(f"| {name} | " + " | ".join(f"R@{k} {v:.2f}" for k, v in zip(table.ks, vals, strict=True)) + " |")
        return 0
    if args.model is None:
        raise ConfigError("tailor table needs --model MODEL (or --published-only).", fix="pass --model MODEL")
    if args.data is not None:
        from retrieval.catalog.datasets.options import DatasetOptions  # lazy: the loaders
        from retrieval.config import load_config
        from retrieval.training.config import TrainConfig  # lazy: torch and dgl
        from retrieval.training.run import train

        cfg = load_config(TrainConfig, args.config) if args.config else TrainConfig()
        train(args.data, args.model, cfg, dataset=DatasetOptions(seed=cfg.seed))
    report = measure_table(args.number, args.model, match=args.match)
    print(table_text(report))
    if args.json:
        write_json(report, args.json)
        print(f"table written to {args.json}")
    return 0
