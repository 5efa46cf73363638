"""Training sentences for the metadata tagger, generated from the taxonomy vocabulary.

Phrasing follows how people write in the real FashionIQ *train* captions ("is darker and has
longer sleeves", "is black with no sleeves", "is a long dress with a belt") and how shoppers and
staff state metadata ("that shirt is linen", "it has pockets", "make it navy"). Each sentence is
tokenised with :func:`tokenize` and BIO-tagged by group: one label per taxonomy group, upper-cased
(``COLOR``, ``MATERIAL``...), plus ``CATEGORY``.

Slots are filled with taxonomy values and synonyms, with realistic words that are *not* in the
taxonomy (``tweed``, ``mauve``, ``halter neckline``) and with made-up words, so the tagger learns
from context and finds spans outside the vocabulary (the paper adds such a span as a new node).

Tagging guidelines (the hand-labelled fixture follows them too):
- Tag words that name a value of the garment: colour (with its shade: ``light blue``), pattern,
  sleeve (with the word sleeve(s)/straps: ``long sleeves``, ``no sleeves``, ``spaghetti straps``),
  length of the garment (``long``, ``maxi``, ``knee length``), neckline (``v-neck``, ``collar``,
  ``halter neckline``), material, fit (``fitted``, ``flowy``), details (``pockets``, ``bow``) and
  garment nouns (``dress``, ``t-shirt``, ``top``).
- Comparatives and relative changes are not values: ``darker``, ``longer sleeves``, ``tighter``,
  ``higher neckline`` are O. After ``more`` a value word is tagged (``more fitted``); after ``less`` it
  is O (``less patterned`` is a reduction, not a value).
- Negated values are O (``not striped``, ``no collar``) except ``no sleeves`` / ``without sleeves``,
  which name a value (sleeveless).
- Generic nouns after a value stay out of the span: ``floral`` in ``floral pattern``, ``blue``
  in ``blue colored``; multi-colour phrases are one span per colour (``black`` and ``white``).
- Style words (casual, sexy, revealing, shiny, sheer) are O.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass

from retrieval.catalog.taxonomy import CATEGORY, Taxonomy

TOKEN_RE = re.compile(r"\w+(?:[-'\u2019/]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class TaggedSentence:
    """Tokens with one BIO tag each (``B-COLOR``, ``I-COLOR``, ``O``)."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def text(self) -> str:
        """The tokens joined by spaces."""
        return " ".join(self.tokens)


def tokenize(text: str) -> list[tuple[int, int, str]]:
    """Split ``text`` into ``(start, end, word)``: words keep inner hyphens, slashes, apostrophes."""
    return [(m.start(), m.end(), m.group(0)) for m in TOKEN_RE.finditer(text)]


def label_of(group: str) -> str:
    """The tag label of a taxonomy group (``color`` -> ``COLOR``)."""
    return group.upper()


def labels_for(taxonomy: Taxonomy) -> tuple[str, ...]:
    """Every label of ``taxonomy``: its groups upper-cased, then ``CATEGORY``."""
    return (*(label_of(g) for g in taxonomy.groups), label_of(CATEGORY))


def spans_to_tags(text: str, spans: list[dict]) -> TaggedSentence:
    """Turn character spans (``start``, ``end``, ``label``) into a BIO-tagged token sequence.

    Raises:
        ValueError: a span does not start and end on token boundaries.
    """
    toks = tokenize(text)
    tags = ["O"] * len(toks)
    for span in spans:
        inside = [i for i, (s, e, _) in enumerate(toks) if s >= span["start"] and e <= span["end"]]
        if not inside or toks[inside[0]][0] != span["start"] or toks[inside[-1]][1] != span["end"]:
            raise ValueError(f"span {span} of {text!r} does not fall on token boundaries")
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + span["label"]
    return TaggedSentence(tuple(t for _, _, t in toks), tuple(tags))


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
DISTRACTORS = (
    "is darker",
    "is lighter",
    "is longer",
    "is shorter",
    "has longer sleeves",
    "has shorter sleeves",
    "is more revealing",
    "is less revealing",
    "is more casual",
    "is more formal",
    "is shinier",
    "is tighter",
    "is looser",
    "is brighter",
    "has a different design",
    "is the same",
    "is sexier",
    "has a lower neckline",
    "has a higher neckline",
    "is more elegant",
    "has a bigger image",
    "has more words",
    "is less busy",
    "is lighter in color",
    "is darker colored",
    "is more sheer",
    "has sleeves",
    "is simpler",
    "is more modest",
    "has a smaller design",
    "has writing on the front",
    "is more feminine",
    "is sporty",
    "is shiny",
)

