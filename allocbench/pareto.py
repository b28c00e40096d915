"""The Pareto front: the one rule for "no other point is at least as good on every measure
and better on one", used by a sweep to choose what to time (--time front) and by its report
to draw and name the front. Lower is better on every measure."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def front(points: Sequence[tuple[Hashable, Sequence[float]]]) -> list[Hashable]:
    """The keys of the points no other point dominates, in the order given. A point with a
    missing measure (NaN) is on no front."""
    measured = [(key, tuple(values)) for key, values in points if all(v == v for v in values)]
    out = []
    for key, values in measured:
        dominated = any(
            all(o <= v for o, v in zip(other, values)) and any(o < v for o, v in zip(other, values))
            for _, other in measured
        )
        if not dominated:
            out.append(key)
    return out
