"""Interactions without retraining (issue 4) on the real tiny model: real DGL graph, FAISS index, SQLite log.

Each test loads its own engine (interactions edit it) with its own log; trust: "staff" only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from rankings import ranking

from retrieval.catalog.taxonomy import CATEGORY
from retrieval.engine.facade import Engine, EngineConfig
from retrieval.errors import InteractionError, PermissionDeniedError, UnknownItemError
from retrieval.graph import schema
from retrieval.interactions import statements
from retrieval.interactions.log import InteractionLog, LogConfig
from retrieval.interactions.statements import Found

STAFF = "staff"


def load(model: Path, tmp_path: Path, **cfg) -> Engine:
    cfg = {"log_url": f"sqlite:///{tmp_path / 'interactions.db'}", "trusted": (STAFF,), "reembed_tol": 0.0, **cfg}
    return Engine.load(model, cfg=EngineConfig(**cfg))


def keys(engine: Engine, node: int, user: str | None = None) -> set[str]:
    facts = engine.interactions.facts_for(user)
    return {facts.attr_keys[a] for a in facts.attributes_of(node)}


def image_with(engine: Engine, has: tuple[str, ...], lacks: tuple[str, ...] = (), avoid: str | None = None) -> int:
    """The first image with every attribute of ``has``, none of ``lacks``, not of ``avoid``'s product."""
    pids = engine.items.product_ids
    skip = pids[engine.node(avoid)] if avoid else None
    return next(
        i
        for i in range(len(pids))
        if set(has) <= keys(engine, i) and not set(lacks) & keys(engine, i) and pids[i] != skip
    )


def snapshot(engine: Engine) -> tuple:
    g = engine.model.graph
    return (
        {nt: g.num_nodes(nt) for nt in g.ntypes},
        {e: g.num_edges(e) for e in g.canonical_etypes},
        len(engine.index),
        len(engine.interaction_log),
        engine.embeddings.copy(),
        set(engine.users),
    )


