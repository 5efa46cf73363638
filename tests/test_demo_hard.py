"""The hard demo profile: what it adds to the default catalog, on a small catalog."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.catalog.demo.generate import generate_demo_catalog
from retrieval.catalog.demo.hard import HARD, add_typos, fuzzy_color, harden_photo, omit_words
from retrieval.catalog.demo.render import features_for
from retrieval.catalog.demo.textures import COLORS
from retrieval.catalog.taxonomy import Taxonomy

pytestmark = pytest.mark.unit

SIZE = 80


@pytest.fixture(scope="module")
def hard(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("hard") / "catalog"
    return out, generate_demo_catalog(out, size=SIZE, seed=3, workers=1, profile="hard")


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_profile_is_recorded_and_taxonomy_gains_an_invisible_group(hard):
    out, summary = hard
    gen = json.loads((out / "meta" / "generator.json").read_text())
    assert gen["profile"] == "hard" and gen["hard"]["shade_mix"] == HARD.shade_mix
    tx = Taxonomy.load(out / "meta" / "taxonomy.yml")
    invisible = {g.name for g in tx.groups.values() if not g.visible}
    assert {"material", "fit", "occasion"} <= invisible
    attrs = _lines(out / "meta" / "attributes.jsonl")
    assert any(any(a.startswith("occasion:") for a in r["attributes"]) for r in attrs)
    assert summary["near_duplicate_share"] >= 0.3


def test_invisible_groups_never_reach_the_drawing(hard):
    tx = Taxonomy.load(hard[0] / "meta" / "taxonomy.yml")
    base = [("color", "red"), ("material", "silk"), ("fit", "slim"), ("occasion", "party")]
    other = [("color", "red"), ("material", "wool"), ("fit", "loose"), ("occasion", "sport")]
    assert features_for(tx, "dress", base) == features_for(tx, "dress", other)


def test_descriptions_omit_attributes_but_keep_the_category(hard):
    out, _ = hard
    truth = {r["image_id"]: r for r in _lines(out / "meta" / "attributes.jsonl")}
    shorter = 0
    for label in (out / "labels").glob("*.txt"):
        for line in label.read_text().splitlines():
            path, _, caption = line.split("\t")
            words = caption.split()
            assert words[-1] == truth[path]["category"]
            shorter += len(words) - 1 < len(truth[path]["attributes"])
    assert shorter > 0.2 * len(truth)
    assert omit_words("red silk maxi dress", random.Random(0), 1.0) == "dress"


def test_captions_are_partial_fashioniq_like_and_sometimes_misspelt(hard):
    queries = _lines(hard[0] / "meta" / "queries.jsonl")
    texts = [q["text"] for q in queries]
    assert sum(t.startswith(("is ", "has ")) for t in texts) > 0.2 * len(texts)
    multi = [q for q in queries if q["kind"] == "multi"]
    partial = [q for q in multi if " and " not in q["text"] and "," not in q["text"]]
    assert multi and len(partial) > 0.15 * len(multi)
    vocab = {w for t in (q["template"] for q in queries) for w in t.replace("-", " ").split()}
    assert add_typos("sleeveless", random.Random(1), 1.0) != "sleeveless"
    assert any(w not in vocab for t in texts for w in t.split()), "no word outside the templates at all"


def test_colours_blur_between_neighbouring_names():
    rng = random.Random(0)
    navy = np.array(COLORS["navy"])
    shades = [np.array(fuzzy_color("navy", COLORS["navy"], rng, HARD)) for _ in range(200)]
    dist = [float(np.abs(s - navy).sum()) for s in shades]
    assert max(dist) > 40 and min(dist) < 10, "shades should range from the name to half way to a neighbour"
    assert fuzzy_color("multicolor", None, rng, HARD) is None


def test_hardened_photos_lose_detail():
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8))
    edges = []
    for seed in range(12):
        out = harden_photo(photo, random.Random(seed), HARD)
        assert out.size == photo.size and out.mode == "RGB"
        a = np.asarray(out, dtype=np.float32)
        edges.append(float(np.abs(np.diff(a, axis=1)).mean()))
    sharp = float(np.abs(np.diff(np.asarray(photo, dtype=np.float32), axis=1)).mean())
    assert np.median(edges) < 0.6 * sharp, "low resolution / blur should remove most high frequencies"
