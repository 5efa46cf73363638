r"""How the assistant understands real modification requests: FashionIQ val captions through the NLU.

    .venv-rasa/bin/python bench/understanding.py --model models/tailor.tar.gz \
        --captions ../shared/datasets/fashioniq/captions [--limit N] [--json build/understanding.json]

Runs in the Rasa environment (it loads the trained model). Prints the share of val captions
classified as ``modify`` (target >= 90%), the other intents they fell into, the entities extracted
(per entity type, with the most frequent values) and examples of misses. The model was trained on
*train* captions only (``tailor vocab --captions``), so val is held out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from retrieval.config import write_json  # noqa: E402  (pure Python: both environments)

DEFAULT_CAPTIONS = REPO.parent / "shared" / "datasets" / "fashioniq" / "captions"


def load_captions(folder: Path, limit: int | None) -> list[tuple[str, str]]:
    """(category, caption) for every caption of ``cap.*.val.json`` (the ``limit`` first per file)."""
    out: list[tuple[str, str]] = []
    files = sorted(folder.glob("cap.*.val.json"))
    if not files:
        sys.exit(f"error: no cap.*.val.json in {folder}: pass --captions <FashionIQ captions folder>")
    for path in files:
        category = path.name.split(".")[1]
        caps = [c for pair in json.loads(path.read_text()) for c in pair.get("captions", []) if c and c.strip()]
        out.extend((category, c) for c in caps[:limit])
    return out


async def parse_all(model: str, texts: list[str]) -> list[dict]:
    """NLU parses of ``texts`` with the trained model."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # one debug line per parse otherwise
    agent = Agent.load(model)
    parses = []
    for i, text in enumerate(texts):
        parses.append(await agent.parse_message(text))
        if (i + 1) % 1000 == 0:
            logging.getLogger("understanding").info("%d / %d parsed", i + 1, len(texts))
    return parses


def report(captions: list[tuple[str, str]], parses: list[dict], seconds: float) -> dict:
    """Summary numbers of the parses."""
    intents = Counter(p["intent"]["name"] for p in parses)
    by_cat: dict[str, Counter] = {}
    entities: dict[str, Counter] = {}
    with_entity = 0
    for (cat, _), p in zip(captions, parses, strict=True):
        by_cat.setdefault(cat, Counter())[p["intent"]["name"]] += 1
        ents = p.get("entities") or []
        with_entity += bool(ents)
        for e in ents:
            entities.setdefault(e["entity"], Counter())[str(e["value"])] += 1
    n = len(parses)
    misses = [(c, p["intent"]["name"], round(p["intent"]["confidence"], 2))
              for (_, c), p in zip(captions, parses, strict=True) if p["intent"]["name"] != "modify"]  # fmt: skip
    return {
        "captions": n,
        "modify_share": round(100.0 * intents["modify"] / max(n, 1), 2),
        "intents": dict(intents.most_common()),
        "modify_share_by_category": {c: round(100.0 * k["modify"] / sum(k.values()), 2) for c, k in by_cat.items()},
        "captions_with_entities": round(100.0 * with_entity / max(n, 1), 2),
        "entities": {e: {"count": sum(v.values()), "top": dict(v.most_common(8))} for e, v in sorted(entities.items())},
        "miss_examples": misses[:25],
        "parse_ms_mean": round(1000.0 * seconds / max(n, 1), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("TAILOR_RASA_MODEL", str(REPO / "models" / "tailor.tar.gz")))
    parser.add_argument("--captions", default=str(DEFAULT_CAPTIONS), help="FashionIQ captions/ folder")
    parser.add_argument("--limit", type=int, default=None, help="at most N captions per val file")
    parser.add_argument("--json", default=None, help="also write the report here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    captions = load_captions(Path(args.captions), args.limit)
    start = time.perf_counter()
    parses = asyncio.run(parse_all(args.model, [c for _, c in captions]))
    out = report(captions, parses, time.perf_counter() - start)
    print(f"\nFashionIQ val captions understood as modification turns: {out['modify_share']}% of {out['captions']}")
    print(f"  by category: {out['modify_share_by_category']}")
    print(f"  intents: {out['intents']}")
    print(f"  captions with at least one entity: {out['captions_with_entities']}%")
    for entity, info in out["entities"].items():
        print(f"  {entity:10s} {info['count']:6d}  {info['top']}")
    print("  examples not taken as modify:")
    for caption, intent, conf in out["miss_examples"][:12]:
        print(f"    {intent:13s} {conf:.2f}  {caption}")
    if args.json:
        write_json(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
