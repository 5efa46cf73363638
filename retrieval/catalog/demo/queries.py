"""Modification queries of the demo catalog, with template and natural-language texts.

Queries pair two products of one family. ``single``: one attribute differs, so the captions differ
in exactly one word (Fashion200K's test queries); ``multi``: two attributes change at once (the
poster's "several concepts at once"). Each query has the template text ("replace red with black",
"add pockets") and a natural-language text built from taxonomy synonyms and relative phrasing
("same but in dark blue", "make it sleeveless and longer").
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import asdict, dataclass

from retrieval.catalog.demo.hard import HardProfile, human_text
from retrieval.catalog.demo.products import Product
from retrieval.catalog.demo.render import feature_group, length_feature, sleeve_feature
from retrieval.catalog.demo.textures import RGB, color_rgb
from retrieval.catalog.taxonomy import Taxonomy

log = logging.getLogger(__name__)

SINGLE, MULTI = "single", "multi"
MULTI_FRACTION = 0.3


@dataclass(frozen=True)
class Change:
    """One attribute change; ``old`` is "" when a value is added, ``new`` is "" when it is removed."""

    group: str
    old: str
    new: str

    def to_json(self) -> dict[str, str]:
        """The ``{"group", "from", "to"}`` form of ``meta/queries.jsonl``."""
        return {"group": self.group, "from": self.old, "to": self.new}

    @property
    def template(self) -> str:
        """Fashion200K's words: "replace red with black" (or "add pockets" / "remove belt")."""
        if not self.old:
            return f"add {self.new}"
        if not self.new:
            return f"remove {self.old}"
        return f"replace {self.old} with {self.new}"


@dataclass(frozen=True)
class DemoQuery:
    """A modification query between two images of one family."""

    source: str
    target: str
    template: str
    text: str
    kind: str
    split: str
    category: str
    changes: tuple[Change, ...]

    def to_json(self) -> dict:
        """One line of ``meta/queries.jsonl``."""
        out = asdict(self)
        out["changes"] = [c.to_json() for c in self.changes]
        return out


def diff(a: Product, b: Product, taxonomy: Taxonomy) -> list[Change]:
    """The changes that turn product ``a`` into product ``b`` (group order of the caption)."""
    out: list[Change] = []
    for group in dict.fromkeys(g for g, _ in (*a.values, *b.values)):
        va, vb = a.value_of(group), b.value_of(group)
        if va == vb:
            continue
        if taxonomy.groups[group].exclusive and va and vb:
            out.append(Change(group, va[0], vb[0]))
        else:
            out += [Change(group, v, "") for v in va if v not in vb] + [Change(group, "", v) for v in vb if v not in va]
    return out


def one_word_apart(a: str, b: str, change: Change) -> bool:
    """True when captions ``a`` and ``b`` differ in exactly the one word ``change`` names."""
    wa, wb = a.split(), b.split()
    gone = [w for w in wa if w not in wb]
    new = [w for w in wb if w not in wa]
    return (
        gone == ([change.old] if change.old else [])
        and new == ([change.new] if change.new else [])
        and (abs(len(wa) - len(wb)) == (0 if change.old and change.new else 1))
    )


# -- natural language ----------------------------------------------------------------------------
def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _surface(taxonomy: Taxonomy, group: str, value: str, rng: random.Random) -> str:
    syns = [s for s in taxonomy.groups[group].values.get(value, ()) if s]
    plain = value.replace("-", " ")
    return rng.choice(syns) if syns and rng.random() < 0.6 else plain