def test_metadata_puts_the_image_in_the_top_tier_and_names_the_new_edge(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    x = image_with(engine, ("category:dress",), ("material:linen",))
    xid = engine.items.image_ids[x]
    before = engine.search("linen dress", k=40)
    assert all(r.score < 2.5 for r in before if r.image_id == xid)  # not in the linen + dress tier
    receipt = engine.add_metadata(xid, "that one is linen", STAFF)
    assert (receipt.kind, receipt.scope, receipt.attributes, receipt.image_ids) == (
        "metadata",
        "global",
        ("material:linen",),
        (xid,),
    )
    row = engine.interaction_log.get(receipt.interaction_id)
    assert row.payload["attributes"] == ["material:linen"] and row.user == STAFF
    linen = engine.model.ids.index(schema.ATTRIBUTE)["material:linen"]
    assert bool(engine.model.graph.has_edges_between(x, linen, etype=schema.IMAGE_HAS_USER_ATTRIBUTE))
    after = {r.image_id: r for r in engine.search("linen dress", k=40)}
    assert xid in after and after[xid].score >= 2.5  # the top tier: linen and dress
    exp = after[xid].explanation
    assert "material:linen" in exp.matched
    assert any(e.relation == schema.HAS_USER_ATTRIBUTE and e.dst.label == "material:linen" for e in exp.edges)
    t = engine.last_interaction
    assert t.kind == "metadata" and t.total_ms >= t.apply_ms > 0 and t.reembedded > 0


def test_a_stated_exclusive_value_replaces_the_old_one(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    x, old, cat = next(
        (i, k, c.partition(":")[2])
        for i in range(len(engine.items.image_ids))
        for k in sorted(keys(engine, i))
        for c in sorted(keys(engine, i))
        if k.startswith("color:") and k != "color:black" and c.startswith("category:")
    )
    xid = engine.items.image_ids[x]
    word = old.partition(":")[2]
    receipt = engine.add_metadata(xid, f"that {cat} is black", STAFF)
    assert receipt.attributes == ("color:black",) and f"black replaces {word}" in receipt.message
    colors = {k for k in keys(engine, x) if k.startswith("color:")}
    assert colors == {"color:black"} and f"category:{cat}" in keys(engine, x)  # the category is the subject
    gone = engine.model.ids.index(schema.ATTRIBUTE)[old]
    g = engine.model.graph
    for rel in (schema.HAS_ATTRIBUTE, schema.HAS_USER_ATTRIBUTE):
        etype = (schema.IMAGE, rel, schema.ATTRIBUTE)
        assert not bool(g.has_edges_between(x, gone, etype=etype))
        assert not bool(g.has_edges_between(gone, x, etype=schema.reverse(etype)))
    assert xid not in {r.image_id for r in engine.search(f"{word} {cat}", k=60) if r.score >= 2.5}
    assert xid in {r.image_id for r in engine.search(f"black {cat}", k=60) if r.score >= 2.5}
    assert old not in engine.describe(xid).explanation.shared


def test_like_lifts_the_liked_images_for_the_same_pick_and_words(tiny_model, tiny_engine, tmp_path):
    engine = load(tiny_model, tmp_path)
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    before = [r.image_id for r in engine.modify(q.source, q.text, k=40)]
    liked = [before[12], before[25]]
    receipt = engine.like(q.source, q.text, liked, "ann")
    assert (receipt.kind, receipt.scope, receipt.image_ids) == ("like", "global", tuple(liked))
    g, ids = engine.model.graph, engine.model.ids
    a, b, cand = engine.node(liked[0]), engine.node(liked[1]), engine.node(q.source)
    cap = ids.index(schema.CAPTION)[" ".join(q.text.split())]
    assert bool(g.has_edges_between(a, b, etype=schema.IMAGE_LIKED_WITH))
    assert bool(g.has_edges_between([a, b], [cap, cap], etype=schema.IMAGE_LIKED_FOR).all())
    assert bool(g.has_edges_between([a, b], [cand, cand], etype=schema.IMAGE_LIKED_FROM).all())
    for user in ("ann", "bob", None):  # the paper's global form: everyone's next answer
        after = [r.image_id for r in engine.modify(q.source, q.text, k=40, user=user)]
        assert after.index(liked[0]) < 12 and after.index(liked[1]) < 25
    assert [r.image_id for r in tiny_engine.modify(q.source, q.text, k=40)] == before  # the shared engine is untouched


def test_per_user_likes_lift_only_that_shoppers_results(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path, like_scope="user")
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    before = [r.image_id for r in engine.modify(q.source, q.text, k=40)]
    others = ranking(engine.modify(q.source, q.text, k=40, user="bob"))
    graph = snapshot(engine)[:3]
    liked = [before[12], before[25]]
    receipt = engine.like(q.source, q.text, liked, "ann")
    assert receipt.scope == "user"
    mine = [r.image_id for r in engine.modify(q.source, q.text, k=40, user="ann")]
    assert mine.index(liked[0]) < 12 and mine.index(liked[1]) < 25
    assert ranking(engine.modify(q.source, q.text, k=40, user="bob")) == others
    assert snapshot(engine)[:3] == graph  # nothing in the shared graph or index
    assert engine.users["ann"].liked == [engine.node(i) for i in liked]


def test_dislike_hides_for_that_shopper_only(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    first = engine.modify(q.source, q.text, k=10, user="ann")
    gone = first[0]
    receipt = engine.dislike(gone.image_id, "ann")
    assert (receipt.kind, receipt.scope) == ("dislike", "user")
    mine = engine.modify(q.source, q.text, k=10, user="ann")
    assert gone.product_id not in {r.product_id for r in mine}
    assert gone.product_id not in {r.product_id for r in engine.search(gone.caption, k=50, user="ann")}
    theirs = engine.modify(q.source, q.text, k=10, user="bob")
    assert ranking(theirs) == ranking(first)  # another shopper sees no change
    # similar ones are lowered for ann: every shared result scores no higher for her
    bob = {r.image_id: r.score for r in theirs}
    assert all(r.score <= bob[r.image_id] + 1e-6 for r in mine if r.image_id in bob)
    assert any(r.score < bob[r.image_id] - 1e-3 for r in mine if r.image_id in bob)


@pytest.mark.parametrize("flush_at", [1, 10_000])  # additions written into DGL at once / kept in the buffer
def test_incremental_reembedding_equals_a_full_forward_pass(tiny_model, tmp_path, monkeypatch, flush_at):
    from retrieval.graph import buffer as graph_buffer

    monkeypatch.setattr(graph_buffer, "FLUSH_AT", flush_at)
    engine = load(tiny_model, tmp_path)
    ids = engine.items.image_ids
    red, old = next(
        (i, k)
        for i in range(len(ids))
        for k in sorted(keys(engine, i))
        if k.startswith("color:") and k != "color:black"
    )
    engine.add_metadata(ids[red], f"it is black, not {old.partition(':')[2]}", STAFF)  # an edge removed, one added
    engine.interactions.reader = _StubReader([Found("neckline:halter", False, "halter", "tagger")])
    engine.add_metadata(ids[3], "it has a halter neckline", STAFF)  # a new attribute node
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    engine.like(q.source, q.text, [ids[7], ids[9]], "ann")  # new caption node and like edges
    engine.like(None, "summer dress", [ids[11]], "bob")
    incremental = [{nt: s.clone() for nt, s in layer.items()} for layer in engine.model.states]
    emb = engine.embeddings.copy()
    engine.model.refresh()
    for inc, full in zip(incremental, engine.model.states, strict=True):
        for nt in full:
            np.testing.assert_allclose(inc[nt].numpy(), full[nt].numpy(), atol=1e-5)
    np.testing.assert_allclose(emb, engine.model.image_embeddings(), atol=1e-5)
    for node in (red, 3, 7, 9, 11):
        np.testing.assert_allclose(engine.index.vector(node), emb[node], atol=1e-6)


class _StubReader:
    """Stands in for the tagger when a test needs a span the tiny tagger is too weak to find."""

    def __init__(self, found: list[Found]) -> None:
        self.found = found

    def read(self, statement: str) -> list[Found]:
        return list(self.found)


def test_a_new_attribute_becomes_a_node_everyone_can_search(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    x = image_with(engine, ("category:dress",))
    xid = engine.items.image_ids[x]
    n_attr = engine.model.graph.num_nodes(schema.ATTRIBUTE)
    engine.interactions.reader = _StubReader([Found("neckline:halter", False, "halter", "tagger")])
    receipt = engine.add_metadata(xid, "it has a halter neckline", STAFF)
    assert receipt.new_attributes == ("neckline:halter",)
    g, node = engine.model.graph, n_attr
    assert g.num_nodes(schema.ATTRIBUTE) == n_attr + 1 and engine.model.ids.attributes[node] == "neckline:halter"
    np.testing.assert_allclose(
        g.nodes[schema.ATTRIBUTE].data["feat"][node].numpy(), engine.text_feature("halter"), atol=1e-6
    )
    concept = engine.model.ids.index(schema.CONCEPT)[schema.group_concept("neckline")]
    assert bool(g.has_edges_between(node, concept, etype=schema.ATTRIBUTE_IS_A))
    top = engine.search("halter dress", k=5, user="someone-else")[0]
    assert top.image_id == xid and "neckline:halter" in top.explanation.matched


def test_untrusted_metadata_is_private_until_staff_accept_it(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    x = image_with(engine, ("category:dress",), ("material:linen",), avoid=q.source)
    xid = engine.items.image_ids[x]
    bob_search, bob_modify = (
        ranking(engine.search("linen dress", k=30, user="bob")),
        ranking(engine.modify(q.source, "make it linen", k=30, user="bob")),
    )
    graph = snapshot(engine)[:3]
    receipt = engine.add_metadata(xid, "that one is linen", "eve")
    assert receipt.scope == "pending" and [r.id for r in engine.interaction_log.pending()] == [receipt.interaction_id]
    assert snapshot(engine)[:3] == graph  # the shared graph and index did not change
    assert ranking(engine.search("linen dress", k=30, user="bob")) == bob_search
    assert ranking(engine.modify(q.source, "make it linen", k=30, user="bob")) == bob_modify
    eve = {r.image_id: r for r in engine.search("linen dress", k=30, user="eve")}
    assert eve[xid].score >= 2.5 and "material:linen" in eve[xid].explanation.matched
    why = engine.explain(None, "linen dress", xid, user="eve")  # the "why this one?" turn, for her
    assert ("material:linen", "eve") in why.stated and "linen (as you told me)" in why.text
    assert "material:linen" in engine.describe(xid, user="eve").explanation.shared
    for other in ("bob", None):  # nobody else's explanation mentions her statement
        assert "material:linen" not in engine.explain(None, "linen dress", xid, user=other).matched
        assert "material:linen" not in engine.describe(xid, user=other).explanation.shared
    pid = engine.items.product_ids[x]
    eve_all = [r.product_id for r in engine.modify(q.source, "make it linen", k=1000, user="eve")]
    bob_all = [r.product_id for r in engine.modify(q.source, "make it linen", k=1000, user="bob")]
    assert eve_all.index(pid) < bob_all.index(pid) or bob_all.index(pid) == 0  # her modify re-ranking sees it
    with pytest.raises(PermissionDeniedError):
        engine.accept(receipt.interaction_id, "eve")
    accepted = engine.accept(receipt.interaction_id, STAFF)
    assert accepted.scope == "global"
    assert xid in {r.image_id for r in engine.search("linen dress", k=30, user="bob") if r.score >= 2.5}
    again = load(tiny_model, tmp_path)  # after a restart the accepted statement is global
    assert xid in {r.image_id for r in again.search("linen dress", k=30, user="bob") if r.score >= 2.5}
    credit = ("material:linen", f"a shopper, accepted by {STAFF}")
    for e, user in ((engine, "bob"), (engine, "eve"), (again, "eve")):  # eve's overlay no longer holds it
        hit = {r.image_id: r for r in e.search("linen dress", k=30, user=user)}[xid].explanation
        assert credit in hit.stated and "linen (stated by a shopper, accepted by staff)" in hit.text
    assert ranking(engine.search("linen dress", k=30, user="eve")) == ranking(
        again.search("linen dress", k=30, user="eve")
    )


def test_replay_after_a_restart_gives_identical_rankings(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    ids = engine.items.image_ids
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    red = next(
        i for i in range(len(ids)) if any(k.startswith("color:") and k != "color:black" for k in keys(engine, i))
    )
    engine.add_metadata(ids[red], "that one is black", STAFF)
    engine.add_metadata(ids[5], "that one is linen", "eve")  # pending: eve's only
    engine.like(q.source, q.text, [ids[7], ids[9]], "ann")
    engine.dislike(ids[11], "ann")
    restarted = Engine.load(
        tiny_model, cfg=engine.cfg, log=InteractionLog(LogConfig(engine.cfg.log_url, trusted_senders=(STAFF,)))
    )
    assert restarted.interactions.applied == {
        f"{r.id}@{r.scope}" for r in engine.interaction_log.list(include_undone=False)
    }
    live = load(tiny_model, tmp_path / "none")  # no interactions at all
    assert ranking(live.modify(q.source, q.text, k=20)) != ranking(engine.modify(q.source, q.text, k=20))
    for user in (None, "ann", "eve", "bob"):
        assert ranking(restarted.modify(q.source, q.text, k=20, user=user)) == ranking(
            engine.modify(q.source, q.text, k=20, user=user)
        )
        for text in ("black dress", "linen dress", "striped shirt"):
            assert ranking(restarted.search(text, k=20, user=user)) == ranking(engine.search(text, k=20, user=user))
    assert restarted.replay() == 0 and restarted.sync() == 0  # idempotent
    plain = next(i for i in range(20, len(ids)) if "pattern:striped" not in keys(engine, i))
    undone = engine.add_metadata(ids[plain], "it is striped", STAFF)
    assert "pattern:striped" in keys(engine, plain)
    engine.interaction_log.undo(undone.interaction_id, STAFF)
    third = load(tiny_model, tmp_path)  # an undo takes effect on the next load: the row is not replayed
    assert "pattern:striped" not in keys(third, plain)
    assert ranking(third.modify(q.source, q.text, k=20, user="ann")) == ranking(
        restarted.modify(q.source, q.text, k=20, user="ann")
    )


def restart(model: Path, engine: Engine) -> Engine:
    """A fresh load of the same model replaying the same log."""
    return Engine.load(
        model, cfg=engine.cfg, log=InteractionLog(LogConfig(engine.cfg.log_url, trusted_senders=(STAFF,)))
    )


def answers(engine: Engine, q, users=(None, "ann", "eve", "bob")) -> dict:
    """Rankings of a few searches and modifications per shopper."""
    out = {}
    for user in users:
        out[user, "modify"] = ranking(engine.modify(q.source, q.text, k=20, user=user))
        out[user, "make it linen"] = ranking(engine.modify(q.source, "make it linen", k=20, user=user))
        for text in ("linen dress", "black dress", "striped shirt"):
            out[user, text] = ranking(engine.search(text, k=20, user=user))
    return out


def test_undoing_a_staff_statement_answers_as_a_fresh_load(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    x = image_with(engine, ("category:dress",), ("material:linen",), avoid=q.source)
    xid = engine.items.image_ids[x]
    engine.dislike(engine.items.image_ids[11], "ann")  # a row that stays
    before, described = answers(engine, q), engine.describe(xid).explanation
    lock, journal, kind = engine.lock, engine.interaction_log, engine.index.kind
    stated = engine.add_metadata(xid, "that one is linen", STAFF)
    hit = {r.image_id: r for r in engine.search("linen dress", k=40)}[xid].explanation
    assert hit.stated == (("material:linen", STAFF),) and "linen (stated by staff)" in hit.text
    assert "linen (stated by staff)" in engine.describe(xid).explanation.text
    assert answers(engine, q) != before
    receipt = engine.undo(stated.interaction_id, STAFF)
    assert (receipt.interaction_id, receipt.kind, receipt.user, receipt.image_ids, receipt.attributes) == (
        stated.interaction_id,
        "metadata",
        STAFF,
        (xid,),
        ("material:linen",),
    )
    assert engine.interaction_log.get(stated.interaction_id).undone_by is not None
    assert "material:linen" not in keys(engine, x) and engine.describe(xid).explanation == described
    assert answers(engine, q) == before
    fresh = restart(tiny_model, engine)
    assert answers(engine, q) == answers(fresh, q) and snapshot(engine)[:4] == snapshot(fresh)[:4]
    assert engine.lock is lock and engine.interaction_log is journal and engine.index.kind == kind
    assert engine.last_interaction.kind == "undo" and engine.last_interaction.reembedded == len(engine.items.image_ids)
    engine.add_metadata(xid, "it is linen", STAFF)  # the rebuilt engine keeps learning, and a restart keeps it
    again = restart(tiny_model, engine)
    assert "material:linen" in keys(engine, x) and "material:linen" in keys(again, x)
    assert ("material:linen", STAFF) in again.describe(xid).explanation.stated


def test_a_graph_rebuild_reloads_outside_the_lock_and_catches_up_with_rows_logged_meanwhile(
    tiny_model, tmp_path, monkeypatch
):
    import threading

    from retrieval.engine import facade

    engine = load(tiny_model, tmp_path)
    ids = engine.items.image_ids
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    x = image_with(engine, ("category:dress",), ("material:linen",), avoid=q.source)
    stated = engine.add_metadata(ids[x], "that one is linen", STAFF)
    reloading, go_on = threading.Event(), threading.Event()
    real_load = facade.load_graph  # the new graph state of a rebuild

    def slow_load(*args, **kwargs):
        reloading.set()
        assert go_on.wait(30)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(facade, "load_graph", slow_load)
    undo = threading.Thread(target=engine.undo, args=(stated.interaction_id, STAFF))
    undo.start()
    assert reloading.wait(30)
    # while it reloads, shoppers are answered and their interactions are logged and applied
    assert engine.search("linen dress", k=5)
    engine.dislike(ids[7], "ann")
    liked = engine.like(q.source, q.text, [ids[9]], "bob")
    go_on.set()
    undo.join(30)
    assert not undo.is_alive()
    monkeypatch.setattr(facade, "load_graph", real_load)
    assert "material:linen" not in keys(engine, x)  # the undo took effect ...
    assert ids[7] not in {r.image_id for r in engine.modify(q.source, q.text, k=50, user="ann")}  # ... kept the rows
    assert liked.interaction_id in {int(k.partition("@")[0]) for k in engine.interactions.applied}  # logged meanwhile
    fresh = restart(tiny_model, engine)
    assert answers(engine, q) == answers(fresh, q) and snapshot(engine)[:4] == snapshot(fresh)[:4]


def test_undoing_a_pending_statement_or_a_personal_like_changes_only_that_shopper(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path, like_scope="user")
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    ids = engine.items.image_ids
    x = image_with(engine, ("category:dress",), ("material:linen",), avoid=q.source)
    xid = ids[x]
    engine.dislike(ids[11], "eve")  # rows that stay
    engine.add_metadata(ids[13], "that one is striped", "eve")
    before, model, graph = answers(engine, q), engine.model, snapshot(engine)[:3]
    pending = engine.add_metadata(xid, "that one is linen", "eve")
    assert pending.scope == "pending"
    hit = {r.image_id: r for r in engine.search("linen dress", k=40, user="eve")}[xid].explanation
    assert ("material:linen", "eve") in hit.stated and "linen (as you told me)" in hit.text
    changed = answers(engine, q)
    assert changed["eve", "linen dress"] != before["eve", "linen dress"]
    assert all(changed[k] == before[k] for k in before if k[0] != "eve")
    engine.undo(pending.interaction_id, "eve")
    assert engine.model is model and snapshot(engine)[:3] == graph and engine.last_interaction.reembedded == 0
    assert answers(engine, q) == before == answers(restart(tiny_model, engine), q)
    assert engine.users["eve"].hidden == {engine.node(ids[11])} and "pattern:striped" in keys(engine, 13, "eve")
    liked = [r.image_id for r in engine.modify(q.source, q.text, k=40, user="eve")][12:13]
    like = engine.like(q.source, q.text, liked, "eve")
    assert answers(engine, q)["eve", "modify"] != before["eve", "modify"]
    engine.undo(like.interaction_id, "eve")
    assert engine.model is model and engine.users["eve"].liked == []
    assert answers(engine, q) == before == answers(restart(tiny_model, engine), q)


def test_undoing_a_like_in_the_shared_graph(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    first = [r.image_id for r in engine.modify(q.source, q.text, k=40)]
    before, graph = answers(engine, q, (None, "ann")), snapshot(engine)
    model, state = engine.model, engine.interactions.state
    receipt = engine.like(q.source, q.text, [first[12], first[25]], "ann")
    assert snapshot(engine)[:3] != graph[:3] and answers(engine, q, (None, "ann")) != before
    engine.undo(receipt.interaction_id, "ann")
    # taken back out of this graph state (no reload): the edges, the index and the like memory as before
    assert engine.model is model and engine.interactions.state is state and len(state.likes) == 0
    nodes, edges, size = snapshot(engine)[:3]
    assert edges == graph[1] and size == graph[2]
    assert nodes == {**graph[0], schema.CAPTION: graph[0][schema.CAPTION] + 1}  # the like's caption node, bare
    assert np.abs(engine.embeddings - graph[4]).max() < 1e-5
    assert answers(engine, q, (None, "ann")) == before == answers(restart(tiny_model, engine), q, (None, "ann"))


def test_undoing_one_of_two_equal_likes_keeps_the_other(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    queries = [q for q in engine.model.catalog.queries if q.split == "test"][:3]
    q = queries[0]
    ids = [r.image_id for r in engine.modify(q.source, q.text, k=40)]
    none, model = {i: answers(engine, x, (None, "ann")) for i, x in enumerate(queries)}, engine.model
    ann = engine.like(q.source, q.text, [ids[12], ids[25]], "ann")
    bob = engine.like(q.source, q.text, [ids[12], ids[25]], "bob")  # the same edges again
    engine.like(None, "black dress", [ids[30]], "eve")  # a like that stays
    engine.undo(bob.interaction_id, "bob")
    one = {i: answers(engine, x, (None, "ann")) for i, x in enumerate(queries)}
    assert engine.model is model and len(engine.interactions.state.likes) == 2  # no graph rebuild
    fresh = restart(tiny_model, engine)  # the log replayed: ann's and eve's likes
    assert one == {i: answers(fresh, x, (None, "ann")) for i, x in enumerate(queries)}
    assert snapshot(engine)[1] == snapshot(fresh)[1]  # the same edges: one copy of each went
    engine.undo(ann.interaction_id, "ann")
    engine.undo(engine.interaction_log.list(include_undone=False)[-1].id, "eve")
    after = {i: answers(engine, x, (None, "ann")) for i, x in enumerate(queries)}
    assert after == none == {i: answers(restart(tiny_model, engine), x, (None, "ann")) for i, x in enumerate(queries)}


def test_undoing_a_like_with_the_engines_reembedding_tolerance(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path, reembed_tol=None)
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    ids = [r.image_id for r in engine.modify(q.source, q.text, k=40)]
    emb = engine.embeddings.copy()
    receipt = engine.like(q.source, q.text, [ids[3], ids[7], ids[20]], "ann")
    engine.undo(receipt.interaction_id, "ann")
    fresh = restart(tiny_model, engine)
    assert engine.interactions.state.likes.liked == [] and engine.model.reembed_tol > 0
    assert np.abs(engine.embeddings - emb).max() < 1e-2 and np.abs(engine.embeddings - fresh.embeddings).max() < 1e-2
    for text in ("black dress", "striped shirt", q.text):
        mine, theirs = engine.search(text, k=10), fresh.search(text, k=10)
        assert {r.image_id for r in mine[:5]} <= {r.image_id for r in theirs}
        assert max(abs(a.score - b.score) for a, b in zip(mine, theirs, strict=True)) < 1e-2


def test_undo_checks_who_asks_and_which_interaction(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    ids = engine.items.image_ids
    mine = engine.dislike(ids[3], "ann")
    theirs = engine.add_metadata(ids[5], "that one is linen", STAFF)
    before = snapshot(engine)
    ann = ranking(engine.search(engine.items.captions[3], k=20, user="ann"))
    for error, call in [
        (PermissionDeniedError, lambda: engine.undo(mine.interaction_id, "bob")),
        (PermissionDeniedError, lambda: engine.undo(theirs.interaction_id, "ann")),
        (InteractionError, lambda: engine.undo(9999, "ann")),
        (InteractionError, lambda: engine.undo(mine.interaction_id, "")),
    ]:
        with pytest.raises(error, match="Fix:"):
            call()
    after = snapshot(engine)
    assert after[:4] == before[:4] and after[5] == before[5]
    np.testing.assert_array_equal(after[4], before[4])
    assert ranking(engine.search(engine.items.captions[3], k=20, user="ann")) == ann
    assert engine.interaction_log.get(mine.interaction_id).undone_by is None
    engine.undo(mine.interaction_id, STAFF)  # a trusted sender may undo anyone's
    assert "ann" not in engine.users
    with pytest.raises(InteractionError, match="already undone"):
        engine.undo(mine.interaction_id, "ann")


def test_malformed_interactions_raise_typed_errors_and_change_nothing(tiny_model, tmp_path):
    engine = load(tiny_model, tmp_path)
    xid = engine.items.image_ids[0]
    engine.add_metadata(xid, "that one is linen", STAFF)  # the log exists and has one row
    before = snapshot(engine)
    bad = [
        (InteractionError, lambda: engine.add_metadata(xid, "that has", "ann")),
        (InteractionError, lambda: engine.add_metadata(xid, "x " * 5120, "ann")),
        (InteractionError, lambda: engine.add_metadata(xid, "   ", "ann")),
        (InteractionError, lambda: engine.add_metadata(xid, "that one is linen", "")),
        (UnknownItemError, lambda: engine.add_metadata("no/such/photo.jpeg", "that one is linen", "ann")),
        (UnknownItemError, lambda: engine.like(xid, "in black", ["no/such/photo.jpeg"], "ann")),
        (InteractionError, lambda: engine.like(xid, "in black", [], "ann")),
        (InteractionError, lambda: engine.like(xid, "in black", [xid], "ann")),
        (InteractionError, lambda: engine.like(xid, "in black " * 200, [engine.items.image_ids[1]], "ann")),
        (UnknownItemError, lambda: engine.dislike("no/such/photo.jpeg", "ann")),
    ]
    for error, call in bad:
        with pytest.raises(error, match="Fix:"):
            call()
    after = snapshot(engine)
    assert after[:4] == before[:4] and after[5] == before[5]
    np.testing.assert_array_equal(after[4], before[4])


def test_the_tagger_reads_statements_and_its_absence_is_warned_once(
    tiny_model, tiny_tagger, tmp_path, caplog, monkeypatch
):
    from retrieval.interactions.tagger import MetadataTagger

    engine = load(tiny_model, tmp_path, tagger_dir=str(tiny_tagger))
    assert isinstance(engine.reader.tagger, MetadataTagger)
    x, cat = next(
        (i, c.partition(":")[2])
        for i in range(len(engine.items.image_ids))
        for c in keys(engine, i)
        if c.startswith("category:") and "sleeve:long-sleeve" not in keys(engine, i)
    )
    receipt = engine.add_metadata(engine.items.image_ids[x], f"that {cat} has long sleeves", STAFF)
    assert receipt.attributes == ("sleeve:long-sleeve",)  # the category names the subject, not a fact
    monkeypatch.setattr(statements, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="retrieval.interactions.statements"):
        plain = load(tiny_model, tmp_path / "plain")
        assert plain.reader.tagger is None
        statements.StatementReader(plain.taxonomy)
    assert sum("No metadata tagger" in r.message for r in caplog.records) == 1
    found = plain.reader.read("that dress is black, not red")
    assert [f.key for f in found] == ["color:black"] and all(not f.key.startswith(CATEGORY) for f in found)


_WRITER = """
import sys, time
from retrieval.engine.facade import Engine, EngineConfig
engine = Engine.load(sys.argv[1], cfg=EngineConfig(log_url=sys.argv[2], trusted=("staff",)))
receipt = engine.add_metadata(sys.argv[3], "that one is linen", "staff")
print(receipt.interaction_id, flush=True)
time.sleep(600)
"""


def test_an_acknowledged_interaction_survives_sigkill(tiny_model, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    engine = load(tiny_model, tmp_path / "probe")
    x = image_with(engine, (), ("material:linen",))
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tiny_model), url, engine.items.image_ids[x]],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    try:
        acked = int(proc.stdout.readline())  # the receipt: the row is committed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    restarted = Engine.load(tiny_model, cfg=EngineConfig(log_url=url, trusted=(STAFF,)))
    assert f"{acked}@global" in restarted.interactions.applied and "material:linen" in keys(restarted, x)
