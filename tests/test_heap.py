"""retrieval.index.heap.settle: long-lived objects leave the collector's walk, garbage cycles do not leak."""

import gc
import weakref

from retrieval.index.heap import settle


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_settle_freezes_survivors_and_a_later_settle_frees_dropped_cycles():
    kept = Node()
    dropped = Node()
    gone = weakref.ref(dropped)
    try:
        frozen = settle()
        assert frozen > 0 and gc.get_freeze_count() > 0  # (frozen objects freed by refcount leave the count)
        assert not any(o is kept for o in gc.get_objects())  # frozen objects are not walked any more
        del dropped
        gc.collect()
        assert gone() is not None  # frozen: a plain collection leaves the cycle alone
        settle()
        assert gone() is None  # unfrozen, collected, the rest frozen again
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())
