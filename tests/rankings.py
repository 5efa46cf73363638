"""Comparing two rankings as a shopper sees them: same products in the same order, same scores.

Float sums done in another order (a replayed log, the index instead of numpy) differ in the last
bits, so scores match within ``TOL`` and two results whose scores are that close may trade places.
"""

from __future__ import annotations

from dataclasses import dataclass

TOL = 1e-4


@dataclass(frozen=True, eq=False)
class Ranking:
    """The (image id, score) list of one answer."""

    items: tuple[tuple[str, float], ...]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ranking):
            return NotImplemented
        if len(self.items) != len(other.items):
            return False
        mine = dict(self.items)
        last = self.items[-1][1] if self.items else 0.0
        for (a, sa), (b, sb) in zip(self.items, other.items, strict=True):
            if abs(sa - sb) > TOL:
                return False
            if a != b:  # only a near tie may trade places, inside the list or across its cut
                elsewhere = mine.get(b)
                if abs((last if elsewhere is None else elsewhere) - sb) > TOL:
                    return False
        return True

    def __repr__(self) -> str:
        return "Ranking(" + ", ".join(f"{i}:{s:.5f}" for i, s in self.items) + ")"


def ranking(results) -> Ranking:
    """The ranking of a list of engine results."""
    return Ranking(tuple((r.image_id, float(r.score)) for r in results))
