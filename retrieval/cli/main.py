"""``tailor``: the one command line of the engine.

Each group of subcommands lives in a module of :mod:`retrieval.cli` exposing ``register(subparsers)``; handlers
import heavy modules lazily so ``tailor --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from retrieval.errors import TailorError

COMMAND_MODULES = (
    "retrieval.cli.catalog",
    "retrieval.cli.engine",
    "retrieval.cli.interactions",
    "retrieval.cli.simulate",
    "retrieval.cli.dialogue",
    "retrieval.cli.datasets",
)

log = logging.getLogger("tailor")


def build_parser() -> argparse.ArgumentParser:
    """The ``tailor`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="tailor", description="tailor's retrieval engine")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``tailor``; returns the exit code (2 for a :class:`TailorError`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except TailorError as err:
        log.error("%s", err)
        sys.stderr.write(f"error: {err}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