def _forms(taxonomy: Taxonomy, change: Change, rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    """Adjective forms ("black"), prepositional forms ("in black") and verb forms ("add a belt") of a change."""
    feat = feature_group(change.group) if taxonomy.groups[change.group].visible else change.group
    group = taxonomy.groups[change.group]
    if not group.exclusive or not change.old or not change.new:
        value = change.new or change.old
        plain = value.replace("-", " ")
        one = plain if plain.endswith("s") else f"{_article(plain)} {plain}"
        if not change.old:
            s = _surface(taxonomy, change.group, value, rng)
            adj = [s] if s.endswith("ed") else []
            pp = [s] if s.startswith("with") else ([] if adj else [f"with {s}" if s.endswith("s") else f"with {one}"])
            return adj, pp or [f"with {one}"], [f"add {one}"]
        return [], [f"without the {plain}", f"with no {plain}"], [f"remove the {plain}", f"take off the {plain}"]
    s = _surface(taxonomy, change.group, change.new, rng)
    values = list(group.values)
    if feat == "color":
        return [s], [f"in {s}"], []
    if feat == "pattern":
        noun = (s.endswith("s") and not s.endswith("ss")) or s.endswith("print")
        return ([], [f"with {s}"], []) if noun else ([s], [], [])
    if feat == "sleeve":
        old_f, new_f = sleeve_feature(change.old, values), sleeve_feature(change.new, values)
        if old_f >= 0 and new_f >= 0 and rng.random() < 0.35:
            return [], [f"with {'longer' if new_f > old_f else 'shorter'} sleeves"], []
        if s.startswith("with"):
            return [], [s], []
        return ([], [f"with {s}"], []) if s.endswith("sleeves") or s.startswith("no ") else ([s], [], [])
    if feat == "length":
        old_f, new_f = length_feature(change.old, values), length_feature(change.new, values)
        if old_f != new_f and rng.random() < 0.4:
            word = "longer" if new_f > old_f else "shorter"
            choices = (word, f"a bit {word}") + ((f"much {word}",) if abs(new_f - old_f) > 0.5 else ())
            return [rng.choice(choices)], [], []
        return [s], [], []
    if feat == "neckline":
        if s.startswith("with"):
            return [], [s], []
        noun = ("neck" in s or "collar" in s) and not s.endswith("ed")
        return ([], [f"with {_article(s)} {s}"], []) if noun else ([s], [], [])
    if change.group == "fit":
        return [s], [f"in {_article(s)} {s}" if "fit" in s else f"in {_article(s)} {s} fit"], []
    return [s], [f"in {s}"] + ([f"made of {s}"] if change.group == "material" else []), []


def _cap(text: str, rng: random.Random) -> str:
    return text[:1].upper() + text[1:] if rng.random() < 0.3 else text


def natural_text(taxonomy: Taxonomy, changes: tuple[Change, ...], rng: random.Random) -> str:
    """A shopper's words for ``changes``: "same but in dark blue", "make it sleeveless and longer"."""
    forms = [_forms(taxonomy, c, rng) for c in changes]
    if len(changes) == 1:
        adj, pp, verb = forms[0]
        c = changes[0]
        opts = [f"make it {a}" for a in adj] + [f"same but {a}" for a in adj] + [f"I want it {a}" for a in adj]
        opts += [f"same but {p}" for p in pp] + [f"I want it {p}" for p in pp] + [f"can I get this {p}" for p in pp]
        opts += [f"do you have it {p}?" for p in pp] + [f"like this but {p}" for p in pp + adj] + verb
        relative = any(w in adj[0] for w in ("longer", "shorter")) if adj else True
        if not relative and c.old and c.new and rng.random() < 0.3:
            old = _surface(taxonomy, c.group, c.old, rng)
            return _cap(f"{adj[0]} instead of {old}", rng)
        return _cap(rng.choice(opts), rng)
    pieces = [rng.choice(a + p) for a, p, _ in forms]
    opts = [
        f"same but {pieces[0]} and {pieces[1]}",
        f"{pieces[0]} and {pieces[1]}",
        f"like this but {pieces[0]}, {pieces[1]}",
        f"can I get this {pieces[0]} and {pieces[1]}",
    ]
    if all(f[0] for f in forms):
        opts.append(f"make it {rng.choice(forms[0][0])} and {rng.choice(forms[1][0])}")
    if forms[1][1]:
        opts.append(f"I want it {pieces[0]} {rng.choice(forms[1][1])}")
    if forms[0][2] and (forms[1][0] or forms[1][2]):
        second = f"make it {rng.choice(forms[1][0])}" if forms[1][0] else rng.choice(forms[1][2])
        opts.append(f"{rng.choice(forms[0][2])} and {second}")
    return _cap(rng.choice(opts), rng)


def query_text(taxonomy: Taxonomy, changes: tuple[Change, ...], rng: random.Random, profile: HardProfile | None) -> str:
    """The query's words: :func:`natural_text`, or the hard profile's human-like caption."""
    if profile is None:
        return natural_text(taxonomy, changes, rng)

    def color_of(group: str, value: str) -> RGB | None:
        spec = taxonomy.groups[group]
        if not value or not spec.visible or feature_group(group) != "color":
            return None
        return color_rgb(value, spec.values.get(value, ()))

    return human_text(
        list(changes),
        lambda c: _forms(taxonomy, c, rng),
        lambda said: natural_text(taxonomy, said, rng),
        color_of,
        rng,
        profile,
    )


# -- building --------------------------------------------------------------------------------------
def build_queries(
    taxonomy: Taxonomy,
    products: list[Product],
    paths: dict[str, list[str]],
    seed: int,
    profile: HardProfile | None = None,
) -> list[DemoQuery]:
    """All single / multi queries between products of one family, balanced to ~70 / 30 per split."""
    rng = random.Random(f"tailor-demo-queries:{seed}")
    families: dict[int, list[Product]] = defaultdict(list)
    for p in products:
        families[p.family].append(p)
    found: dict[tuple[str, str], list[DemoQuery]] = defaultdict(list)
    skipped = 0
    for members in families.values():
        for a in members:
            for b in members:
                if a is b:
                    continue
                changes = tuple(diff(a, b, taxonomy))
                if len(changes) not in (1, 2):
                    continue
                if len(changes) == 1 and not one_word_apart(a.caption, b.caption, changes[0]):
                    skipped += 1
                    continue
                kind = SINGLE if len(changes) == 1 else MULTI
                found[(a.split, kind)].append(
                    DemoQuery(
                        source=rng.choice(paths[a.product_id]),
                        target=rng.choice(paths[b.product_id]),
                        template=" and ".join(c.template for c in changes),
                        text=query_text(taxonomy, changes, rng, profile),
                        kind=kind,
                        split=a.split,
                        category=a.category,
                        changes=changes,
                    )
                )
    if skipped:
        log.warning("%d single queries skipped: a value word appears in two groups of the taxonomy", skipped)
    out: list[DemoQuery] = []
    for split in sorted({s for s, _ in found}):
        singles, multis = found[(split, SINGLE)], found[(split, MULTI)]
        max_multi = int(len(singles) * MULTI_FRACTION / (1 - MULTI_FRACTION))
        if len(multis) > max_multi:
            multis = [multis[i] for i in sorted(rng.sample(range(len(multis)), max_multi))]
        else:
            keep = int(len(multis) * (1 - MULTI_FRACTION) / MULTI_FRACTION) if multis else len(singles)
            if keep < len(singles):
                singles = [singles[i] for i in sorted(rng.sample(range(len(singles)), keep))]
        out += singles + multis
    return out
