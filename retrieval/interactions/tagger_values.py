"""Attribute values for the tagger's training sentences: the taxonomy's phrases and words outside it.

:func:`vocabulary` lists each group's phrases from the taxonomy (values and synonyms). :data:`EXTRA`
adds realistic words that are *not* in the taxonomy (``tweed``, ``mauve``, ``halter neckline``), so
the tagger learns from context and finds spans outside the vocabulary (the paper adds such a span
as a new node); :func:`held_out` keeps a quarter of them for the test set.
"""

from __future__ import annotations

import re
import zlib

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy

# -- vocabulary outside the taxonomy (realistic words a shopper uses) -----------------------------
EXTRA: dict[str, tuple[str, ...]] = {
    "color": (
        "mauve",
        "peach",
        "aqua",
        "lime",
        "ochre",
        "periwinkle",
        "salmon",
        "wine",
        "cerulean",
        "chartreuse",
        "orchid",
        "indigo",
        "fuschia",
        "copper",
        "bronze",
        "champagne",
        "ruby",
        "sapphire",
        "jade",
        "mocha",
        "amber",
        "seafoam",
        "pastel",
        "neon",
        "multi-colored",
        "golden",
        "peacock",
        "mulberry",
        "denim blue",
        "hot pink",
        "baby blue",
        "forest green",
        "wine red",
        "bright red",
        "neon green",
        "off white",
    ),
    "pattern": (
        "geometric",
        "paisley",
        "camo",
        "camouflage",
        "tie-dye",
        "tie dye",
        "chevron",
        "houndstooth",
        "abstract",
        "tropical",
        "ombre",
        "argyle",
        "herringbone",
        "cheetah",
        "tiger",
        "snakeskin",
        "tribal",
        "aztec",
        "animal print",
        "color block",
        "colorblock",
        "two-tone",
        "patterned",
        "plain colored",
        "patchwork",
        "marbled",
        "hawaiian",
        "star print",
        "heart print",
    ),
    "sleeve": (
        "cap sleeves",
        "puff sleeves",
        "bell sleeves",
        "spaghetti straps",
        "thin straps",
        "straps",
        "flutter sleeves",
        "half sleeves",
        "long sleeve",
        "short sleeve",
        "3/4 sleeve",
        "one sleeve",
        "raglan sleeves",
        "bishop sleeves",
        "capped sleeves",
        "cold shoulder",
    ),
    "length": (
        "ankle-length",
        "high-low",
        "cropped",
        "above knee",
        "below the knee",
        "mid-calf",
        "tea-length",
        "knee-length",
        "floor-length",
        "mini-length",
        "full-length",
        "asymmetrical",
    ),
    "neckline": (
        "halter",
        "halter neckline",
        "sweetheart neckline",
        "boat neck",
        "square neck",
        "cowl neck",
        "scoop neckline",
        "high neckline",
        "one shoulder",
        "one-shoulder",
        "keyhole neckline",
        "u neck",
        "mandarin collar",
        "v neckline",
        "round neckline",
        "deep v",
        "collared neck",
        "sweetheart",
    ),
    "material": (
        "tweed",
        "velvet",
        "chiffon",
        "jersey",
        "corduroy",
        "suede",
        "mesh",
        "tulle",
        "sequins",
        "sequined",
        "flannel",
        "knit",
        "rayon",
        "spandex",
        "nylon",
        "fleece",
        "organza",
        "crepe",
        "viscose",
        "canvas",
        "twill",
        "velour",
        "lycra",
        "bamboo",
        "hemp",
        "seersucker",
        "georgette",
        "sateen",
        "terry cloth",
        "knitted",
        "sequin",
    ),
    "fit": (
        "bodycon",
        "form fitting",
        "form-fitting",
        "boxy",
        "flowing",
        "tailored",
        "empire waist",
        "wrap",
        "stretchy",
        "fit-and-flare",
        "sheath",
        "peplum",
        "tight fitting",
        "loose fitting",
        "body hugging",
        "slim-fit",
    ),
    "details": (
        "bow",
        "bows",
        "fringe",
        "tassels",
        "lace-up",
        "cutouts",
        "cutout",
        "pleats",
        "pleated",
        "embroidery",
        "embroidered",
        "ribbon",
        "drawstring",
        "studs",
        "rhinestones",
        "applique",
        "slit",
        "side slit",
        "tie",
        "patches",
        "zip pocket",
        "button placket",
        "cuffs",
        "sash",
    ),
    CATEGORY: (
        "top",
        "tunic",
        "polo",
        "crop top",
        "bodysuit",
        "kimono",
        "poncho",
        "tube top",
        "sundress",
        "henley",
        "tee shirt",
        "button down",
        "leotard",
        "kaftan",
        "tops",
        "polo shirt",
        "shirt dress",
    ),
}
MODIFIERS = ("light", "dark", "pale", "bright", "deep", "hot", "neon", "pastel", "dusty", "baby", "soft")
NOUN_AFTER = {"sleeve": ("sleeves",), "neckline": ("neckline", "neck"), "length": ("length",), "fit": ("fit",)}


def vocabulary(taxonomy: Taxonomy) -> dict[str, list[str]]:
    """Surface phrases of every group (and ``category``) in the taxonomy."""
    vocab: dict[str, list[str]] = {}
    for g in taxonomy.groups.values():
        words = []
        for value, syns in g.values.items():
            words += [value, value.replace("-", " "), *syns]
        vocab[g.name] = sorted({_strip_with(w) for w in words})
    cats = []
    for c in taxonomy.categories.values():
        cats += [c.name, c.name.replace("-", " "), *c.synonyms]
    vocab[CATEGORY] = sorted(set(cats))
    return vocab


def _strip_with(phrase: str) -> str:
    """``with a collar`` -> ``collar``: the guidelines keep "with" out of spans."""
    return re.sub(r"^with (a |an )?", "", phrase)


def held_out(word: str) -> bool:
    """True for the quarter of outside-vocabulary words kept for the test set (stable across runs)."""
    return zlib.crc32(word.encode()) % 4 == 0
