"""Random BIO-tagged training sentences for the metadata tagger, generated from a taxonomy.

:class:`SentenceGenerator` joins one to three clauses (:mod:`retrieval.interactions.tagger_templates`,
:mod:`retrieval.interactions.tagger_noise`) and fills their slots with taxonomy values and synonyms,
with realistic words that are not in the taxonomy (:mod:`retrieval.interactions.tagger_values`) and
with made-up words, so the tagger learns from context. Sentences are tokenised and tagged as
:mod:`retrieval.interactions.tagger_bio` says; the same seed gives the same sentences.
"""

from __future__ import annotations

import random
import re

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.interactions.tagger_bio import TaggedSentence, label_of, tokenize
from retrieval.interactions.tagger_noise import DISTRACTORS, NOISE_ADJECTIVES, NOISE_NOUNS
from retrieval.interactions.tagger_templates import (
    CAPTION_TEMPLATES,
    GENERIC_TEMPLATES,
    JOINERS,
    NOISE_TEMPLATES,
    PREFIXES,
    STATEMENT_TEMPLATES,
)
from retrieval.interactions.tagger_values import EXTRA, MODIFIERS, NOUN_AFTER, held_out, vocabulary


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
            g: [w for w in EXTRA.get(g, ()) if w not in known_words and held_out(w) == held_out_novel]
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
