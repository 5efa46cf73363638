"""Products of the demo catalog: families of near-variants, captions, and the split by family.

A family is a base design plus variants that differ from it in one or two attribute values (and
the odd near-duplicate that differs in none), so modification queries have true targets that keep
everything else. Captions list every attribute value as one token in a fixed group order, then the
category: "black solid linen knee-length long-sleeve v-neck a-line pockets dress".
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from retrieval.catalog.demo.hard import HardProfile, omit_words
from retrieval.catalog.demo.render import drawable
from retrieval.catalog.demo.textures import stable_int
from retrieval.catalog.records import TEST, TRAIN
from retrieval.catalog.taxonomy import Group, Taxonomy, attribute_key

CAPTION_ORDER = ("color", "pattern", "material", "length", "sleeve", "neckline", "fit")
TEST_FRACTION = 0.2
FAMILY_SIZES = {1: 0.08, 2: 0.17, 3: 0.25, 4: 0.22, 5: 0.16, 6: 0.12}
VARIANT_KINDS = {"duplicate": 0.06, "one": 0.6, "two": 0.34}
IMAGES_PER_PRODUCT = {1: 0.3, 2: 0.4, 3: 0.3}
# Probability of each independent value per category (known names only; other values use DETAIL_BASE).
DETAIL_BASE = 0.12
DETAIL_PRIORS: dict[str, dict[str, float]] = {
    "hoodie": {"hood": 0.85, "pockets": 0.5, "zip": 0.3},
    "shirt": {"buttons": 0.65, "pockets": 0.35},
    "cardigan": {"buttons": 0.6},
    "coat": {"buttons": 0.5, "belt": 0.3, "pockets": 0.35},
    "jacket": {"zip": 0.45, "pockets": 0.4},
    "blazer": {"buttons": 0.6, "pockets": 0.4},
    "jeans": {"pockets": 0.55, "buttons": 0.3},
    "pants": {"pockets": 0.35, "belt": 0.2},
}
# Weight of a group when a variant changes one attribute.
CHANGE_WEIGHTS = {"visible": 1.0, "independent": 0.55, "invisible": 0.3}
MAX_DETAILS = 3


@dataclass(frozen=True)
class Product:
    """One demo product (1-3 photos).

    Attributes:
        product_id: 8-digit id, also the image folder name.
        family: index of the product's family (variants of one design).
        category: leaf category.
        values: ``(group, value)`` pairs in caption order (several for independent groups).
        caption: the Fashion200K-style caption.
        split: train or test (whole families go to one split).
        n_images: photos rendered.
        design_seed: shared by a family (same cut, same print layout).
        product_seed: this product's photos and colour shade.
        description: the label caption when it differs from ``caption`` (the hard profile omits words).
    """

    product_id: str
    family: int
    category: str
    values: tuple[tuple[str, str], ...]
    caption: str
    split: str
    n_images: int
    design_seed: int
    product_seed: int
    description: str = ""

    @property
    def attributes(self) -> list[str]:
        """Ground-truth ``group:value`` keys in caption order."""
        return [attribute_key(g, v) for g, v in self.values]

    def value_of(self, group: str) -> tuple[str, ...]:
        """The product's values of ``group`` (one for exclusive groups)."""
        return tuple(v for g, v in self.values if g == group)


def caption_groups(taxonomy: Taxonomy) -> list[Group]:
    """Groups in caption order: known exclusive groups first, other exclusive ones, then independent ones."""
    groups = list(taxonomy.groups.values())
    known = [taxonomy.groups[n] for n in CAPTION_ORDER if n in taxonomy.groups and taxonomy.groups[n].exclusive]
    rest = [g for g in groups if g.exclusive and g not in known]
    return known + rest + [g for g in groups if not g.exclusive]


def make_caption(
    taxonomy: Taxonomy, category: str, values: dict[str, tuple[str, ...]]
) -> tuple[tuple[tuple[str, str], ...], str]:
    """Order ``values`` (group -> values) for the caption; return the ordered pairs and the caption."""
    pairs: list[tuple[str, str]] = []
    for group in caption_groups(taxonomy):
        chosen = values.get(group.name, ())
        pairs += [(group.name, v) for v in group.values if v in chosen]
    return tuple(pairs), " ".join([v for _, v in pairs] + [category])


