r"""Entity recall of modification turns with 1-3 changes, with and without negations (issue 11).

    .venv-rasa/bin/python bench/entities.py --model models/tailor.tar.gz [--per-cell 150] [--seed 7] \
        [--json build/entities.json]

Runs in the Rasa environment (it loads the trained model). The turns are generated from
``data/taxonomy.yml`` with sentence templates that ``tailor vocab`` never uses for training
(``HELD_OUT`` below; a test checks they stay apart), so the set is held out: 1, 2 or 3 changes
from different attribute groups, each cell with and without a negated detail (one of the changes:
"get rid of the pockets"). The gold entities of a turn are its taxonomy mentions; a turn counts only
when it names exactly as many values as it has changes. Prints, per number of changes and negation, the entity
recall (gold (group, value) pairs the NLU extracted), the share of turns with every entity found,
the precision and the share classified as ``modify``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from retrieval.catalog.taxonomy import Taxonomy, normalise_text  # noqa: E402  (pure Python + PyYAML)
from retrieval.config import write_json  # noqa: E402  (pure Python: both environments)

#: (changes, negated) -> templates; {a} {b} {e}: values of three different groups, {x}: a detail.
HELD_OUT: dict[tuple[int, bool], tuple[str, ...]] = {
    (1, False): ("could you do it {a}?", "i'd prefer {a}", "what about {a}?", "rather {a}, if you have it"),
    (1, True): ("take off the {x}", "get rid of the {x}", "minus the {x}", "no more {x} please"),
    (2, False): (
        "i'd prefer {a} with {b}",
        "what about {a} and {b}?",
        "swap it for {a}, and {b}",
        "{a} please, and {b}",
    ),
    (2, True): ("{a} but lose the {x}", "get rid of the {x} and go {a}", "{a}, minus the {x}", "take off the {x}, {a}"),
    (3, False): ("how about {a}, {b} and {e}?", "i'd like it {a} with {b} and {e}", "{a} plus {b} plus {e}"),
    (3, True): ("{a} and {b}, minus the {x}", "get rid of the {x}, go {a} and {b}", "{a}, {b} and take off the {x}"),
}
GROUPS = ("color", "pattern", "sleeve", "length", "neckline", "material", "fit", "details")
_WITH = re.compile(r"^with (a |an )?")


def surfaces(taxonomy: Taxonomy) -> dict[str, list[str]]:
    """Group -> every surface phrase of its values (synonyms included)."""
    out: dict[str, list[str]] = {}
    for phrase, (group, _value) in sorted(taxonomy.phrases.items()):
        if group in GROUPS and group in taxonomy.groups:
            out.setdefault(group, []).append(phrase)
    return out


def make_turns(taxonomy: Taxonomy, per_cell: int, seed: int) -> list[dict]:
    """Held-out turns: {text, changes, negated, gold: [[group, value], ...]}."""
    rng = random.Random(seed)
    table = surfaces(taxonomy)
    details = sorted({_WITH.sub("", p) for p in table.get("details", [])})
    turns: list[dict] = []
    seen: set[str] = set()
    for (changes, negated), templates in HELD_OUT.items():
        made = 0
        for _ in range(per_cell * 30):
            if made >= per_cell:
                break
            tpl = templates[made % len(templates)]
            groups = rng.sample([g for g in table if g != "details" or not negated], k=3)
            fields = dict(zip("abe", (rng.choice(table[g]) for g in groups), strict=True))
            fields["x"] = rng.choice(details)
            text = normalise_text(tpl.format(**fields))
            gold = sorted({(m.group, m.value) for m in taxonomy.find_mentions(text)})
            if text in seen or len(gold) != changes:
                continue
            seen.add(text)
            turns.append({"text": text, "changes": changes, "negated": negated, "gold": [list(g) for g in gold]})
            made += 1
    return turns


async def parse_all(model: str, texts: list[str]) -> list[dict]:
    """NLU parses of ``texts`` with the trained model."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(model)
    return [await agent.parse_message(t) for t in texts]


def report(turns: list[dict], parses: list[dict], seconds: float) -> dict:
    """Recall, all-found share, precision and modify share per (changes, negated) cell and overall."""
    cells: dict[str, dict[str, float]] = {}
    misses: list[dict] = []
    totals = {"gold": 0, "found": 0, "predicted": 0, "correct": 0, "turns": 0, "complete": 0, "modify": 0}

    def add(acc: dict, gold: set, pred: set, intent: str) -> None:
        acc["gold"] += len(gold)
        acc["found"] += len(gold & pred)
        acc["predicted"] += len(pred)
        acc["correct"] += len(pred & gold)
        acc["turns"] += 1
        acc["complete"] += gold <= pred
        acc["modify"] += intent == "modify"

    raw: dict[str, dict] = {}
    for turn, p in zip(turns, parses, strict=True):
        gold = {tuple(g) for g in turn["gold"]}
        pred = {(e["entity"], str(e["value"])) for e in p.get("entities") or []}
        key = f"{turn['changes']} change{'s' if turn['changes'] > 1 else ''}{' + negation' if turn['negated'] else ''}"
        acc = raw.setdefault(key, dict.fromkeys(totals, 0))
        add(acc, gold, pred, p["intent"]["name"])
        add(totals, gold, pred, p["intent"]["name"])
        if not gold <= pred:
            misses.append({"text": turn["text"], "missed": sorted(gold - pred), "got": sorted(pred)})

    def summary(acc: dict) -> dict[str, float]:
        return {
            "turns": acc["turns"],
            "entity_recall": round(100.0 * acc["found"] / max(acc["gold"], 1), 2),
            "all_entities_found": round(100.0 * acc["complete"] / max(acc["turns"], 1), 2),
            "precision": round(100.0 * acc["correct"] / max(acc["predicted"], 1), 2),
            "modify_share": round(100.0 * acc["modify"] / max(acc["turns"], 1), 2),
        }

    for key in sorted(raw):
        cells[key] = summary(raw[key])
    return {
        "overall": summary(totals),
        "by_cell": cells,
        "miss_examples": misses[:25],
        "parse_ms_mean": round(1000.0 * seconds / max(len(parses), 1), 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("TAILOR_RASA_MODEL", str(REPO / "models" / "tailor.tar.gz")))
    parser.add_argument("--taxonomy", default=str(REPO / "data" / "taxonomy.yml"))
    parser.add_argument("--per-cell", type=int, default=150, help="turns per (changes, negation) cell")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", default=None, help="also write the report here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    turns = make_turns(Taxonomy.load(args.taxonomy), args.per_cell, args.seed)
    start = time.perf_counter()
    parses = asyncio.run(parse_all(args.model, [t["text"] for t in turns]))
    out = report(turns, parses, time.perf_counter() - start)
    o = out["overall"]
    print(f"\nheld-out modification turns: {o['turns']}; entity recall {o['entity_recall']}%,")
    print(f"  all found {o['all_entities_found']}%, precision {o['precision']}%, modify {o['modify_share']}%")
    for key, c in out["by_cell"].items():
        line = f"  {key:22s} n={c['turns']:4d}  recall {c['entity_recall']:6.2f}%"
        line += f"  all found {c['all_entities_found']:6.2f}%  precision {c['precision']:6.2f}%"
        print(line + f"  modify {c['modify_share']:6.2f}%")
    print("  examples with a missed entity:")
    for m in out["miss_examples"][:10]:
        print(f"    {m['text']!r}: missed {m['missed']}, got {m['got']}")
    if args.json:
        write_json(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
