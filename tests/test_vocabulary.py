"""The dialogue vocabulary is generated from the taxonomy: up to date, consistent with the domain."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.catalog.vocabulary import (
    VocabConfig,
    annotate,
    entity_names,
    keyboard_noise,
    lookup_tables,
    sample_captions,
    synonyms,
    write_vocabulary,
)
from retrieval.cli.main import main as tailor
from retrieval.errors import DatasetError

REPO = Path(__file__).resolve().parent.parent
TINY = {
    "name": "tiny",
    "concepts": {"clothing": {"children": ["top"]}, "top": {"children": ["shirt", "tee"]}},
    "categories": {"shirt": {"synonyms": ["shirts"]}, "tee": {"synonyms": ["t shirt"]}},
    "groups": {
        "color": {"relation": "exclusive", "values": {"black": ["jet black"], "navy": ["dark blue"]}},
        "details": {"relation": "independent", "values": {"pockets": ["with pockets"]}},
    },
}


def test_checked_in_vocabulary_is_up_to_date(tmp_path: Path) -> None:
    out = write_vocabulary(Taxonomy.load(REPO / "data" / "taxonomy.yml"), tmp_path / "vocabulary.yml")
    assert out.read_text() == (REPO / "data" / "nlu" / "vocabulary.yml").read_text(), (
        "data/nlu/vocabulary.yml is stale: run `tailor vocab` (see retrieval/cli/dialogue.py)"
    )


def test_domain_entities_match_the_taxonomy() -> None:
    domain = yaml.safe_load((REPO / "domain.yml").read_text())
    assert domain["entities"] == entity_names(Taxonomy.load(REPO / "data" / "taxonomy.yml"))


def test_annotation_marks_synonyms_with_their_value() -> None:
    tax = Taxonomy(TINY)
    assert annotate("Show me Dark Blue shirts with pockets", tax) == (
        'show me [dark blue]{"entity": "color", "value": "navy"} '
        '[shirts]{"entity": "category", "value": "shirt"} [with pockets]{"entity": "details", "value": "pockets"}'
    )
    assert annotate("a [weird] (text) in black", tax) == "a weird text in [black](color)"


def test_tables_and_synonyms_come_from_any_taxonomy(tmp_path: Path) -> None:
    tax = Taxonomy(TINY)
    assert lookup_tables(tax)["color"] == ["black", "dark blue", "jet black", "navy"]
    assert synonyms(tax)["navy"] == ["dark blue"] and synonyms(tax)["tee"] == ["t shirt"]
    assert entity_names(tax) == ["category", "color", "details", "product"]
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "nlu.yml"
    assert tailor(["vocab", "--taxonomy", str(path), "--out", str(out)]) == 0
    nlu = yaml.safe_load(out.read_text())["nlu"]
    intents = {b["intent"] for b in nlu if "intent" in b}
    assert {"search", "modify", "add_metadata", "select", "dislike"} <= intents
    assert {b["lookup"] for b in nlu if "lookup" in b} == {"category", "color", "details"}
    text = out.read_text()
    assert "jet black" in text and "[" in text and "GENERATED" in text.splitlines()[0]


def test_caption_sample_is_seeded_and_balanced(tmp_path: Path) -> None:
    for cat in ("dress", "shirt"):
        pairs = [
            {"candidate": "a", "target": "b", "captions": [f"is {cat} {i} darker", f"has  pockets {cat} {i}"]}
            for i in range(30)
        ]
        (tmp_path / f"cap.{cat}.train.json").write_text(json.dumps(pairs))
    cfg = VocabConfig(caption_sample=10, seed=3)
    first = sample_captions(tmp_path, cfg)
    assert first == sample_captions(tmp_path, cfg) and len(first) == 10
    assert sum("dress" in c for c in first) == 5 and "has pockets dress 1" in sample_captions(
        tmp_path, VocabConfig(caption_sample=200)
    )
    (tmp_path / "cap.toptee.train.json").write_text("{broken")
    with pytest.raises(DatasetError, match="bad JSON"):
        sample_captions(tmp_path, cfg)
    with pytest.raises(DatasetError, match="no cap"):
        sample_captions(tmp_path / "nowhere", cfg)


def test_keyboard_noise_is_seeded_distinct_and_names_no_taxonomy_word() -> None:
    tax = Taxonomy.load(REPO / "data" / "taxonomy.yml")
    noise = keyboard_noise(tax, 60, random.Random(3))
    assert noise == keyboard_noise(tax, 60, random.Random(3)) and len(set(noise)) == 60
    known = {w for phrase in tax.phrases for w in phrase.split()}
    assert not known & {w for text in noise for w in text.split()}
    assert all(1 <= len(text.split()) <= 3 and text.replace(" ", "").isalpha() for text in noise)