# Words that are not attribute values (tagged O), so the tagger does not take every unknown word
# for an attribute: things printed on garments, style words, comparatives.
NOISE_NOUNS = (
    "character",
    "picture",
    "image",
    "words",
    "text",
    "writing",
    "wording",
    "lettering",
    "letters",
    "slogan",
    "saying",
    "message",
    "face",
    "dog",
    "cat",
    "bird",
    "animal",
    "flag",
    "car",
    "guitar",
    "band",
    "movie",
    "eagle",
    "heart",
    "tree",
    "horse",
    "phrase",
    "name",
    "quote",
    "number",
    "cartoon",
    "person",
    "girl",
    "man",
    "company",
    "brand",
    "game",
    "symbol",
    "emblem",
    "drawing",
    "photo",
    "design",
    "detail",
    "motif",
    "shape",
    "side",
    "chest",
    "back",
    "shoulder",
    "waist",
    "hem",
    "bottom",
    "skin",
    "size",
    "item",
    "product",
    "one",
    "style",
    "look",
    "color",
    "shade",
    "tone",
    "fabric",
    "material",
    "sleeves",
    "neckline",
    "straps",
    "length",
)
NOISE_ADJECTIVES = (
    "sporty",
    "casual",
    "formal",
    "sexy",
    "elegant",
    "modest",
    "revealing",
    "whimsical",
    "humorous",
    "feminine",
    "masculine",
    "girly",
    "cute",
    "edgy",
    "trendy",
    "vintage",
    "simple",
    "busy",
    "bold",
    "faded",
    "detailed",
    "fun",
    "professional",
    "conservative",
    "classy",
    "chic",
    "stylish",
    "dressy",
    "cheap",
    "nerdy",
    "grungy",
    "childish",
    "patriotic",
    "similar",
    "different",
    "same",
    "exact",
    "small",
    "large",
    "big",
    "tiny",
    "cool",
    "nice",
    "pretty",
    "shiny",
    "sheer",
    "see-through",
    "transparent",
    "metallic",
    "sparkly",
    "thin",
    "thick",
    "wide",
    "narrow",
    "thinner",
    "thicker",
    "bigger",
    "smaller",
    "larger",
    "wider",
    "narrower",
    "higher",
    "lower",
    "shinier",
    "brighter",
    "darker",
    "lighter",
    "longer",
    "shorter",
    "looser",
    "tighter",
    "simpler",
    "bolder",
    "cooler",
    "warmer",
    "cuter",
    "sexier",
    "plainer",
    "busier",
    "fancier",
    "softer",
    "more",
    "less",
    "much",
    "very",
)
NOISE_TEMPLATES = (
    "is more {~adj}",
    "is {~adj}",
    "is {~adj} and {~adj}",
    "is less {~adj}",
    "has a {~noun}",
    "has a {~noun} on the front",
    "has a {~adj} {~noun}",
    "has a {color} {~noun}",
    "with a {~noun} on the {~noun}",
    "has {~noun} on it",
    "has a picture of a {~noun}",
    "is {~adj} in color",
    "has a {~adj} {pattern}",
    "{color} {~noun}",
    "is {color} with {color} {~noun}",
    "is {color} with a {~adj} {~noun}",
    "is {~adj} {~noun}",
    "has {~adj} {~noun} and is {color}",
    "is a {~adj} {category}",
    "has a {~noun} of a {~noun}",
    "is {~adj} with {~adj} {~noun}",
    "is {~adj} , {~adj}",
    "the {~noun} is {~adj}",
    "is {~adj} in {~noun}",
    "has a {~adj} {details}",
    "has {~adj} {color} {~noun}",
)

