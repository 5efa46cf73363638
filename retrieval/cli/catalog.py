"""``tailor catalog``: build the demo catalog (``demo``) and check a catalog folder (``check``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``catalog`` command and its ``demo`` / ``check`` subcommands."""
    parser = subparsers.add_parser("catalog", help="build or check a product catalog")
    sub = parser.add_subparsers(dest="catalog_command", required=True)

    demo = sub.add_parser("demo", help="render the synthetic demo catalog (Fashion200K layout + meta/)")
    demo.add_argument("--out", type=Path, required=True, help="output folder")
    demo.add_argument("--size", type=int, default=3000, help="number of products (default 3000)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (same seed, same catalog)")
    demo.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML (default data/taxonomy.yml)")
    demo.add_argument(
        "--profile",
        default="default",
        choices=["default", "hard"],
        help="default (make demo's catalog) or hard: messy photos, fuzzy colours, near-duplicates, human captions",
    )
    demo.set_defaults(func=run_demo)

    check = sub.add_parser("check", help="load a catalog folder and print what it holds and what is wrong")
    check.add_argument("dir", type=Path, help="catalog folder")
    check.add_argument(
        "--format",
        default="auto",
        choices=["auto", "demo", "fashion200k", "fashioniq"],
        help="dataset layout (default: detect)",
    )
    check.add_argument(
        "--images",
        type=Path,
        default=None,
        help="image folder (FashionIQ <ASIN>.jpg files; Fashion200K/demo: the root of women/)",
    )
    check.add_argument("--verify-images", action="store_true", help="open every image with Pillow")
    check.set_defaults(func=run_check)


def run_demo(args: argparse.Namespace) -> int:
    """Generate the demo catalog and print its summary."""
    # lazy: the generator loads numpy, Pillow and YAML; tailor --help stays fast
    from retrieval.catalog.demo.generate import generate_demo_catalog
    from retrieval.catalog.taxonomy import DEFAULT_TAXONOMY

    result = generate_demo_catalog(
        args.out, args.size, args.seed, args.taxonomy or DEFAULT_TAXONOMY, profile=args.profile
    )
    if hasattr(result, "summary_text"):
        print(result.summary_text())
    elif isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
    else:
        from retrieval.catalog.datasets import load_catalog  # lazy: tqdm and the loaders; fast --help

        print(load_catalog(args.out, format="demo").summary_text())
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Load the catalog, print its summary; malformed input raises a DatasetError (exit code 2)."""
    from retrieval.catalog.datasets.check import check_catalog, report_text  # lazy: the loaders; fast --help

    catalog = check_catalog(args.dir, format=args.format, images_dir=args.images, verify=args.verify_images)
    print(report_text(catalog))
    return 0