class _Sampler:
    """Draws designs and variants for one taxonomy."""

    def __init__(self, taxonomy: Taxonomy, rng: random.Random, profile: HardProfile | None = None) -> None:
        self.tx = taxonomy
        self.rng = rng
        self.profile = profile
        self.weights = dict(CHANGE_WEIGHTS, invisible=profile.invisible_weight) if profile else CHANGE_WEIGHTS
        self.groups = {
            c: [g for g in caption_groups(taxonomy) if g in taxonomy.groups_for(c)] for c in taxonomy.categories
        }

    def options(self, category: str, group: Group) -> list[str]:
        sil = self.tx.categories[category].silhouette
        return [v for v in group.values if not group.visible or drawable(sil, group.name, v)]

    def design(self, category: str) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        priors = DETAIL_PRIORS.get(category, {})
        for group in self.groups[category]:
            opts = self.options(category, group)
            if not opts:
                continue
            if group.exclusive:
                out[group.name] = (self.rng.choice(opts),)
            else:
                chosen = [v for v in opts if self.rng.random() < priors.get(v, DETAIL_BASE)]
                out[group.name] = tuple(chosen[:MAX_DETAILS])
        color = self.tx.groups.get("color")
        multicolor = color is not None and "multicolor" in color.values and "color" in out
        if self.profile and multicolor and self.rng.random() < self.profile.multicolor:
            out["color"] = ("multicolor",)
        return out

    def change(self, category: str, values: dict[str, tuple[str, ...]], avoid: set[str]) -> dict[str, tuple[str, ...]]:
        """``values`` with one attribute changed (a group not in ``avoid``)."""
        cands, weights = [], []
        for group in self.groups[category]:
            if group.name in avoid or len(self.options(category, group)) < 2 - (not group.exclusive):
                continue
            kind = "independent" if not group.exclusive else ("visible" if group.visible else "invisible")
            cands.append(group)
            weights.append(self.weights[kind])
        if not cands:
            return dict(values)
        group = self.rng.choices(cands, weights=weights)[0]
        opts = self.options(category, group)
        now = values.get(group.name, ())
        out = dict(values)
        if group.exclusive:
            out[group.name] = (self.rng.choice([v for v in opts if v not in now]),)
        else:
            addable = [v for v in opts if v not in now]
            if now and (not addable or len(now) >= MAX_DETAILS or self.rng.random() < 0.4):
                keep = set(now) - {self.rng.choice(now)}
            else:
                keep = {*now, self.rng.choice(addable)}
            out[group.name] = tuple(v for v in group.values if v in keep)
        return out


_K = TypeVar("_K")


def _pick(rng: random.Random, table: Mapping[_K, float]) -> _K:
    return rng.choices(list(table), weights=list(table.values()))[0]


def sample_products(taxonomy: Taxonomy, size: int, seed: int, profile: HardProfile | None = None) -> list[Product]:
    """Sample ``size`` products in families, deterministically for ``seed``; whole families are train or test.

    ``profile`` (:mod:`retrieval.catalog.demo.hard`) changes the variant mix, multicolour share and descriptions.
    """
    rng = random.Random(f"tailor-demo:{seed}")
    sampler = _Sampler(taxonomy, rng, profile)
    variant_kinds = profile.variant_kinds if profile else VARIANT_KINDS
    categories = sorted(taxonomy.categories)
    ids = [str(i) for i in rng.sample(range(10_000_000, 100_000_000), size)]
    families: list[list[tuple[str, dict[str, tuple[str, ...]]]]] = []
    count = 0
    while count < size:
        category = rng.choice(categories)
        n = min(int(_pick(rng, FAMILY_SIZES)), size - count)
        base = sampler.design(category)
        members = [base]
        seen = {repr(sorted(base.items()))}
        for _ in range(n - 1):
            kind = _pick(rng, variant_kinds)
            variant = base
            for _attempt in range(8):
                if kind == "duplicate":
                    break
                first = sampler.change(category, base, set())
                changed = {g for g in first if first[g] != base.get(g)}
                variant = sampler.change(category, first, changed) if kind == "two" else first
                if repr(sorted(variant.items())) not in seen:
                    break
            seen.add(repr(sorted(variant.items())))
            members.append(variant)
        families.append([(category, m) for m in members])
        count += len(members)
    order = list(range(len(families)))
    rng.shuffle(order)
    test, n_test = set(), 0
    for fam in order:
        if n_test >= TEST_FRACTION * size:
            break
        if n_test + len(families[fam]) >= size > 1:  # keep some training data in tiny catalogs
            continue
        test.add(fam)
        n_test += len(families[fam])
    products: list[Product] = []
    for fam, family in enumerate(families):
        design_seed = stable_int(seed, "family", fam)
        for category, values in family:
            pid = ids[len(products)]
            pairs, caption = make_caption(taxonomy, category, values)
            products.append(
                Product(
                    product_id=pid,
                    family=fam,
                    category=category,
                    values=pairs,
                    caption=caption,
                    split=TEST if fam in test else TRAIN,
                    n_images=int(_pick(rng, IMAGES_PER_PRODUCT)),
                    design_seed=design_seed,
                    product_seed=stable_int(seed, "product", pid),
                    description=omit_words(caption, random.Random(f"omit:{pid}"), profile.omit) if profile else "",
                )
            )
    return products


def image_paths(taxonomy: Taxonomy, product: Product) -> list[str]:
    """Fashion200K-style relative paths: ``women/<folder>/<subcategory>/<id>/<id>_<k>.jpeg``."""
    folder = taxonomy.categories[product.category].folder
    sub = product.category.replace("-", "_")
    return [f"women/{folder}/{sub}/{product.product_id}/{product.product_id}_{k}.jpeg" for k in range(product.n_images)]


def detection_scores(product: Product) -> list[str]:
    """Fashion200K's per-image detection score column (deterministic per product)."""
    rng = random.Random(f"score:{product.product_seed}")
    return [f"{rng.uniform(0.55, 0.995):.3f}" for _ in range(product.n_images)]
