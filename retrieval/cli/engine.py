"""``tailor train | evaluate | search | query | bench``: the engine's commands.

Human-readable output by default; ``--json`` prints JSON instead (search / query).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from retrieval.config import load_config, write_json
from retrieval.errors import ConfigError, InvalidQueryError


def register(subparsers: Any) -> None:
    """Add the engine commands."""
    p = subparsers.add_parser("train", help="train the graph retrieval engine on a catalog folder")
    p.add_argument("--data", type=Path, required=True, help="catalog folder (demo, Fashion200K or FashionIQ layout)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write")
    p.add_argument("--config", type=Path, default=None, help="TrainConfig JSON (default: tailor's TrainConfig())")
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default MODEL/feature-cache)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (default: torch's; 1 is faster when other jobs share the CPU)",
    )
    p.add_argument(
        "--format",
        default="auto",
        choices=["auto", "demo", "fashion200k", "fashioniq"],
        help="dataset layout (default: detect)",
    )
    p.add_argument(
        "--images", type=Path, default=None, help="image folder (FashionIQ <ASIN>.jpg; default: the layout's)"
    )
    p.add_argument(
        "--relative-caption",
        default="target",
        choices=["target", "replace"],
        help="Fashion200K query text: the target's caption (A.4, default) or TIRG's 'replace X with Y'",
    )
    p.add_argument(
        "--train-queries",
        type=int,
        default=0,
        help="Fashion200K training queries to derive (default 0: one per train image, as TIRG samples)",
    )
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("evaluate", help="R@1/10/50/100 of the graph and every baseline on the test queries")
    p.add_argument("--model", type=Path, required=True, help="trained model directory")
    p.add_argument("--json", type=Path, required=True, help="where to write the results JSON")
    p.add_argument("--plot", type=Path, default=None, help="recall@k plot (PNG)")
    p.add_argument("--methods", nargs="+", default=None, help="subset of methods (default: all)")
    p.add_argument(
        "--match",
        default="product",
        choices=["product", "image", "caption"],
        help="a hit is any photo of the target product (default), the target photo only, or any image with "
        "the target's caption (TIRG's Fashion200K rule)",
    )
    p.add_argument(
        "--only",
        default="retrieval,satisfaction,session",
        help="comma-separated parts: retrieval (R@k of every method), satisfaction, session (default: all)",
    )
    p.add_argument("--requests", type=int, default=300, help="satisfaction requests per number of changes")
    p.add_argument("--sessions", type=int, default=200, help="simulated shopper sessions")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated requests and sessions")
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser("search", help="first-turn search from words")
    p.add_argument("--model", type=Path, required=True, help="trained model directory")
    p.add_argument("--text", required=True, help='the words, e.g. "red summer dresses"')
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="GROUP=VALUE",
        help="restrict results, e.g. --filter category=dress --filter color=red",
    )
    p.add_argument("--explain", action="store_true", help="print each result's graph edges too")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_search)

    p = subparsers.add_parser("query", help="modify a product photo with words")
    p.add_argument("--model", type=Path, required=True, help="trained model directory")
    p.add_argument("--image", required=True, help="candidate image id")
    p.add_argument("--text", required=True, help='the modification, e.g. "like this but black"')
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--explain", action="store_true", help="print each result's graph edges too")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_query)

    p = subparsers.add_parser("bench", help="latency of search / modify at demo size and scaled to 200,000 images")
    p.add_argument("--model", type=Path, required=True, help="trained model directory")
    p.add_argument("--json", type=Path, required=True, help="where to write the benchmark JSON")
    p.add_argument(
        "--sizes", nargs="+", type=int, default=None, help="synthetic catalog sizes besides the demo (default 200000)"
    )
    p.add_argument("--queries", type=int, default=200, help="timed queries per measurement (default 200)")
    p.add_argument("--plot", type=Path, default=None, help="latency plot (default: beside the JSON, .png)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic scale-up")
    p.set_defaults(func=run_bench)


def run_train(args: argparse.Namespace) -> int:
    """Train and print the metrics."""
    # lazy: training loads torch, dgl and the model (~2 s); tailor --help stays fast
    from retrieval.catalog.datasets.options import DatasetOptions  # lazy: the loaders; tailor --help stays fast
    from retrieval.training.config import TrainConfig
    from retrieval.training.run import train

    cfg = load_config(TrainConfig, args.config) if args.config else TrainConfig()
    dataset = DatasetOptions(
        format=args.format,
        images_dir=str(args.images.resolve()) if args.images else "",
        relative_caption=args.relative_caption,
        train_queries=args.train_queries,
        seed=cfg.seed,
    )
    if args.threads > 0:
        import torch  # lazy: torch loads with training, not for --help

        torch.set_num_threads(args.threads)
    metrics = train(args.data, args.out, cfg, cache_dir=args.cache, dataset=dataset)
    print(json.dumps(metrics, indent=2))
    print(f"model written to {args.out}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate every method and print the markdown table."""
    # lazy: evaluation loads torch, faiss and the model (~2 s); tailor --help stays fast
    from retrieval.evaluation.evaluate import METHODS, evaluate, markdown_table
    from retrieval.evaluation.shopper import PARTS, markdown, shopper_report

    parts = tuple(p.strip() for p in args.only.split(",") if p.strip())
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ConfigError(f"--only names unknown parts {unknown}.", fix=f"use some of {','.join(PARTS)}")
    report: dict = {}
    if "retrieval" in parts:
        report = evaluate(args.model, None, methods=tuple(args.methods or METHODS), plot=args.plot, match=args.match)
        print(markdown_table(report))
    if "satisfaction" in parts or "session" in parts:
        shopper = shopper_report(
            args.model, parts=parts, per_arity=args.requests, sessions=args.sessions, seed=args.seed
        )
        report.update(shopper)
        print(markdown(shopper))
    write_json(report, args.json)
    print(f"results written to {args.json}" + (f", plot to {args.plot}" if args.plot and "retrieval" in parts else ""))
    return 0


