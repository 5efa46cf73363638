"""Issue 12 on a small hard catalog: the paper's config, likes and stated metadata through the graph.

Engine tier: trains one tiny model (tailor's default config at test size, 200 hard products; ~1-3 min on a
busy 2-core box). Floors sit below the effects measured with these seeds (see each assertion).
"""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.catalog.records import TEST
from retrieval.engine.facade import Engine
from retrieval.evaluation.baselines import image_only_scores
from retrieval.evaluation.evaluate import _ranks, graph_scorer
from retrieval.evaluation.reproduce import filter_scorer
from retrieval.evaluation.simulate import eval_set
from retrieval.features.base import torch_threads
from retrieval.graph import schema
from retrieval.training.config import NAMED_CONFIGS, PAPER, TrainConfig
from retrieval.training.sim_edits import (
    METADATA_TOP,
    attribute_ranking,
    like_edges,
    liked_sets,
    metadata_edges,
    true_attributes,
)


def test_paper_config_is_the_papers_model_and_default_is_unchanged():
    assert NAMED_CONFIGS["default"] == TrainConfig()
    assert (PAPER.layers, PAPER.hidden, PAPER.lr, PAPER.head, PAPER.compose_weight) == (3, 128, 1e-3, "composeae", 1.0)
    assert not (PAPER.hard_negatives or PAPER.inbatch_negatives or PAPER.jk_readout or PAPER.residual_layers)
    assert not PAPER.product_links and PAPER.interaction_warmup and PAPER.warmup_likes == 200
    like_back = schema.reverse(schema.IMAGE_LIKED_FOR)
    assert like_back in PAPER.message_etypes()
    assert like_back not in TrainConfig().message_etypes()
    assert not any(e[0] == schema.CAPTION and e != like_back for e in PAPER.message_etypes())


@pytest.fixture(scope="module")
def hard_model(tmp_path_factory):
    from conftest import tiny_train_config

    from retrieval.catalog.demo.generate import generate_demo_catalog
    from retrieval.training.run import train

    root = tmp_path_factory.mktemp("hard-tiny")
    generate_demo_catalog(root / "catalog", 200, 0, workers=1, profile="hard")
    with torch_threads(1):
        train(root / "catalog", root / "engine", tiny_train_config(), cache_dir=root / "cache", progress=False)
    return root / "engine"


def _mean_rank(engine: Engine, ev, rows=None) -> float:
    sub = ev if rows is None else ev.subset(rows)
    return float(np.mean(_ranks(graph_scorer(engine.model), sub.q, sub.pool, sub.hits)))


@pytest.mark.engine
def test_likes_without_any_bonus_raise_the_liked_targets(hard_model):
    engine = Engine.load(hard_model)
    tm = engine.model
    ev = eval_set(engine, TEST, "product")
    rows = np.arange(0, len(ev.idx), 2)
    inter = ev.subset(rows)
    before = _mean_rank(engine, ev, rows)
    liked = liked_sets(engine.embeddings, inter.q.targets.tolist(), inter.q.candidates.tolist(), ev.pool, 10)
    edges = like_edges(liked, inter.q.candidates.tolist(), tm.graph.num_nodes(schema.CAPTION))
    engine.apply_edit(nodes={schema.CAPTION: list(zip(inter.q.texts, inter.q.text, strict=True))}, edges=edges)
    after = _mean_rank(engine, ev, rows)
    assert after < before - 0.3, (before, after)  # measured 16.26 -> 15.59 (graph only: no ranking bonus here)


@pytest.mark.engine
def test_stated_metadata_raises_the_targets(hard_model):
    engine = Engine.load(hard_model)
    tm = engine.model
    ev = eval_set(engine, TEST, "product")
    before = _mean_rank(engine, ev)
    truth = true_attributes(tm.catalog)
    keys = attribute_ranking(truth)[: METADATA_TOP[1]]
    pairs = metadata_edges(truth, keys, range(len(tm.ids.images)), tm.ids.index(schema.ATTRIBUTE))
    engine.apply_edit(edges={schema.IMAGE_HAS_USER_ATTRIBUTE: pairs})
    after = _mean_rank(engine, ev)
    assert after <= before, (before, after)  # measured 15.19 -> 15.16: the graph barely uses stated attributes


@pytest.mark.engine
def test_an_exact_filter_on_stated_attributes_lifts_image_only(hard_model):
    engine = Engine.load(hard_model)
    tm = engine.model
    ev = eval_set(engine, TEST, "product")
    feats = tm.image_features

    def image(q, pool):
        return image_only_scores(feats, q, pool)

    keys = attribute_ranking(true_attributes(tm.catalog))[: METADATA_TOP[0]]
    scores = filter_scorer(image, tm, keys)(ev.q, ev.pool)
    assert scores.shape == (len(ev.idx), len(ev.pool)) and (scores < -100).any() and (scores > -100).any()
    plain = _ranks(image, ev.q, ev.pool, ev.hits)
    filtered = _ranks(filter_scorer(image, tm, keys), ev.q, ev.pool, ev.hits)
    assert np.mean(filtered) < np.mean(plain), (np.mean(plain), np.mean(filtered))
