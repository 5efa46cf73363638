"""Interaction commands of ``tailor``.

- ``train-tagger`` / ``tagger-eval``: the Flair metadata tagger (:mod:`retrieval.interactions.tagger`).
- ``interactions list | export | undo | accept``: the durable interaction log
  (:mod:`retrieval.interactions.log`).

Each group registers itself in :func:`register`; handlers import heavy modules lazily so
``tailor --help`` stays fast. New groups (``simulate``...) add a ``_register_*`` function here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from retrieval.config import load_config, write_json


def register(subparsers: Any) -> None:
    """Add the tagger and interaction-log commands."""
    _register_tagger(subparsers)
    _register_log(subparsers)


# -- metadata tagger -----------------------------------------------------------------------------
def _register_tagger(subparsers: Any) -> None:
    train = subparsers.add_parser("train-tagger", help="train the metadata tagger on generated sentences")
    train.add_argument("--out", type=Path, required=True, help="model folder to write")
    train.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML (default data/taxonomy.yml)")
    train.add_argument("--sentences", type=int, default=None, help="generated training sentences (default 4000)")
    train.add_argument("--epochs", type=int, default=None, help="training epochs (default 10)")
    train.add_argument("--seed", type=int, default=0, help="random seed (same seed, same sentences)")
    train.set_defaults(func=run_train_tagger)

    ev = subparsers.add_parser("tagger-eval", help="span precision / recall / F1 of a tagger on labelled text")
    ev.add_argument("--model", type=Path, required=True, help="folder written by train-tagger")
    ev.add_argument(
        "--fixture", type=Path, required=True, help='JSON Lines: {"text": ..., "spans": [{"start", "end", "label"}]}'
    )
    ev.add_argument("--json", type=Path, default=None, help="also write the scores as JSON")
    ev.set_defaults(func=run_tagger_eval)


def scores_table(scores: dict[str, Any]) -> str:
    """Per-label and overall precision / recall / F1 as a text table."""
    lines = [f"{'label':<12} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for label, s in sorted(scores["per_label"].items(), key=lambda kv: -kv[1]["support"]):
        lines.append(f"{label:<12} {s['precision']:>9.3f} {s['recall']:>7.3f} {s['f1']:>7.3f} {s['support']:>8d}")
    support = sum(s["support"] for s in scores["per_label"].values())
    lines.append(
        f"{'overall':<12} {scores['precision']:>9.3f} {scores['recall']:>7.3f} {scores['f1']:>7.3f} "
        f"{support:>8d}  (micro, {scores['sentences']} sentences)"
    )
    return "\n".join(lines)


def run_train_tagger(args: argparse.Namespace) -> int:
    """Train and save the tagger; print its held-out scores."""
    # lazy: the taxonomy loads YAML and tagger training loads flair and torch (~4 s); tailor --help stays fast
    from retrieval.catalog.taxonomy import DEFAULT_TAXONOMY, Taxonomy
    from retrieval.interactions.tagger import TaggerConfig
    from retrieval.interactions.tagger_train import train_tagger

    taxonomy = Taxonomy.load(args.taxonomy or DEFAULT_TAXONOMY)
    cfg = TaggerConfig(seed=args.seed)
    if args.sentences is not None:
        cfg = replace(cfg, sentences=args.sentences)
    if args.epochs is not None:
        cfg = replace(cfg, epochs=args.epochs)
    report = train_tagger(args.out, cfg, taxonomy)
    print(f"tagger trained in {report.seconds:.1f} s on {report.train_sentences} sentences -> {args.out}")
    print(f"dev F1 {report.dev_f1:.3f}; held-out generated sentences (unseen outside-vocabulary words):")
    print(scores_table(report.heldout))
    return 0


def run_tagger_eval(args: argparse.Namespace) -> int:
    """Score a tagger on a labelled fixture and time extract() per sentence."""
    import torch  # lazy: torch loads with the tagger, not for --help

    # lazy: the tagger loads YAML (flair on load) and the metrics numpy; tailor --help stays fast
    from retrieval.interactions.tagger import MetadataTagger, load_labelled
    from retrieval.metrics import percentiles

    torch.set_num_threads(1)  # steadier latency on a busy 2-core machine
    tagger = MetadataTagger.load(args.model)
    examples = load_labelled(args.fixture)
    scores = tagger.evaluate(examples)
    print(f"{args.fixture}: {len(examples)} sentences")
    print(scores_table(scores))
    texts = [e.text for e in examples]
    tagger.extract(texts[0] if texts else "warm up")
    times = []
    for text in texts:
        t0 = time.perf_counter()
        tagger.extract(text)
        times.append((time.perf_counter() - t0) * 1000)
    if times:
        scores.update(percentiles(times, "extract", (50, 95)))
        print(
            f"extract() latency per sentence: p50 {scores['extract_p50_ms']:.2f} ms, "
            f"p95 {scores['extract_p95_ms']:.2f} ms"
        )
    if args.json:
        write_json(scores, args.json)
    return 0


# -- interaction log -----------------------------------------------------------------------------
def _register_log(subparsers: Any) -> None:
    parser = subparsers.add_parser("interactions", help="list, export, undo or accept logged interactions")
    sub = parser.add_subparsers(dest="interactions_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--log", required=True, help="interaction log: sqlite:///path.db or a file path")
        p.add_argument(
            "--config", type=Path, default=None, help="LogConfig JSON (url, trusted_senders); --log overrides its url"
        )
        p.add_argument("--trusted", default=None, help="comma-separated trusted senders (staff)")

    ls = sub.add_parser("list", help="print the interactions in log order")
    common(ls)
    ls.add_argument("--user", default=None, help="only this user's interactions")
    ls.add_argument("--pending", action="store_true", help="only metadata awaiting staff acceptance")
    ls.add_argument("--json", action="store_true", help="JSON Lines instead of a table")
    ls.set_defaults(func=run_list)

    ex = sub.add_parser("export", help="write every row (undo / accept rows too) as JSON Lines")
    common(ex)
    ex.add_argument("--out", type=Path, required=True, help="output .jsonl file ('-' for stdout)")
    ex.set_defaults(func=run_export)

    undo = sub.add_parser("undo", help="cancel an interaction (recorded as its own row)")
    undo.add_argument("id", type=int, help="interaction id")
    common(undo)
    undo.add_argument("--by", default=None, help="who asks (default: the operator)")
    undo.set_defaults(func=run_undo)

    acc = sub.add_parser("accept", help="a trusted staff member accepts a pending metadata statement")
    acc.add_argument("id", type=int, help="interaction id")
    common(acc)
    acc.add_argument("--by", required=True, help="staff user id (must be a trusted sender)")
    acc.set_defaults(func=run_accept)


def open_log(args: argparse.Namespace, *, readonly: bool = False) -> Any:
    """The InteractionLog named by ``--log`` / ``--config`` / ``--trusted``."""
    from retrieval.interactions.log import InteractionLog, LogConfig, as_url  # lazy: sqlite3; fast --help

    cfg = load_config(LogConfig, args.config) if args.config else LogConfig()
    cfg = replace(cfg, url=as_url(args.log))
    if args.trusted:
        cfg = replace(cfg, trusted_senders=tuple(s.strip() for s in args.trusted.split(",") if s.strip()))
    return InteractionLog(cfg, readonly=readonly)


def run_list(args: argparse.Namespace) -> int:
    """Print interactions as a table or JSON Lines."""
    with open_log(args, readonly=True) as lg:
        rows = lg.pending() if args.pending else lg.list(user=args.user)
        if args.pending and args.user:
            rows = [r for r in rows if r.user == args.user]
    if args.json:
        for r in rows:
            print(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False))
        return 0
    print(f"{'id':>6}  {'time (UTC)':<19}  {'kind':<8}  {'user':<14}  {'scope':<8}  {'state':<14}  payload")
    for r in rows:
        state = f"undone by {r.undone_by}" if r.undone_by else (f"accepted {r.accepted_by}" if r.accepted_by else "")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.ts))
        payload = json.dumps(r.payload, ensure_ascii=False)
        payload = payload if len(payload) <= 70 else payload[:67] + "..."
        print(f"{r.id:>6}  {when:<19}  {r.kind:<8}  {r.user[:14]:<14}  {r.scope:<8}  {state[:14]:<14}  {payload}")
    print(f"{len(rows)} interaction(s)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export the whole log as JSON Lines."""
    with open_log(args, readonly=True) as lg:
        if str(args.out) == "-":
            lg.export(sys.stdout)
            return 0
        n = lg.export(args.out)
    print(f"exported {n} row(s) to {args.out}")
    return 0


def run_undo(args: argparse.Namespace) -> int:
    """Undo one interaction."""
    with open_log(args) as lg:
        undo_id = lg.undo(args.id, by=args.by)
    print(f"interaction {args.id} undone (row {undo_id})")
    return 0


def run_accept(args: argparse.Namespace) -> int:
    """Accept a pending metadata statement as global."""
    with open_log(args) as lg:
        row_id = lg.accept(args.id, args.by)
    print(f"interaction {args.id} accepted by {args.by}: now global (row {row_id})")
    return 0
