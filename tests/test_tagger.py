"""Metadata tagger: generated data, the hand-labelled fixture, normalisation, a real (tiny) Flair model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from retrieval.catalog.taxonomy import Taxonomy
from retrieval.cli.main import main
from retrieval.errors import DatasetError, InteractionError, ModelNotFoundError
from retrieval.interactions.tagger import TEST_CONFIG, MetadataTagger, Normaliser, load_labelled
from retrieval.interactions.tagger_bio import labels_for, spans_to_tags, tokenize
from retrieval.interactions.tagger_sentences import SentenceGenerator

FIXTURE = Path(__file__).parent / "fixtures" / "fashioniq_val_labelled.jsonl"
TAXONOMY = Taxonomy.load()
SHOES = {
    "name": "shoes",
    "concepts": {"footwear": {"children": ["boot", "sneaker"]}},
    "categories": {"boot": {"synonyms": ["boots"]}, "sneaker": {"synonyms": ["trainers"]}},
    "groups": {
        "heel": {"relation": "exclusive", "values": {"flat": ["no heel"], "stiletto": ["high heel"]}},
        "color": {"relation": "exclusive", "values": {"black": [], "white": ["cream"]}},
    },
}


@pytest.fixture(scope="module")
def tagger(tmp_path_factory: pytest.TempPathFactory) -> MetadataTagger:
    from retrieval.interactions.tagger_train import train_tagger

    out = tmp_path_factory.mktemp("tagger")
    report = train_tagger(out, TEST_CONFIG)
    assert report.heldout["f1"] > 0.15 and report.dev_f1 > 0.25
    saved = json.loads((out / "train_report.json").read_text())
    assert saved["config"]["labels"] == list(labels_for(TAXONOMY))
    return MetadataTagger.load(out)


def test_labels_come_from_the_taxonomy() -> None:
    assert labels_for(TAXONOMY) == (
        "COLOR",
        "PATTERN",
        "SLEEVE",
        "LENGTH",
        "NECKLINE",
        "MATERIAL",
        "FIT",
        "DETAILS",
        "CATEGORY",
    )
    assert labels_for(Taxonomy(SHOES)) == ("HEEL", "COLOR", "CATEGORY")


def bio_ok(tags: tuple[str, ...]) -> bool:
    prev = "O"
    for t in tags:
        if t.startswith("I-") and prev[2:] != t[2:]:
            return False
        prev = t
    return True


@pytest.mark.parametrize("taxonomy", [TAXONOMY, Taxonomy(SHOES)], ids=["tailor", "shoes"])
def test_generated_sentences_are_valid_bio_and_cover_every_label(taxonomy: Taxonomy) -> None:
    sents = SentenceGenerator(taxonomy, seed=3).sentences(600)
    labels = Counter(t[2:] for s in sents for t in s.tags if t.startswith("B-"))
    assert set(labels) == set(labels_for(taxonomy))
    for s in sents:
        assert len(s.tokens) == len(s.tags) and bio_ok(s.tags)
        assert [w for _, _, w in tokenize(s.text)] == list(s.tokens)  # inference tokenises the same way
    assert any(t == "O" for s in sents for t in s.tags)
    again = SentenceGenerator(taxonomy, seed=3).sentences(600)
    assert again == sents  # same seed, same sentences


def test_held_out_sentences_use_unseen_outside_vocabulary_words() -> None:
    train = SentenceGenerator(TAXONOMY, 0)
    test = SentenceGenerator(TAXONOMY, 1, held_out_novel=True)
    known = {w for ws in train.vocab.values() for w in ws}
    for group, words in train.extra.items():
        assert words and test.extra[group], group
        assert not set(words) & set(test.extra[group]) and not set(words) & known
    text = " ".join(s.text.lower() for s in test.sentences(500))
    assert sum(f" {w} " in f" {text} " for ws in test.extra.values() for w in ws) > 20


def test_hand_labelled_fixture_is_well_formed() -> None:
    rows = [json.loads(x) for x in FIXTURE.read_text().splitlines() if x.strip()]
    assert len(rows) >= 100
    assert {r["category"] for r in rows} == {"dress", "shirt", "toptee"}
    labels = set(labels_for(TAXONOMY))
    for r in rows:
        for sp in r["spans"]:
            assert r["text"][sp["start"] : sp["end"]] == sp["surface"] and sp["label"] in labels
    examples = load_labelled(FIXTURE)
    assert len(examples) == len(rows)
    assert sum(t.startswith("B-") for e in examples for t in e.tags) == sum(len(r["spans"]) for r in rows)


def test_bad_fixture_lines_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "is red", "spans": []}\n{"text": "is red", "spans": [{"start": 1, "end": 5}]}\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl:2"):
        load_labelled(bad)
    with pytest.raises(ValueError, match="token boundaries"):
        spans_to_tags("is red", [{"start": 1, "end": 5, "label": "COLOR"}])


@pytest.mark.parametrize(
    ("label", "surface", "expected"),
    [
        ("COLOR", "dark blue", ("color", "navy", True)),  # synonym
        ("COLOR", "Light Green", ("color", "green", True)),  # shade of a known colour
        ("SLEEVE", "sleevless", ("sleeve", "sleeveless", True)),  # typo
        ("NECKLINE", "halter neckline", ("neckline", "halter", False)),  # new attribute, generic noun dropped
        ("MATERIAL", "tweed", ("material", "tweed", False)),
        ("CATEGORY", "top", ("category", "top", True)),  # an EI-tree concept
        ("COLOR", "linen", ("material", "linen", True)),  # the taxonomy knows better than the tag
        ("PATTERN", "floral pattern", ("pattern", "floral", True)),
    ],
)
def test_spans_normalise_to_taxonomy_values_or_new_attributes(label: str, surface: str, expected: tuple) -> None:
    assert Normaliser(TAXONOMY)(label, surface) == expected


@pytest.mark.engine  # trains or exports a model
def test_tiny_tagger_extracts_and_normalises(tagger: MetadataTagger) -> None:
    cases = {
        "it is black": "color:black",
        "that shirt is linen": "material:linen",
        "it has pockets": "details:pockets",
        "make it navy": "color:navy",
        "has long sleeves": "sleeve:long-sleeve",
        "is a red dress": "category:dress",
    }
    found = {text: {e.key for e in tagger.extract(text)} for text in cases}
    assert sum(cases[t] in keys for t, keys in found.items()) >= 5, found
    ex = tagger.extract("That shirt is linen")
    assert all(0.0 <= e.score <= 1.0 and "That shirt is linen"[e.start : e.end] == e.surface for e in ex)
    assert tagger.extract("") == [] and tagger.extract("   ") == []
    assert tagger.extract_many(["it is black", ""])[1] == []


@pytest.mark.engine  # trains or exports a model
def test_tiny_tagger_scores_on_real_captions(tagger: MetadataTagger) -> None:
    scores = tagger.evaluate(load_labelled(FIXTURE))
    assert scores["sentences"] >= 100 and 0.3 < scores["f1"] <= 1.0
    assert scores["per_label"]["COLOR"]["support"] > 50


@pytest.mark.engine  # trains or exports a model
def test_long_text_and_missing_model_get_clear_errors(tagger: MetadataTagger, tmp_path: Path) -> None:
    with pytest.raises(InteractionError, match="too long") as info:
        tagger.extract("linen " * 1700)
    assert info.value.fix
    with pytest.raises(ModelNotFoundError, match="train-tagger"):
        MetadataTagger.load(tmp_path / "nowhere")


@pytest.mark.engine  # trains or exports a model
def test_cli_trains_on_another_taxonomy_and_evaluates(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    tax = tmp_path / "shoes.yml"
    tax.write_text(yaml.safe_dump(SHOES, sort_keys=False))
    out = tmp_path / "model"
    assert main(["train-tagger", "--out", str(out), "--taxonomy", str(tax), "--sentences", "80", "--epochs", "1"]) == 0
    assert "held-out" in capsys.readouterr().out
    fixture = tmp_path / "shoes.jsonl"
    fixture.write_text(
        json.dumps(
            {
                "text": "black boots",
                "spans": [{"start": 0, "end": 5, "label": "COLOR"}, {"start": 6, "end": 11, "label": "CATEGORY"}],
            }
        )
        + "\n"
    )
    scores = tmp_path / "s.json"
    assert main(["tagger-eval", "--model", str(out), "--fixture", str(fixture), "--json", str(scores)]) == 0
    printed = capsys.readouterr().out
    assert "overall" in printed and "latency" in printed
    assert json.loads(scores.read_text())["sentences"] == 1
    assert MetadataTagger.load(out).config.labels == ("HEEL", "COLOR", "CATEGORY")
    assert main(["tagger-eval", "--model", str(tmp_path / "nope"), "--fixture", str(fixture)]) == 2
