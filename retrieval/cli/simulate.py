"""``tailor simulate``: the paper's interaction experiments (Tables 3 and 4) on a trained model; and
``tailor reproduce``: catalog, both training configurations and Tables 1, 3, 4, 5 in one command.

``simulate`` writes the JSON report, a markdown table (default: beside the JSON, ``.md``) and a recall plot
(default ``.png``), and prints the table. See :mod:`retrieval.evaluation.simulate` for the protocols and
:mod:`retrieval.evaluation.reproduce` for ``reproduce``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

PROTOCOL_CHOICES = (
    "more-metadata",
    "i-like-that",
)  # retrieval.evaluation.simulate.PROTOCOLS (not imported: fast --help)


def register(subparsers: Any) -> None:
    """Add ``simulate``."""
    p = subparsers.add_parser(
        "simulate", help="simulated interactions: Table 3 (more-metadata) or Table 4 (i-like-that), no training"
    )
    p.add_argument("--model", type=Path, required=True, help="trained model directory (with interaction warm-up)")
    p.add_argument("--protocol", required=True, choices=PROTOCOL_CHOICES, help="which experiment")
    p.add_argument("--json", type=Path, required=True, help="where to write the report JSON")
    p.add_argument("--markdown", type=Path, default=None, help="markdown table (default: beside the JSON, .md)")
    p.add_argument("--plot", type=Path, default=None, help="recall plot (default: beside the JSON, .png)")
    p.add_argument("--likes", type=int, default=1000, help="i-like-that interactions (default 1000)")
    p.add_argument(
        "--like-split",
        default="test",
        choices=["test", "train"],
        help="queries the likes are made on: test = the evaluated ones, as the paper (default)",
    )
    p.add_argument(
        "--match",
        default="product",
        choices=["product", "image"],
        help="a hit is any photo of the target's product (default) or the target photo only",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of AA4's half and of the interaction sample")
    p.set_defaults(func=run_simulate)

    p = subparsers.add_parser(
        "reproduce", help="build a catalog, train the default and the paper's config, run Tables 1, 3, 4 and 5"
    )
    p.add_argument("--profile", default="hard", choices=["hard", "default"], help="demo catalog profile (default hard)")
    p.add_argument(
        "--out", type=Path, default=Path("build/hard/report"), help="report folder (default build/hard/report)"
    )
    p.add_argument(
        "--work", type=Path, default=None, help="catalog and models folder (default: the report folder's parent)"
    )
    p.add_argument("--size", type=int, default=3000, help="products in the catalog (default 3000)")
    p.add_argument("--seed", type=int, default=0, help="catalog seed")
    p.add_argument("--likes", type=int, default=1000, help="Table 4 interactions (default 1000)")
    p.add_argument(
        "--thresholds",
        type=float,
        nargs="*",
        default=None,
        help="Table 5 confidence thresholds (default: the paper's 0.2 0.1 0.02, tailor's 0.3 0.5; none: skip)",
    )
    p.add_argument("--max-seconds", type=float, default=420.0, help="fitting budget per training (default 420)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of training (default 1)")
    p.set_defaults(func=run_reproduce)


def run_simulate(args: argparse.Namespace) -> int:
    """Run one protocol and print its table."""
    # lazy: the simulation loads torch, faiss and the engine (~2 s); tailor --help stays fast
    from retrieval.evaluation.simulate import SimulateConfig, simulate
    from retrieval.evaluation.simulate_report import markdown_table

    cfg = SimulateConfig(likes=args.likes, like_split=args.like_split, match=args.match, seed=args.seed)
    report = simulate(
        args.model,
        args.protocol,
        cfg,
        out_json=args.json,
        markdown=args.markdown or args.json.with_suffix(".md"),
        plot=args.plot or args.json.with_suffix(".png"),
    )
    print(markdown_table(report))
    print(
        f"\nwrote {args.json}, {args.markdown or args.json.with_suffix('.md')}, "
        f"{args.plot or args.json.with_suffix('.png')} ({report['seconds']} s)"
    )
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    """Run everything and print the report."""
    # lazy: the generator, training and evaluation load torch, DGL, FAISS and Pillow
    from retrieval.evaluation.reproduce import THRESHOLDS, ReproduceConfig, reproduce

    cfg = ReproduceConfig(
        profile=args.profile,
        size=args.size,
        seed=args.seed,
        likes=args.likes,
        thresholds=THRESHOLDS if args.thresholds is None else tuple(args.thresholds),
        max_seconds=args.max_seconds,
        threads=args.threads,
    )
    results = reproduce(args.out, args.work, cfg)
    print((args.out / "report.md").read_text())
    print(f"wrote {args.out / 'results.json'} ({results['seconds']['total']} s)")
    return 0