# Templates: {group} and {category} are slots, {!group} a negated value (tagged O), {~noun} and
# {~adj} words that are not values (tagged O).
CAPTION_TEMPLATES = (
    "is {color}",
    "is {color} with {sleeve}",
    "is {color} and has {sleeve}",
    "has {sleeve} and is {color}",
    "is a {length} {color} {category}",
    "is {color} and {pattern}",
    "is {pattern} with {sleeve}",
    "is a {color} {pattern} {category}",
    "is {fit} and {color}",
    "is more {fit} and {color}",
    "has a {neckline} and {sleeve}",
    "is {length} with a {neckline}",
    "is {color} in color",
    "is {color} colored",
    "is a {color} {category} with {details}",
    "has {details}",
    "has {details} and {pattern}",
    "{color} {category} with {sleeve}",
    "{color} with {pattern}",
    "is a {material} {category}",
    "is {material} and {color}",
    "is {color} with a {neckline}",
    "is {length} and {fit}",
    "is a {fit} {category}",
    "{sleeve}",
    "{neckline}",
    "is {color} with {color} {pattern}",
    "is {color} and {color}",
    "is {color} with {color} {details}",
    "is {color} with {details}",
    "the {category} is {color} with {sleeve}",
    "is a {sleeve} {category}",
    "is {sleeve} and {length}",
    "is a {pattern} {category}",
    "has a {color} {category}",
    "is {pattern} and has a {neckline}",
    "is {color} , {color} and {color}",
    "is {length}",
    "is more {pattern}",
    "has a {pattern} on the front",
    "is {pattern} {color}",
    "{pattern} {color} {category}",
    "is {pattern} {color} with {sleeve}",
    "is a {color} {sleeve} {category}",
    "has {color} {pattern}",
    "is {color} with {pattern} pattern",
    "is a {neckline} {category}",
    "is {fit} with {details}",
    "is {color} {material}",
    "is not {!pattern}",
    "has no {!details}",
    "is {color} and not {!color}",
    "is less {!pattern}",
    "is less {!fit}",
    "is in {color}",
    "is {color} with {sleeve} and a {details}",
)
STATEMENT_TEMPLATES = (
    "that {category} is {material}",
    "this {category} is made of {material}",
    "it is made of {material}",
    "it's {material}",
    "the fabric is {material}",
    "it has {details}",
    "it has a {neckline}",
    "make it {color}",
    "make it {color} with {sleeve}",
    "i want it in {color}",
    "show me this in {color}",
    "this one comes in {color}",
    "that {category} has {sleeve}",
    "the {category} is {fit}",
    "this is a {length} {category}",
    "actually this is a {category}",
    "this {category} is {pattern}",
    "it is {material} not {!material}",
    "it is {color} , not {!color}",
    "label it as {material}",
    "tag this as {pattern}",
    "it's a {color} {material} {category}",
    "{material}",
    "this {category} has {details} and {details}",
    "the {category} has a {neckline} and {sleeve}",
    "that {category} is {color}",
    "the {category} has {details}",
    "this one is {fit}",
    "it is a {category}",
    "that is a {material} {category}",
    "this {category} is {length}",
    "the material is {material}",
    "it should say {material}",
    "that one has {sleeve}",
    "these are {material}",
    "like this but {color}",
    "like this but with {sleeve}",
    "same but in {material}",
)
GENERIC_TEMPLATES = (
    "is {g}",
    "has {g}",
    "it is {g}",
    "with {g}",
    "that {category} is {g}",
    "make it {g}",
    "the {category} is {g}",
    "it has {g}",
    "is {g} and {g}",
)
JOINERS = ("and", "and", ",", "but", "and also", "and it", ", it")
PREFIXES = ("it ", "this one ", "the {category} ", "that {category} ", "it also ", "mine ")


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


def _held_out(word: str) -> bool:
    return zlib.crc32(word.encode()) % 4 == 0


