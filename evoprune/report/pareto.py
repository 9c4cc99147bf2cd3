"""Accuracy / cost trade-offs: Pareto fronts, their 2-D hypervolume, and ``pareto.json`` /
``pareto.png``.

A point is ``(val_acc, macs_ratio)``: accuracy is maximised, the MACs ratio minimised (or the
latency ratio, when latency is the search's cost). Both functions here are exact and take plain
pairs, so they can be checked against hand computations and reused on any searcher's
candidates, not only NSGA-II's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from evoprune.infra.atomic import write_atomic

# The reference point's MACs ratio sits just past the dense model (1.0), so that a front member
# at full MACs still adds a sliver of area instead of vanishing from the hypervolume.
REFERENCE = (0.0, 1.0 + 1e-6)

Point = Sequence[float]  # (val_acc, macs_ratio)

# the cost axis of pareto.json / pareto.png, by the key front entries carry it under
COST_AXES = {
    "macs_ratio": ("MACs", "MACs ratio (pruned / dense multiply-accumulates per sample)"),
    "latency_ratio": ("latency", "latency ratio (pruned / dense median CPU latency)"),
}


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


def hypervolume(points: Sequence[Point], ref: Point = REFERENCE) -> float:
    """Exact area dominated by ``points`` and bounded by ``ref`` = (worst accuracy, worst MACs
    ratio): the union of the rectangles [macs_ratio, ref_macs] x [ref_acc, val_acc].

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


def write_pareto(
    front: Sequence[Mapping],
    out_dir: str | Path,
    *,
    dense: Mapping | None = None,
    baselines: Mapping[str, Mapping] | None = None,
    cost_key: str = "macs_ratio",
) -> dict[str, Path]:
    """Write ``pareto.json`` and ``pareto.png`` into ``out_dir`` (each atomically).

    Args:
        front: front members, each a mapping with at least ``val_acc`` and ``cost_key``
            (e.g. ``NSGA2Search.front``); written in order of that cost.
        dense: the dense model's ``{"val_acc", cost_key}`` (shown as a star), if known.
        baselines: ``{name: {"val_acc", cost_key, ...}}``, plotted as labelled points so the
            front can be compared with single-budget methods.
        cost_key: the cost objective, ``macs_ratio`` or ``latency_ratio``.

    Returns the paths written, by name (``json``, ``png``).
    """
    if cost_key not in COST_AXES:
        raise ValueError(f"cost_key must be one of {sorted(COST_AXES)}, got {cost_key!r}")
    if not front:
        raise ValueError("write_pareto needs a non-empty front")
    for where, entries in (("front", list(front)), ("dense", [dense] if dense else []),
                           ("baselines", list((baselines or {}).values()))):
        for entry in entries:
            missing = {"val_acc", cost_key} - set(entry)
            if missing:
                raise ValueError(f"every {where} entry needs val_acc and {cost_key}; "
                                 f"missing {sorted(missing)} in {dict(entry)}")
    front = sorted(front, key=lambda e: (e[cost_key], -e["val_acc"]))
    points = [(e["val_acc"], e[cost_key]) for e in front]
    out_dir = Path(out_dir)
    payload = {
        "objectives": {"val_acc": "max", cost_key: "min"},
        "reference": list(REFERENCE),
        "hypervolume": hypervolume(points),
        "front": [dict(entry) for entry in front],
        "dense": dict(dense) if dense else None,
        "baselines": {name: dict(point) for name, point in (baselines or {}).items()},
    }
    paths = {"json": out_dir / "pareto.json", "png": out_dir / "pareto.png"}
    # allow_nan=False: a NaN here is a bug upstream, and strict JSON readers would choke on it
    text = json.dumps(payload, indent=2, allow_nan=False, default=_jsonable)
    write_atomic(paths["json"], lambda tmp: tmp.write_text(text + "\n"))
    _plot(points, dense, baselines or {}, paths["png"], cost_key)
    return paths


def _plot(points: list[tuple], dense: Mapping | None, baselines: Mapping[str, Mapping],
          path: Path, cost_key: str) -> None:
    """The front as a step line (the best accuracy reachable at each cost ratio), the dense
    model as a star, and each baseline as a labelled point."""
    # the Agg canvas directly, not pyplot: no global backend switch, safe inside Hydra jobs
    # imported here: searches use this module's hypervolume, and matplotlib takes a second
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    macs = [m for _, m in points]
    accs = [a for a, _ in points]
    # where="post": between two members, the cheaper one's accuracy is what is attainable
    ax.step(macs, accs, where="post", marker="o", label=f"Pareto front ({len(points)})")
    if dense:
        ax.plot([dense[cost_key]], [dense["val_acc"]], marker="*", markersize=12,
                color="black", linestyle="none", label="dense")
    for name, point in baselines.items():
        ax.plot([point[cost_key]], [point["val_acc"]], marker="s", linestyle="none",
                color="tab:red", alpha=0.8)
        ax.annotate(name, (point[cost_key], point["val_acc"]), textcoords="offset points",
                    xytext=(4, 4), fontsize="small")
    unit, label = COST_AXES[cost_key]
    ax.set_xlabel(label)
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"accuracy / {unit} trade-off: hypervolume {hypervolume(points):.4f}",
                 fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))


def _check_points(points: Sequence[Point]) -> None:
    for point in points:
        if len(point) != 2 or not all(math.isfinite(float(v)) for v in point):
            raise ValueError(f"a point must be a finite (val_acc, macs_ratio) pair, got {point}")


def _jsonable(value):
    """NumPy scalars and arrays that slipped into a front entry."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to pareto.json")