def _filters(items: list[str]) -> dict[str, list[str]] | None:
    out: dict[str, list[str]] = {}
    for item in items:
        group, sep, value = item.partition("=")
        if not sep or not group.strip() or not value.strip():
            raise InvalidQueryError(f"--filter {item!r} is not GROUP=VALUE.", fix="write e.g. --filter color=red")
        out.setdefault(group.strip(), []).append(value.strip())
    return out or None


def print_results(results: list, *, as_json: bool, explain: bool, header: str) -> None:
    """Print results as a numbered list (or JSON)."""
    if as_json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return
    print(header)
    if not results:
        print("  (no results)")
    for rank, r in enumerate(results, 1):
        print(f"{rank:3d}. {r.image_id}  score {r.score:.3f}  [{r.category}] {r.caption}")
        if r.explanation.text:
            print(f"     {r.explanation.text}")
        if explain:
            for e in r.explanation.edges:
                print(f"       {e.src.ntype}:{e.src.label} -{e.relation}-> {e.dst.ntype}:{e.dst.label}")


def run_search(args: argparse.Namespace) -> int:
    """First-turn search."""
    from retrieval.engine.facade import Engine  # lazy: the engine loads torch and faiss (~2 s); fast --help

    engine = Engine.load(args.model)
    results = engine.search(args.text, k=args.k, filters=_filters(args.filter))
    print_results(results, as_json=args.json, explain=args.explain, header=f'search "{args.text}"')
    return 0


def run_query(args: argparse.Namespace) -> int:
    """Candidate image + modification text."""
    from retrieval.engine.facade import Engine  # lazy: the engine loads torch and faiss (~2 s); fast --help

    engine = Engine.load(args.model)
    results = engine.modify(args.image, args.text, k=args.k)
    if not args.json:
        pick = engine.describe(args.image)
        print(f"your pick: {pick.image_id}  [{pick.category}] {pick.caption}\n     {pick.explanation.text}")
    print_results(results, as_json=args.json, explain=args.explain, header=f'modified by "{args.text}"')
    return 0


def run_bench(args: argparse.Namespace) -> int:
    """Latency benchmark; prints a markdown table, writes JSON and a plot."""
    # lazy: the benchmark loads torch, faiss and the engine (~2 s); tailor --help stays fast
    from retrieval.evaluation.bench import DEFAULT_SIZES, BenchConfig, run_benchmark
    from retrieval.evaluation.bench_report import markdown_table

    cfg = BenchConfig(sizes=tuple(args.sizes) if args.sizes else DEFAULT_SIZES, queries=args.queries, seed=args.seed)
    plot = args.plot or Path(args.json).with_suffix(".png")
    report = run_benchmark(args.model, cfg, out_json=args.json, plot=plot)
    print(markdown_table(report))
    print(f"benchmark written to {args.json}, plot to {plot}")
    return 0
