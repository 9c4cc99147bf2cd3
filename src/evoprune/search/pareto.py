"""Pareto fronts of accuracy against cost, and their exact 2-D hypervolume.

A point is ``(val_acc, macs_ratio)``: accuracy is maximised, the MACs ratio minimised (or the
latency ratio, when latency is the search's cost). The functions here are exact and take plain
pairs and the reference point as arguments, so they can be checked against hand computations
and reused on any searcher's candidates, not only NSGA-II's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from evoprune.infra.validators import check_int

# The reference point's MACs ratio sits just past the dense model (1.0), so that a front member
# at full MACs still adds a sliver of area instead of vanishing from the hypervolume.
REFERENCE_COST = 1.0 + 1e-6

Point = Sequence[float]  # (val_acc, macs_ratio)

def chance_accuracy(num_classes: int) -> float:
    """The accuracy of guessing one class for every sample of a balanced ``num_classes``-way
    problem: what a pruned model keeps for free, so the hypervolume counts only what is above
    it."""
    check_int("num_classes", num_classes, 2)
    return 1.0 / num_classes


def reference_point(chance: float) -> tuple[float, float]:
    """The hypervolume reference ``(worst score, worst cost ratio)``: the score of a model that
    ignores its input (``chance``; :func:`chance_accuracy` for a classifier), and just past the
    dense model's cost."""
    return (float(chance), REFERENCE_COST)


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as accurate and at most as costly as ``b``, and better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def non_dominated(points: Sequence[Point]) -> list[int]:
    """Indices of the points no other point dominates, in their original order.

    Points with identical objectives do not dominate each other; only the first of them is
    kept, so the result is a set of distinct, mutually non-dominated trade-offs.
    """
    _check_points(points)
    keep = []
    seen = set()
    for i, point in enumerate(points):
        key = (float(point[0]), float(point[1]))
        if key in seen:
            continue
        if not any(dominates(other, point) for other in points):
            keep.append(i)
            seen.add(key)
    return keep


def hypervolume(points: Sequence[Point], ref: Point) -> float:
    """Exact area dominated by ``points`` and bounded by ``ref`` = (worst accuracy, worst MACs
    ratio; :func:`reference_point` for a classifier): the union of the rectangles
    [macs_ratio, ref_macs] x [ref_acc, val_acc].

    Points need not be non-dominated: sweeping left to right in MACs ratio, each strip up to
    the next point is as tall as the best accuracy seen so far, which is exactly the union.
    Points no better than the reference in either objective add nothing.
    """
    _check_points(points)
    ref_acc, ref_macs = float(ref[0]), float(ref[1])
    useful = sorted((float(m), float(a)) for a, m in points if a > ref_acc and m < ref_macs)
    area, best = 0.0, ref_acc
    for i, (macs, acc) in enumerate(useful):
        best = max(best, acc)
        right = useful[i + 1][0] if i + 1 < len(useful) else ref_macs
        area += (right - macs) * (best - ref_acc)
    return area


def _check_points(points: Sequence[Point]) -> None:
    for point in points:
        if len(point) != 2 or not all(math.isfinite(float(v)) for v in point):
            raise ValueError(f"a point must be a finite (val_acc, macs_ratio) pair, got {point}")
