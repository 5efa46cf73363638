"""The engine façade on a real model trained on a tiny generated catalog (fixtures in conftest.py):
search / modify results, exclusions, filters, save / load, typed errors, the issue 4 hooks, the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rankings import ranking

from retrieval.catalog.taxonomy import CATEGORY
from retrieval.cli.main import main
from retrieval.engine.facade import Engine, EngineConfig
from retrieval.errors import InteractionError, InvalidQueryError, TailorError, UnknownItemError
from retrieval.graph import schema
from retrieval.index.state import GraphState


def _query(engine: Engine, i: int = 0):
    qs = [q for q in engine.model.catalog.queries if q.split == "test"]
    return qs[i % len(qs)]


def _check_results(engine: Engine, results, k: int) -> None:
    assert len(results) == k
    ids = [r.image_id for r in results]
    assert len(set(ids)) == k
    cat = engine.model.catalog
    for r in results:
        rec = cat.image(r.image_id)
        assert (r.product_id, r.caption, r.category, r.image_path) == (
            rec.product_id,
            rec.caption,
            rec.category,
            rec.path,
        )
        assert not Path(r.image_path).is_absolute() and (cat.root / r.image_path).is_file()
        assert r.explanation.text
    scores = [r.score for r in results]
    # modify's EI-tree step puts the products that satisfy every requested value first (``satisfied`` of
    # them, by score); the closest ones follow, ordered by how much of the request they meet.
    satisfied = getattr(results, "satisfied", 0)
    head = scores[:satisfied] if satisfied else scores
    assert head == sorted(head, reverse=True)


def test_modify_returns_k_valid_results_without_the_candidate(tiny_engine):
    for i in range(3):
        q = _query(tiny_engine, i)
        results = tiny_engine.modify(q.source, q.text, k=10)
        _check_results(tiny_engine, results, 10)
        assert q.source not in {r.image_id for r in results}


def test_one_photo_per_product_and_the_candidates_product_is_excluded(tiny_engine):
    import dataclasses

    q = next(
        q
        for q in (_query(tiny_engine, i) for i in range(60))
        if len(tiny_engine.graph.product_nodes(tiny_engine.model.catalog.image(q.source).product_id)) > 1
    )
    pid = tiny_engine.model.catalog.image(q.source).product_id
    results = tiny_engine.modify(q.source, q.text, k=20)
    assert len({r.product_id for r in results}) == 20 and pid not in {r.product_id for r in results}
    assert len({r.product_id for r in tiny_engine.search("dress", k=20)}) == 20
    photos = Engine(
        GraphState(tiny_engine.model, tiny_engine.items, tiny_engine.facts, tiny_engine.index),
        dataclasses.replace(tiny_engine.cfg, one_photo_per_product=False),
    )
    every = photos.modify(q.source, q.text, k=len(tiny_engine.items.image_ids))
    assert q.source not in {r.image_id for r in every} and pid in {r.product_id for r in every}
    # the best photo of each product, in the same order
    best = []
    for r in every:
        if r.product_id not in {b.product_id for b in best} and r.product_id != pid:
            best.append(r)
    assert [r.image_id for r in results] == [r.image_id for r in best[:20]]


def test_words_that_drop_an_attribute_are_not_asked_for(tiny_engine):
    from retrieval.catalog.negation import unwanted_keys

    tax = tiny_engine.taxonomy
    assert unwanted_keys("beige instead of rainbow", tax) == {"color:multicolor"}
    assert unwanted_keys("replace red with black", tax) == {"color:red"}
    assert unwanted_keys("same but without a hood", tax) == {"details:hood"}
    assert unwanted_keys("not so long please", tax) == {"length:maxi"}
    assert unwanted_keys("no sleeves, in black", tax) == set()
    index = tiny_engine.model.ids.index(schema.ATTRIBUTE)
    asked = tiny_engine.asked("replace red with black", [index["color:red"], index["color:black"]])
    assert asked == [index["color:black"]]


def test_modify_honours_exclude_and_pages_on(tiny_engine):
    q = _query(tiny_engine, 1)
    first = [r.image_id for r in tiny_engine.modify(q.source, q.text, k=10)]
    nxt = [r.image_id for r in tiny_engine.modify(q.source, q.text, k=7, exclude=tuple(first[:3]))]
    assert not set(nxt) & set(first[:3])
    assert nxt == first[3:10]  # exact index: the ranking minus the excluded ids
    assert tiny_engine.modify(q.source, q.text, k=5, exclude=("no-such-id",))[0].image_id == first[0]


def test_search_returns_k_results_matching_the_words_first(tiny_engine):
    facts = tiny_engine.facts
    counts = {a: len(facts.images_with(i)) for i, a in enumerate(facts.attr_keys)}
    cat_key = max((a for a in counts if a.startswith(CATEGORY + ":")), key=counts.get)
    word = cat_key.partition(":")[2]
    results = tiny_engine.search(f"{word} please", k=10)
    _check_results(tiny_engine, results, 10)
    n_with = min(10, counts[cat_key])
    assert all(cat_key in r.explanation.matched for r in results[:n_with])
    # words naming no attribute still return results (nearest attribute nodes by text feature)
    _check_results(tiny_engine, tiny_engine.search("something for a wedding", k=5), 5)


def test_search_filters_exclude_and_user_hidden(tiny_engine):
    facts = tiny_engine.facts
    key = next(a for i, a in enumerate(facts.attr_keys) if a.startswith("color:") and len(facts.images_with(i)))
    group, value = key.split(":")
    allowed = set(facts.images_with(facts.attr_keys.index(key)).tolist())
    results = tiny_engine.search("dress", k=20, filters={group: value})
    assert results and len(results) <= min(20, len(allowed))
    assert all(tiny_engine.node(r.image_id) in allowed for r in results)
    shown = tuple(r.image_id for r in results[:2])
    again = tiny_engine.search("dress", k=20, filters={group: [value]}, exclude=shown)
    assert not set(shown) & {r.image_id for r in again}
    state = tiny_engine.interactions.user_state("hider", create=True)
    try:
        state.hidden.add(tiny_engine.node(results[0].image_id))
        assert results[0].image_id not in {
            r.image_id for r in tiny_engine.search("dress", k=20, filters={group: value}, user="hider")
        }
    finally:
        tiny_engine.users.pop("hider")
    with pytest.raises(InvalidQueryError, match="Fix: filter on one of"):
        tiny_engine.search("dress", filters={"colour-ish": "red"})
    with pytest.raises(InvalidQueryError, match="Fix: use one of"):
        tiny_engine.search("dress", filters={"color": "ultraviolet"})


def test_large_tiers_ranked_through_the_index_give_the_exact_answer(tiny_engine):
    import dataclasses

    via_index = Engine(
        GraphState(tiny_engine.model, tiny_engine.items, tiny_engine.facts, tiny_engine.index),
        dataclasses.replace(tiny_engine.cfg, tier_index_min=0),
    )
    for text in ("dress", "black", "long sleeves", "red dress"):
        a, b = ranking(tiny_engine.search(text, k=8)), ranking(via_index.search(text, k=8))
        assert a == b, text


def test_typed_errors_say_how_to_fix(tiny_engine):
    q = _query(tiny_engine)
    cases = [
        (UnknownItemError, lambda: tiny_engine.modify("no/such/image.jpg", "in black")),
        (UnknownItemError, lambda: tiny_engine.describe("nope")),
        (UnknownItemError, lambda: tiny_engine.explain(q.source, "in black", "nope")),
        (InvalidQueryError, lambda: tiny_engine.modify(q.source, "")),
        (InvalidQueryError, lambda: tiny_engine.modify(q.source, "   \n\t")),
        (InvalidQueryError, lambda: tiny_engine.search("x" * 2001)),
        (InvalidQueryError, lambda: tiny_engine.search(None)),
        (InvalidQueryError, lambda: tiny_engine.modify(q.source, "black", k=0)),
        (InvalidQueryError, lambda: tiny_engine.search("black", k=-3)),
        (InvalidQueryError, lambda: tiny_engine.search("black", k=10**9)),
        (InvalidQueryError, lambda: tiny_engine.modify(q.source, "black", k=1001)),
        (InvalidQueryError, lambda: tiny_engine.modify(q.source, "black", k=True)),
        (InvalidQueryError, lambda: tiny_engine.modify(q.source, "black", k=2.5)),
    ]
    for err, call in cases:
        with pytest.raises(err) as info:
            call()
        assert "Fix:" in str(info.value) and info.value.fix
    # k up to max_k is fine; fewer come back when the catalog has fewer products (one photo each)
    products = set(tiny_engine.items.product_ids)
    many = tiny_engine.modify(q.source, q.text, k=1000)
    assert len(many) == len(products) - 1 and len({r.product_id for r in many}) == len(products) - 1


def test_save_load_gives_identical_rankings(tiny_model, tiny_engine, tmp_path):
    other = Engine.load(tiny_model)
    for i in range(3):
        q = _query(tiny_engine, i)
        a = [(r.image_id, r.score) for r in tiny_engine.modify(q.source, q.text, k=10)]
        b = [(r.image_id, r.score) for r in other.modify(q.source, q.text, k=10)]
        assert [x for x, _ in a] == [x for x, _ in b]
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-6)
    tiny_engine.save_index(tmp_path / "index")
    reloaded = Engine.load(tiny_model, index_dir=tmp_path / "index")
    q = _query(tiny_engine)
    assert [r.image_id for r in reloaded.modify(q.source, q.text, k=10)] == [
        r.image_id for r in tiny_engine.modify(q.source, q.text, k=10)
    ]
    assert [r.image_id for r in reloaded.search("red dress", k=10)] == [
        r.image_id for r in tiny_engine.search("red dress", k=10)
    ]
    hnsw = Engine.load(tiny_model, index_kind="hnsw")
    assert hnsw.index.kind == "hnsw"
    assert len(hnsw.modify(q.source, q.text, k=10)) == 10


def test_describe_and_explain(tiny_engine):
    q = _query(tiny_engine)
    d = tiny_engine.describe(q.source)
    assert d.image_id == q.source and d.explanation.text
    node = tiny_engine.node(q.source)
    assert set(d.explanation.shared) == {tiny_engine.facts.attr_keys[a] for a in tiny_engine.facts.attributes_of(node)}
    top = tiny_engine.modify(q.source, q.text, k=3)
    why, card = tiny_engine.explain(q.source, q.text, top[0].image_id), top[0].explanation
    same = ("shared", "matched", "replaced", "missing", "concepts", "stated", "path")  # explain adds model weights
    assert all(getattr(why, f) == getattr(card, f) for f in same)
    assert {(e.src, e.relation, e.dst) for e in card.edges} <= {(e.src, e.relation, e.dst) for e in why.edges}
    assert tiny_engine.explain(None, "black dress", top[0].image_id).text


def test_interactions_are_logged_then_change_the_next_answer(tiny_model, tmp_path):
    engine = Engine.load(tiny_model, cfg=EngineConfig(log_url=f"sqlite:///{tmp_path / 'log.db'}"))
    q = _query(engine)
    first = engine.modify(q.source, q.text, k=5, user="u1")
    receipt = engine.dislike(first[0].image_id, "u1")
    assert (receipt.kind, receipt.scope, receipt.image_ids) == ("dislike", "user", (first[0].image_id,))
    assert engine.interaction_log.get(receipt.interaction_id).payload == {"image_id": first[0].image_id}
    assert first[0].image_id not in {r.image_id for r in engine.modify(q.source, q.text, k=5, user="u1")}
    assert first[0].image_id == engine.modify(q.source, q.text, k=5, user="u2")[0].image_id
    with pytest.raises(InteractionError, match="no product detail"):
        engine.add_metadata(q.source, "that has", "u1")
    with pytest.raises(UnknownItemError):
        engine.dislike("nope", "u1")
    assert len(engine.interaction_log) == 1  # the failed ones wrote nothing


def test_apply_edit_changes_graph_index_and_explanations_together(tiny_model):
    engine = Engine.load(tiny_model)
    facts = engine.facts
    node = 0
    attr = next(
        i for i, a in enumerate(facts.attr_keys) if a.startswith("material:") and i not in facts.attributes_of(node)
    )
    before = engine.embeddings[node].copy()
    etype = schema.IMAGE_HAS_USER_ATTRIBUTE
    changed = engine.apply_edit(edges={etype: [(node, attr)]})
    g = engine.model.graph
    assert bool(g.has_edges_between(node, attr, etype=etype)) and bool(
        g.has_edges_between(attr, node, etype=schema.reverse(etype))
    )
    assert node in changed[schema.IMAGE]
    assert not np.allclose(before, engine.embeddings[node])
    np.testing.assert_allclose(engine.index.vector(node), engine.embeddings[node], atol=1e-6)
    assert facts.attributes_of(node)[attr] == schema.HAS_USER_ATTRIBUTE
    exp = engine.describe(engine.items.image_ids[node]).explanation
    assert facts.attr_keys[attr] in exp.shared
    assert any(e.relation == schema.HAS_USER_ATTRIBUTE and e.dst.node_id == attr for e in exp.edges)
    assert node in set(facts.images_with(attr).tolist())
    # a new attribute node hangs on its group concept
    feat = np.zeros(g.nodes[schema.ATTRIBUTE].data["feat"].shape[1], np.float32)
    engine.apply_edit(
        nodes={schema.ATTRIBUTE: [("material:tweed", feat)]}, edges={etype: [(node, len(facts.attr_keys))]}
    )
    new = facts.attr_keys.index("material:tweed")
    assert engine.model.graph.num_nodes(schema.ATTRIBUTE) == len(facts.attr_keys) == new + 1
    assert "material:tweed" in engine.describe(engine.items.image_ids[node]).explanation.shared


def test_cli_search_query_and_errors(tiny_model, tiny_engine, capsys):
    qs = [_query(tiny_engine, i) for i in range(50)]
    q = next(q for q in qs if tiny_engine.modify(q.source, q.text)[0].explanation.edges)
    assert main(["query", "--model", str(tiny_model), "--image", q.source, "--text", q.text, "-k", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 4 and all({"image_id", "score", "explanation"} <= set(r) for r in data)
    assert main(["query", "--model", str(tiny_model), "--image", q.source, "--text", q.text, "--explain"]) == 0
    out = capsys.readouterr().out
    assert "your pick" in out and " 10. " in out and "-has_attribute-> attribute:" in out
    assert main(["search", "--model", str(tiny_model), "--text", "red dress", "-k", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    assert main(["query", "--model", str(tiny_model), "--image", "nope", "--text", "black"]) == 2
    assert "Fix:" in capsys.readouterr().err
    assert main(["search", "--model", str(tiny_model), "--text", "dress", "--filter", "color"]) == 2
    assert isinstance(InvalidQueryError("x"), TailorError)


def test_cli_flags_are_the_documented_contract(tmp_path, monkeypatch):
    from retrieval.cli import engine as cli_engine
    from retrieval.cli.main import build_parser

    p = build_parser()
    a = p.parse_args(["train", "--data", "D", "--out", "M", "--config", "c.json"])
    assert (str(a.data), str(a.out), str(a.config), a.func) == ("D", "M", "c.json", cli_engine.run_train)
    a = p.parse_args(["evaluate", "--model", "M", "--json", "e.json", "--plot", "r.png"])
    assert (str(a.model), str(a.json), str(a.plot), a.func) == ("M", "e.json", "r.png", cli_engine.run_evaluate)
    a = p.parse_args(["search", "--model", "M", "--text", "red dress", "-k", "5", "--json"])
    assert (a.text, a.k, a.json, a.func) == ("red dress", 5, True, cli_engine.run_search)
    a = p.parse_args(["query", "--model", "M", "--image", "I", "--text", "black", "-k", "3", "--explain", "--json"])
    assert (a.image, a.k, a.explain, a.json, a.func) == ("I", 3, True, True, cli_engine.run_query)
    a = p.parse_args(["bench", "--model", "M", "--json", "b.json", "--sizes", "1000", "5000", "--queries", "7"])
    assert (a.sizes, a.queries, a.func) == ([1000, 5000], 7, cli_engine.run_bench)
    # train reads --config as a TrainConfig JSON and passes it on
    from retrieval.config import save_config
    from retrieval.training.config import TrainConfig

    seen = {}
    monkeypatch.setattr(
        "retrieval.training.run.train", lambda data, out, cfg, cache_dir=None, dataset=None: seen.update(cfg=cfg) or {}
    )
    save_config(TrainConfig(epochs=3), tmp_path / "c.json")
    args = ["train", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--config"]
    assert main([*args, str(tmp_path / "c.json")]) == 0 and seen["cfg"].epochs == 3
    assert main([*args, str(tmp_path / "no.json")]) == 2


def test_text_features_are_cached_by_normalised_text(tiny_engine):
    from retrieval.features import get_text_encoder

    tiny_engine.clear_text_cache()
    a = tiny_engine.text_feature("Make it  BLACK please")
    b = tiny_engine.text_feature("make it black please")
    assert a is b and tiny_engine.text.cached == 1
    np.testing.assert_allclose(
        a, get_text_encoder(tiny_engine.model.cfg.features).encode(["Make it BLACK please"])[0], atol=1e-6
    )


def test_keyboard_noise_is_refused_but_typos_next_to_words_are_answered(tiny_engine):
    q = _query(tiny_engine)
    for noise in ("asdkjh qwe", "sdfsdf", "zzz !!"):
        with pytest.raises(InvalidQueryError, match="recognise any word") as err:
            tiny_engine.search(noise)
        assert "e.g." in err.value.fix
        with pytest.raises(InvalidQueryError, match="recognise any word"):
            tiny_engine.modify(q.source, noise)
    assert tiny_engine.modify(q.source, "make it blck", k=3)  # "make", "it" are words: a typo is still a query
    assert tiny_engine.search("a-line v-neck", k=3) and tiny_engine.search("2 pieces", k=3)
    import dataclasses

    lenient = Engine(
        GraphState(tiny_engine.model, tiny_engine.items, tiny_engine.facts, tiny_engine.index),
        dataclasses.replace(tiny_engine.cfg, require_known_word=False),
    )
    assert len(lenient.search("asdkjh qwe", k=3)) == 3
