"""What the shopper sees after asking for changes: shares of the shown products that honour the request.

The code path is the chat's (``actions/respond.py``): a picked product and the shopper's raw words go to
``engine.modify(candidate, text, k, exclude, user)``; the first ``shown`` results (the chat's page) are
scored against the catalog's ground truth (``meta/attributes.jsonl``).

Requests (:func:`make_requests`): on a test product, 1, 2 or 3 changes in distinct attribute groups that
apply to its category: an exclusive group's value other than the candidate's, a detail the candidate
lacks, or a negation of a value it has ("without the hood", "not striped"); only requests that at least
``min_support`` other catalog products satisfy. Scores per arity (percent):

* ``all``: shown products of the candidate's category carrying every asked value and none dropped;
* ``category``: shown products keeping the candidate's category;
* ``kept``: per shown product, the share of the candidate's unmentioned visible attributes it keeps.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm import tqdm

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy, attribute_key, split_key
from retrieval.evaluation.wording import phrase_changes

log = logging.getLogger(__name__)

ARITIES = (1, 2, 3)
Change = tuple[str, bool]  # (attribute key, wanted)
Modify = Callable[[str, str, int], list[str]]  # (candidate image id, words, k) -> shown image ids


@dataclass(frozen=True)
class Truth:
    """Ground truth per image: product, category and attribute keys (category excluded)."""

    product: dict[str, str]
    category: dict[str, str]
    attrs: dict[str, frozenset[str]]
    first_photo: dict[str, str]  # product -> its first image id

    @classmethod
    def from_catalog(cls, catalog, split: str | None = "test") -> Truth:
        """Read a catalog's records (``split``: which products count as candidates/targets; None: all)."""
        product: dict[str, str] = {}
        category: dict[str, str] = {}
        attrs: dict[str, frozenset[str]] = {}
        first: dict[str, str] = {}
        for im in catalog.images:
            product[im.image_id] = im.product_id
            category[im.image_id] = im.category
            attrs[im.image_id] = frozenset(a for a in im.attributes if split_key(a)[0] != CATEGORY)
            if split is None or im.split == split:
                first.setdefault(im.product_id, im.image_id)
        return cls(product, category, attrs, first)

    def satisfies(self, image: str, category: str, changes: Sequence[Change]) -> bool:
        """True when ``image`` is a ``category`` carrying every wanted value and no dropped one."""
        if self.category[image] != category:
            return False
        have = self.attrs[image]
        return all((k in have) == wanted for k, wanted in changes if split_key(k)[0] != CATEGORY)


@dataclass(frozen=True)
class Request:
    """One generated modification request."""

    candidate: str
    changes: tuple[Change, ...]
    text: str
    support: int  # catalog products (candidate's excluded) that satisfy it


def _change_for(group, cand_attrs: frozenset[str], rng: random.Random) -> Change:
    """A random change of ``group`` for a candidate with ``cand_attrs``."""
    have = [a for a in cand_attrs if split_key(a)[0] == group.name]
    values = [attribute_key(group.name, v) for v in group.values]
    if group.exclusive:
        if have and rng.random() < 0.15:  # "not striped"
            return (have[0], False)
        return (rng.choice([v for v in values if v not in have]), True)
    missing = [v for v in values if v not in have]
    if have and (not missing or rng.random() < 0.4):  # "without the hood"
        return (rng.choice(have), False)
    return (rng.choice(missing), True)


def make_requests(
    truth: Truth, taxonomy: Taxonomy, arity: int, n: int, *, seed: int = 0, min_support: int = 4
) -> list[Request]:
    """``n`` requests with ``arity`` changes each (fewer if the catalog cannot support them)."""
    rng = random.Random(seed * 1000 + arity)
    products = sorted(truth.first_photo)
    by_cat: dict[str, list[str]] = defaultdict(list)
    for image in truth.product:
        by_cat[truth.category[image]].append(image)
    out: list[Request] = []
    for _ in range(n * 40):
        if len(out) >= n:
            break
        cand = truth.first_photo[rng.choice(products)]
        cat = truth.category[cand]
        groups = taxonomy.groups_for(cat)
        if len(groups) < arity:
            continue
        changes = tuple(_change_for(g, truth.attrs[cand], rng) for g in rng.sample(groups, arity))
        pids = {truth.product[i] for i in by_cat[cat] if truth.satisfies(i, cat, changes)}
        pids.discard(truth.product[cand])
        if len(pids) < min_support:
            continue
        out.append(Request(cand, changes, phrase_changes(list(changes), taxonomy, rng), len(pids)))
    if len(out) < n:
        log.warning("only %d of %d requests with %d changes are supported by the catalog", len(out), n, arity)
    return out


def visible_groups(taxonomy: Taxonomy) -> set[str]:
    """Groups a photo shows."""
    return {g.name for g in taxonomy.groups.values() if g.visible}


def score(truth: Truth, taxonomy: Taxonomy, req: Request, shown: Sequence[str]) -> tuple[float, float, float]:
    """(all, category, kept) shares in [0, 1] of ``shown`` for ``req`` (0 when nothing is shown)."""
    if not shown:
        return 0.0, 0.0, 0.0
    cat = truth.category[req.candidate]
    touched = {split_key(k)[0] for k, _ in req.changes}
    keep = [a for a in truth.attrs[req.candidate] if split_key(a)[0] in visible_groups(taxonomy) - touched]
    n = len(shown)
    s_all = sum(truth.satisfies(i, cat, req.changes) for i in shown) / n
    s_cat = sum(truth.category[i] == cat for i in shown) / n
    s_kept = sum(sum(a in truth.attrs[i] for a in keep) / len(keep) if keep else 1.0 for i in shown) / n
    return s_all, s_cat, s_kept


def measure(
    modify: Modify,
    truth: Truth,
    taxonomy: Taxonomy,
    *,
    per_arity: int = 300,
    shown: int = 4,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, dict[str, float | int]]:
    """``{"1": {"all", "category", "kept", "n"}, "2": ..., "3": ...}`` (percent) through ``modify``."""
    report: dict[str, dict[str, float | int]] = {}
    for arity in ARITIES:
        reqs = make_requests(truth, taxonomy, arity, per_arity, seed=seed)
        sums = [0.0, 0.0, 0.0]
        for req in tqdm(reqs, desc=f"satisfaction, {arity} change(s)", disable=not progress):
            for j, v in enumerate(score(truth, taxonomy, req, modify(req.candidate, req.text, shown)[:shown])):
                sums[j] += v
        n = max(len(reqs), 1)
        report[str(arity)] = {
            "all": round(100 * sums[0] / n, 2),
            "category": round(100 * sums[1] / n, 2),
            "kept": round(100 * sums[2] / n, 2),
            "n": len(reqs),
        }
    return report


def engine_modify(engine, user: str = "satisfaction-eval") -> Modify:
    """The chat's call: ``engine.modify(candidate, text, k, exclude=(), user)`` -> shown image ids."""

    def call(candidate: str, text: str, k: int) -> list[str]:
        return [r.image_id for r in engine.modify(candidate, text, k=k, exclude=(), user=user)]

    return call
