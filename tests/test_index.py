"""VectorIndex: exact results equal numpy, mutations stay consistent, HNSW recall, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.errors import ConfigError, InvalidQueryError, ModelNotFoundError, UnknownItemError
from retrieval.index.vectors import REBUILD_FRACTION, IndexConfig, VectorIndex

DIM = 16


def numpy_topk(queries: np.ndarray, ids: np.ndarray, vecs: np.ndarray, k: int, exclude: set[int] = frozenset()):
    """Reference exact search: scores and ids, best first (ties broken by lower id)."""
    scores = queries @ vecs.T
    scores[:, np.isin(ids, list(exclude))] = -np.inf
    order = np.lexsort((np.broadcast_to(ids, scores.shape), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), ids[order]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((500, DIM)).astype(np.float32)
    ids = rng.permutation(10_000)[:500].astype(np.int64)  # sparse, unordered node ids
    queries = rng.standard_normal((20, DIM)).astype(np.float32)
    return ids, vecs, queries


def build(kind: str, ids: np.ndarray, vecs: np.ndarray) -> VectorIndex:
    index = VectorIndex(DIM, IndexConfig(kind=kind, ef_search=128))
    index.add(ids, vecs)
    return index


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_flat_equals_numpy(data):
    ids, vecs, queries = data
    index = build("flat", ids, vecs)
    assert len(index) == 500
    assert_same(index.search(queries, 10), numpy_topk(queries, ids, vecs, 10))
    single = index.search(queries[0], 5)  # one 1-d query
    assert single[1].shape == (1, 5)


def test_flat_mutations_stay_consistent_with_numpy(data):
    ids, vecs, queries = data
    index = build("flat", ids, vecs)
    rng = np.random.default_rng(1)
    live_ids, live_vecs = ids.copy(), vecs.copy()
    gone = ids[:50]
    index.remove(gone)
    live_ids, live_vecs = live_ids[50:], live_vecs[50:]
    assert len(index) == 450 and int(gone[0]) not in index
    new_vecs = rng.standard_normal((30, DIM)).astype(np.float32)
    index.update(live_ids[:30], new_vecs)
    live_vecs[:30] = new_vecs
    fresh_ids = np.arange(20_000, 20_010, dtype=np.int64)
    fresh_vecs = rng.standard_normal((10, DIM)).astype(np.float32)
    index.add(fresh_ids, fresh_vecs)
    live_ids, live_vecs = np.concatenate([live_ids, fresh_ids]), np.concatenate([live_vecs, fresh_vecs])
    assert len(index) == len(live_ids)
    assert_same(index.search(queries, 10), numpy_topk(queries, live_ids, live_vecs, 10))
    np.testing.assert_allclose(index.vector(int(live_ids[0])), live_vecs[0])


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_exclusions_still_return_k(data, kind):
    ids, vecs, queries = data
    index = build(kind, ids, vecs)
    top = index.search(queries[:1], 20)[1][0]
    exclude = {int(i) for i in top[:15]} | {123_456}  # unknown ids are ignored
    scores, got = index.search(queries[:1], 10, exclude=exclude)
    assert got.shape == (1, 10)
    assert not exclude & {int(i) for i in got[0]}
    want = numpy_topk(queries[:1], ids, vecs, 10, exclude)
    assert_same((scores, got), want)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_huge_k_is_clipped(data, kind):
    ids, vecs, queries = data
    index = build(kind, ids[:40], vecs[:40])
    scores, got = index.search(queries[:2], 1000, exclude={int(ids[0])})
    assert got.shape == (2, 39)
    assert (got >= 0).all() and np.isfinite(scores).all()
    empty = VectorIndex(DIM)
    assert empty.search(queries[:1], 3)[1].shape == (1, 0)


def test_hnsw_recall_on_5k():
    rng = np.random.default_rng(3)
    vecs = rng.standard_normal((5000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(5000, dtype=np.int64) * 3
    queries = rng.standard_normal((200, 32)).astype(np.float32)
    index = VectorIndex(32, IndexConfig(kind="hnsw"))
    index.add(ids, vecs)
    got = index.search(queries, 10)[1]
    want = numpy_topk(queries, ids, vecs, 10)[1]
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95, recall


def test_hnsw_update_remove_and_rebuild(data):
    ids, vecs, queries = data
    index = build("hnsw", ids, vecs)
    rng = np.random.default_rng(2)
    new_vecs = rng.standard_normal((20, DIM)).astype(np.float32) * 5  # long vectors: they win
    index.update(ids[:20], new_vecs)
    assert len(index) == 500
    got = index.search(queries, 5)[1]
    live_vecs = vecs.copy()
    live_vecs[:20] = new_vecs
    assert (got == numpy_topk(queries, ids, live_vecs, 5)[1]).mean() >= 0.95
    for row in got:  # the stale slot of an updated id is never returned beside its new one
        assert len(set(row.tolist())) == len(row)
    # remove enough to trigger the rebuild; results stay equal to numpy over the survivors
    n_remove = int(500 * REBUILD_FRACTION) + 30
    index.remove(ids[:n_remove])
    assert len(index) == 500 - n_remove
    assert not index._dead.any(), "the index should have been rebuilt"
    want = numpy_topk(queries, ids[n_remove:], live_vecs[n_remove:], 10)[1]
    got = index.search(queries, 10)[1]
    assert np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)]) >= 0.95


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_identical(tmp_path, data, kind):
    ids, vecs, queries = data
    index = build(kind, ids, vecs)
    index.remove(ids[:5])  # hnsw keeps dead slots: they must stay dead after load
    before = index.search(queries, 10, exclude={int(ids[10])})
    index.save(tmp_path / "ix")
    assert (tmp_path / "ix" / "index_config.json").is_file()
    loaded = VectorIndex.load(tmp_path / "ix")
    assert loaded.cfg == index.cfg and len(loaded) == len(index)
    after = loaded.search(queries, 10, exclude={int(ids[10])})
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[0], after[0])
    assert int(ids[0]) not in loaded


def test_errors(tmp_path, data):
    ids, vecs, queries = data
    index = build("flat", ids, vecs)
    for bad_k in (0, -3, 2.5, True):
        with pytest.raises(InvalidQueryError, match="k must be a positive integer"):
            index.search(queries, bad_k)
    with pytest.raises(InvalidQueryError, match="index holds 16-d") as err:
        index.search(np.zeros((1, 8), np.float32), 3)
    assert "Fix:" in str(err.value)
    with pytest.raises(InvalidQueryError, match="index holds 16-d"):
        index.add([99_999], np.zeros((1, 3), np.float32))
    with pytest.raises(InvalidQueryError, match="already in the index"):
        index.add(ids[:1], vecs[:1])
    with pytest.raises(InvalidQueryError, match="duplicates"):
        index.add([1, 1], vecs[:2])
    with pytest.raises(InvalidQueryError, match="NaN"):
        index.search(np.full((1, DIM), np.nan, np.float32), 3)
    with pytest.raises(UnknownItemError, match="not in the index"):
        index.remove([987_654])
    with pytest.raises(ModelNotFoundError):
        VectorIndex.load(tmp_path / "nothing")
    with pytest.raises(ConfigError):
        IndexConfig(kind="ivf")
    with pytest.raises(ConfigError):
        IndexConfig(threads=0)


def test_flat_update_overwrites_in_place_and_stays_exact_after_removals_and_additions(data):
    ids, vecs, queries = data
    index = build("flat", ids, vecs)
    live_ids, live = ids.copy(), vecs.copy()
    rng = np.random.default_rng(3)
    for step in range(4):
        pick = rng.choice(len(live_ids), size=5, replace=False)
        fresh = rng.standard_normal((5, DIM)).astype(np.float32)
        index.update(live_ids[pick], fresh)  # present ids: written into the flat storage in place
        live[pick] = fresh
        assert len(index) == len(live_ids)
        assert_same(index.search(queries, 10), numpy_topk(queries, live_ids, live, 10))
        for j in pick[:2]:
            np.testing.assert_array_equal(index.vector(int(live_ids[j])), live[j])
        gone = live_ids[pick[:2]]  # then change the slot layout under the cached id -> slot map
        index.remove(gone)
        keep = ~np.isin(live_ids, gone)
        live_ids, live = live_ids[keep], live[keep]
        new_ids = np.array([20_000 + 10 * step, 20_001 + 10 * step], dtype=np.int64)
        new_vecs = rng.standard_normal((2, DIM)).astype(np.float32)
        index.update(np.concatenate([new_ids, live_ids[:1]]), np.concatenate([new_vecs, live[:1] * 2]))  # mixed
        live_ids, live = np.concatenate([live_ids, new_ids]), np.concatenate([live, new_vecs])
        live[0] *= 2
        assert_same(index.search(queries, 10), numpy_topk(queries, live_ids, live, 10))
