"""A simulated shopper with a hidden target product (the ChatIR protocol, in this catalog).

Turn 0 searches for the target's category and one of its attributes ("striped dresses"). Each later
turn picks the shown product closest to the target (ground-truth attributes, category counting double)
and asks, in varied words (:mod:`retrieval.evaluation.wording`), for one or two of the remaining
differences (a missing value, or "without the hood" for a detail the target lacks), exactly as the chat
sends it after "the first one": ``engine.modify(pick, words, k)``. ``hits@K[t]``: share of sessions whose
target product was among the first K results of some turn <= t (t = 1..turns); ``mean_turns``: the mean
turn at which the target was first shown (in the top ``shown``), ``turns + 1`` when never.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from tqdm import tqdm

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key, split_key
from retrieval.evaluation.satisfaction import Change, Modify, Truth
from retrieval.evaluation.wording import TEMPLATES, phrase_changes, value_words

Search = Callable[[str, int], list[str]]  # (words, k) -> image ids


def closeness(truth: Truth, a: str, b: str) -> int:
    """Shared ground-truth attributes of two images, the category counting double."""
    return 2 * (truth.category[a] == truth.category[b]) + len(truth.attrs[a] & truth.attrs[b])


def differences(truth: Truth, taxonomy: Taxonomy, pick: str, target: str) -> list[Change]:
    """What ``pick`` would need to become ``target`` (category first)."""
    out: list[Change] = []
    if truth.category[pick] != truth.category[target]:
        out.append((attribute_key(CATEGORY, truth.category[target]), True))
    want, have = truth.attrs[target], truth.attrs[pick]
    out += [(a, True) for a in sorted(want - have)]
    out += [(a, False) for a in sorted(have - want) if not taxonomy.is_exclusive(split_key(a)[0])]
    return out


def first_words(truth: Truth, taxonomy: Taxonomy, target: str, rng: random.Random) -> str:
    """Turn 0: the target's category and one of its visible attributes ("show me striped dresses")."""
    visible = {g.name for g in taxonomy.groups.values() if g.visible and g.exclusive}
    attrs = sorted(a for a in truth.attrs[target] if split_key(a)[0] in visible)
    cat = value_words(attribute_key(CATEGORY, truth.category[target]), taxonomy, rng)
    attr = value_words(rng.choice(attrs), taxonomy, rng) if attrs else ""
    return rng.choice(("show me {} {}", "{} {}", "I'm looking for a {} {}", "any {} {}?")).format(attr, cat).strip()


def run_sessions(
    search: Search,
    modify: Modify,
    truth: Truth,
    taxonomy: Taxonomy,
    *,
    n: int = 200,
    turns: int = 5,
    shown: int = 4,
    k: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, object]:
    """``{"hits@4": [...], "hits@10": [...], "mean_turns": float, "n": int}`` (percent per turn 1..turns)."""
    rng = random.Random(seed)
    targets = rng.sample(sorted(truth.first_photo), min(n, len(truth.first_photo)))
    found_shown = [0] * turns
    found_k = [0] * turns
    first_turns: list[int] = []
    for pid in tqdm(targets, desc="sessions", disable=not progress):
        target = truth.first_photo[pid]
        results = search(first_words(truth, taxonomy, target, rng), k)
        hit_s = hit_k = None
        if pid in {truth.product[i] for i in results[:shown]}:
            hit_s = hit_k = 0
        elif pid in {truth.product[i] for i in results[:k]}:
            hit_k = 0
        for turn in range(1, turns + 1):
            if hit_s is not None:
                break
            page = results[:shown]
            if not page:
                break
            pick = max(page, key=lambda i: closeness(truth, i, target))
            diffs = differences(truth, taxonomy, pick, target)
            if diffs:
                asked = diffs[:1] + rng.sample(diffs[1:], min(len(diffs) - 1, rng.randint(0, 1)))
                text = phrase_changes(asked, taxonomy, rng)
            else:  # the same attributes: ask again for its look
                text = rng.choice(TEMPLATES).format("in " + value_words(sorted(truth.attrs[target])[0], taxonomy, rng))
            results = modify(pick, text, k)
            ids = {truth.product[i] for i in results[:shown]}
            if pid in ids:
                hit_s = turn
            if hit_k is None and pid in {truth.product[i] for i in results[:k]}:
                hit_k = turn
        for t in range(turns):
            found_shown[t] += hit_s is not None and hit_s <= t + 1
            found_k[t] += hit_k is not None and hit_k <= t + 1
        first_turns.append(turns + 1 if hit_s is None else hit_s)
    m = max(len(targets), 1)
    return {
        f"hits@{shown}": [round(100 * x / m, 2) for x in found_shown],
        f"hits@{k}": [round(100 * x / m, 2) for x in found_k],
        "mean_turns": round(sum(first_turns) / m, 3),
        "n": len(targets),
    }


def engine_search(engine, user: str = "session-eval") -> Search:
    """The chat's first turn: ``engine.search(words, k, user)`` -> image ids."""

    def call(text: str, k: int) -> list[str]:
        return [r.image_id for r in engine.search(text, k=k, user=user)]

    return call


def summary(report: dict[str, object], keys: Sequence[str] = ("hits@4", "hits@10")) -> str:
    """One line: hits after the last turn and mean turns."""
    parts = [f"{key} {report[key][-1]:.1f}" for key in keys if key in report]  # type: ignore[index]
    return ", ".join(parts) + f", mean turns {report['mean_turns']}, n={report['n']}"