class SentenceGenerator:
    """Random BIO-tagged sentences for a taxonomy.

    Args:
        taxonomy: the vocabulary and the groups (labels).
        seed: same seed, same sentences.
        held_out_novel: draw words outside the taxonomy from the held-out quarter only (test set)
            instead of the other three quarters (training set), so test measures generalisation.
    """

    def __init__(self, taxonomy: Taxonomy, seed: int = 0, held_out_novel: bool = False) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocabulary(taxonomy)
        self.groups = list(self.vocab)
        known_words = {w for ws in self.vocab.values() for w in ws}
        self.extra = {
            g: [w for w in EXTRA.get(g, ()) if w not in known_words and _held_out(w) == held_out_novel]
            for g in self.groups
        }
        self.templates = [t for t in CAPTION_TEMPLATES + STATEMENT_TEMPLATES if self._usable(t)]
        self.noise = [t for t in NOISE_TEMPLATES if self._usable(t)]
        self.generic = [t.replace("{g}", "{" + g + "}") for g in self.groups for t in GENERIC_TEMPLATES]
        self.prefixes = [p for p in PREFIXES if self._usable(p)]

    def _usable(self, template: str) -> bool:
        return all(s.lstrip("!") in self.vocab for s in re.findall(r"{(!?[\w-]+)}", template))

    def _pseudo_word(self) -> str:
        rng = self.rng
        syll = [
            rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") + rng.choice(["", "n", "r", "l", "s"])
            for _ in range(rng.randint(2, 3))
        ]
        return "".join(syll)

    def _typo(self, word: str) -> str:
        rng = self.rng
        if len(word) < 5 or not word.isalpha():
            return word
        i = rng.randrange(1, len(word) - 1)
        op = rng.randrange(3)
        if op == 0:
            return word[:i] + word[i + 1 :]
        if op == 1:
            return word[:i] + word[i] + word[i:]
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]

    def phrase(self, group: str) -> list[str]:
        """One surface phrase of ``group`` as words: known, outside-vocabulary or made up."""
        rng = self.rng
        r = rng.random()
        if r < 0.62 or (not self.extra[group] and r < 0.9):
            words = rng.choice(self.vocab[group]).split()
        elif r < 0.9:
            words = rng.choice(self.extra[group]).split()
        else:
            words = [self._pseudo_word()]
            if group in NOUN_AFTER and rng.random() < 0.7:
                words.append(rng.choice(NOUN_AFTER[group]))
        if group == "color" and len(words) == 1 and rng.random() < 0.2:
            words.insert(0, rng.choice(MODIFIERS))
        if rng.random() < 0.04:
            k = rng.randrange(len(words))
            words[k] = self._typo(words[k])
        if rng.random() < 0.08:
            words = [w.capitalize() for w in words] if rng.random() < 0.5 else [w.upper() for w in words]
        return words

    def _noise(self, kind: str) -> str:
        if self.rng.random() < 0.15:
            return self._pseudo_word() + ("er" if kind == "adj" and self.rng.random() < 0.5 else "")
        return self.rng.choice(NOISE_ADJECTIVES if kind == "adj" else NOISE_NOUNS)

    def _fill(self, template: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for part in template.split():
            m = re.fullmatch(r"{(!?)([\w-]+)}", part)
            if not m:
                out.append((self._noise(part[2:-1]) if part.startswith("{~") else part, "O"))
                continue
            words = self.phrase(m.group(2))
            if m.group(1):
                out += [(w, "O") for w in words]
            else:
                label = label_of(m.group(2))
                out += [(w, ("B-" if i == 0 else "I-") + label) for i, w in enumerate(words)]
        return out

    def _clause(self) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.12:
            return rng.choice(DISTRACTORS)
        if r < 0.3:
            return rng.choice(self.noise)
        if r < 0.38:
            return rng.choice(self.generic)
        return rng.choice(self.templates)

    def sentence(self) -> TaggedSentence:
        """One random sentence of one to three clauses."""
        rng = self.rng
        n = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
        clauses = [self._clause() for _ in range(n)]
        parts: list[tuple[str, str]] = []
        if rng.random() < 0.15 and self.prefixes and clauses[0].split()[0] in ("is", "has"):
            parts += self._fill(rng.choice(self.prefixes).strip())
        for i, clause in enumerate(clauses):
            if i:
                verb = clause.split()[0] in ("is", "has")
                parts += [(w, "O") for w in rng.choice(JOINERS if verb else ("and", ",", ".", "but")).split()]
            parts += self._fill(clause)
        if rng.random() < 0.25:
            parts[0] = (parts[0][0].capitalize(), parts[0][1])
        if rng.random() < 0.2:
            parts.append((rng.choice((".", "!", ".")), "O"))
        tokens: list[str] = []
        tags: list[str] = []
        for word, tag in parts:  # re-tokenise words like "it's" exactly as inference will
            pieces = [w for _, _, w in tokenize(word)]
            for j, piece in enumerate(pieces):
                tokens.append(piece)
                tags.append(tag if j == 0 or tag == "O" else "I-" + tag[2:])
        return TaggedSentence(tuple(tokens), tuple(tags))

    def sentences(self, n: int) -> list[TaggedSentence]:
        """``n`` random sentences."""
        return [self.sentence() for _ in range(n)]
