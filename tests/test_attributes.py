"""Attribute sources: caption split (A.5), taxonomy phrase matching, and the trained predictor."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.catalog.records import ImageRecord
from retrieval.catalog.taxonomy import Taxonomy
from retrieval.errors import ConfigError, InvalidQueryError, ModelNotFoundError
from retrieval.model.attributes import (
    AttributeConfig,
    AttributePredictor,
    PhraseMatcher,
    caption_attributes,
    evaluate_attributes,
    exclusive_groups,
    image_label_lists,
    text_attributes,
)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


def test_caption_attributes_first_word_and_rest():
    assert caption_attributes("red long striped t-shirt") == ("red", "long striped t-shirt")
    assert caption_attributes("  Black   Linen  Dress ") == ("black", "linen dress")
    assert caption_attributes("dress") == ("dress", "")
    assert caption_attributes("   ") == ("", "")


def test_text_attributes_with_synonyms(taxonomy):
    keys = text_attributes("make it dark blue, with long sleeves and a tee instead", taxonomy)
    assert keys == ["color:navy", "sleeve:long-sleeve", "category:t-shirt"]
    assert text_attributes("Crimson polka dots", taxonomy) == ["color:red", "pattern:polka-dot"]
    assert text_attributes("red and scarlet", taxonomy) == ["color:red"]  # each key once
    assert text_attributes("nothing to see here", taxonomy) == []


def test_image_label_lists_adds_category(taxonomy):
    images = [
        ImageRecord("a", "a", "", "navy striped linen shirt with pockets", "shirt", "train"),
        ImageRecord("b", "b", "", "beige skirt", "skirt", "train"),
    ]
    labels = image_label_lists(images, taxonomy)
    assert labels[0][0] == "category:shirt"
    assert set(labels[0]) == {"category:shirt", "color:navy", "pattern:striped", "material:linen", "details:pockets"}
    assert labels[1] == ["category:skirt", "color:beige"]


def synthetic(n: int, seed: int) -> tuple[np.ndarray, list[list[str]]]:
    """Features where each label is a linear direction: separable by construction."""
    rng = np.random.default_rng(seed)
    colors = ["color:red", "color:black", "color:white"]
    cats = ["category:dress", "category:shirt"]
    centres = np.random.default_rng(99).standard_normal((6, 64)).astype(np.float32) * 3
    feats, labels = [], []
    for _ in range(n):
        c, k, pockets = rng.integers(3), rng.integers(2), rng.random() < 0.5
        x = centres[c] + centres[3 + k] + (centres[5] if pockets else 0) + rng.standard_normal(64)
        feats.append(x)
        labels.append([colors[c], cats[k]] + (["details:pockets"] if pockets else []))
    return np.asarray(feats, np.float32), labels


@pytest.mark.engine  # trains the attribute classifier
def test_predictor_learns_separable_task_and_roundtrips(tmp_path, taxonomy):
    x_train, y_train = synthetic(400, 0)
    x_test, y_test = synthetic(100, 1)
    cfg = AttributeConfig(epochs=15, hidden=32, seed=0)
    pred = AttributePredictor.fit(x_train, y_train, cfg, exclusive_groups(taxonomy))
    assert set(pred.labels) == {
        "color:red",
        "color:black",
        "color:white",
        "category:dress",
        "category:shirt",
        "details:pockets",
    }
    report = evaluate_attributes(pred, x_test, y_test)
    assert report["micro_f1"] >= 0.95, report
    assert report["per_group_accuracy"]["color"] >= 0.95
    out = pred.predict(x_test)
    assert all(sum(k.startswith("color:") for k in keys) <= 1 for keys in out)  # exclusive: one colour
    assert all(sum(k.startswith("category:") for k in keys) == 1 for keys in out)
    # a lower threshold never gives fewer attributes (Table 5's knob)
    low = pred.predict(x_test, threshold=0.05)
    assert all(set(a) <= set(b) for a, b in zip(out, low, strict=True))
    # the same seed gives the same model; save / load reproduces predictions exactly
    again = AttributePredictor.fit(x_train, y_train, cfg, exclusive_groups(taxonomy))
    np.testing.assert_array_equal(again.predict_proba(x_test), pred.predict_proba(x_test))
    pred.save(tmp_path / "attr")
    loaded = AttributePredictor.load(tmp_path / "attr")
    assert loaded.cfg == cfg and loaded.labels == pred.labels
    np.testing.assert_array_equal(loaded.predict_proba(x_test), pred.predict_proba(x_test))
    assert loaded.predict(x_test) == out


def test_predictor_errors(tmp_path):
    x, y = synthetic(20, 0)
    with pytest.raises(InvalidQueryError):
        AttributePredictor.fit(x[:5], y, AttributeConfig())
    with pytest.raises(InvalidQueryError, match="No label occurs"):
        AttributePredictor.fit(x, [[] for _ in y], AttributeConfig())
    pred = AttributePredictor.fit(x, y, AttributeConfig(epochs=1, hidden=0))
    with pytest.raises(InvalidQueryError, match="64-d attribute predictor"):
        pred.predict(np.zeros((1, 10), np.float32))
    with pytest.raises(ModelNotFoundError):
        AttributePredictor.load(tmp_path / "none")
    with pytest.raises(ConfigError):
        AttributeConfig(threshold=1.5)
    with pytest.raises(ConfigError):
        AttributeConfig(source="imat")


def test_phrase_matcher_links_free_text_labels():
    labels = {
        a
        for cap in ["red long striped t-shirt", "black knee-length skirt", "red dress"]
        for a in caption_attributes(cap)
    }
    matcher = PhraseMatcher(labels)
    assert matcher.find("I want a Long  Striped T-shirt in red") == ["long striped t-shirt", "red"]
    assert matcher.find("bored of dresses") == []  # word boundaries: no "red" in "bored", no "dress" in "dresses"
    assert matcher.find("black, knee-length skirt") == ["black", "knee-length skirt"]
    assert matcher.find("knee length skirt") == []  # exact: a hyphen is not a space
    assert PhraseMatcher([]).find("anything") == []


@pytest.mark.engine  # trains the attribute classifier
def test_predictor_with_colour_branch_needs_and_uses_colour(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    colour_idx = rng.integers(0, 3, n)
    colour = np.eye(3, dtype=np.float32)[colour_idx] + rng.normal(0, 0.05, (n, 3)).astype(np.float32)
    feats = rng.standard_normal((n, 16)).astype(np.float32)  # carries no colour information
    labels = [[f"color:{['red', 'black', 'white'][c]}", "category:dress"] for c in colour_idx]
    cfg = AttributeConfig(epochs=60, hidden=16, batch_size=32)
    pred = AttributePredictor.fit(feats[:200], labels[:200], cfg, ["color"], colour=colour[:200])
    report = evaluate_attributes(pred, feats[200:], labels[200:], colour=colour[200:])
    assert report["per_group_accuracy"]["color"] >= 0.9, report
    blind = AttributePredictor.fit(feats[:200], labels[:200], cfg, ["color"])  # features alone: chance level
    assert evaluate_attributes(blind, feats[200:], labels[200:])["per_group_accuracy"]["color"] < 0.6
    with pytest.raises(InvalidQueryError, match="trained with colour histograms"):
        pred.predict(feats[200:])
    pred.save(tmp_path / "attr")
    loaded = AttributePredictor.load(tmp_path / "attr")
    assert loaded.colour_dim == 3
    np.testing.assert_array_equal(
        loaded.predict_proba(feats[200:], colour[200:]), pred.predict_proba(feats[200:], colour[200:])
    )
