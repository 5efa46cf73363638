"""No shopper changes what another sees: per-shopper likes, dislikes and statements, staff's count for all.

The served engine runs with ``like_scope="user"`` (``actions/engine_provider.py``, TAILOR_LIKE_SCOPE); a
shopper's statements are pending until staff accept them. The action-level half (a shopper can only
like or select what was shown to them) is in ``tests/test_actions.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.engine.facade import Engine, EngineConfig

pytestmark = pytest.mark.engine

STAFF = "staff:anna"


def load(model: Path, tmp_path: Path) -> Engine:
    cfg = EngineConfig(log_url=f"sqlite:///{tmp_path / 'interactions.db'}", trusted=(STAFF,), like_scope="user")
    return Engine.load(model, cfg=cfg)


def top4(engine: Engine, user: str) -> list[list[str]]:
    """A new shopper's first four answers to a few searches and modifications."""
    queries = [q for q in engine.model.catalog.queries if q.split == "test"][:4]
    out = [[r.image_id for r in engine.modify(q.source, q.text, k=4, user=user)] for q in queries]
    for words in ("dress", "black top", "red skirt"):
        out.append([r.image_id for r in engine.search(words, k=4, user=user)])
    return out


def test_500_likes_from_50_senders_leave_a_new_shoppers_top_4_unchanged(tiny_model: Path, tmp_path: Path) -> None:
    engine = load(tiny_model, tmp_path)
    before = top4(engine, "newcomer-1")
    queries = [q for q in engine.model.catalog.queries if q.split == "test"][:4]
    ids = engine.items.image_ids
    for s in range(50):
        sender = f"flooder-{s}"
        for n in range(10):
            q = queries[n % len(queries)]
            shown = [r.image_id for r in engine.modify(q.source, q.text, k=12, user=sender)]
            target = shown[-1] if n % 2 else ids[(37 * s + 11 * n) % len(ids)]  # a shown one, or any photo
            engine.like(q.source, q.text, [target], sender)
        engine.dislike(before[0][0], sender)  # everyone "not that one"s the newcomer's first answer
        engine.add_metadata(before[-1][0], "that one is linen", sender)
    assert len(engine.interactions.interaction_log) >= 600
    assert top4(engine, "newcomer-2") == before
    assert top4(Engine.load(tiny_model, cfg=engine.cfg), "newcomer-3") == before  # also after a restart


def test_a_staff_like_counts_for_everyone(tiny_model: Path, tmp_path: Path) -> None:
    engine = load(tiny_model, tmp_path)
    q = next(q for q in engine.model.catalog.queries if q.split == "test")
    shown = [r.image_id for r in engine.modify(q.source, q.text, k=30)]
    assert engine.like(q.source, q.text, [shown[20]], "shopper-1").scope == "user"
    staff = engine.like(q.source, q.text, [shown[25]], STAFF)
    assert staff.scope == "global"
    after = [r.image_id for r in engine.modify(q.source, q.text, k=30, user="newcomer")]
    assert after.index(shown[25]) < 25  # lifted for a shopper who never liked it
