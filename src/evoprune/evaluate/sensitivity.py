"""Per-group pruning sensitivity: how much validation accuracy each group loses when it alone
is pruned, by magnitude, to a range of keep ratios (the others stay dense).

It shows which layers a search can prune hard and which it must spare, and explains why a
searched mask differs from the uniform one. No fine-tuning: these are one-shot accuracies, as
the evaluator scores candidates (with its BatchNorm recalibration, if enabled). The files a run
writes of it are :mod:`evoprune.report.sensitivity`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evoprune.evaluate.evaluator import Evaluator
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace

DEFAULT_RATIOS = (0.9, 0.75, 0.5, 0.25, 0.1)


def sensitivity(
    space: PruningSpace | UnstructuredSpace,
    evaluator: Evaluator,
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
) -> dict:
    """Validation accuracy and MACs ratio of every (group, keep ratio) pair; JSON-ready.

    Group ``g`` at ratio ``r`` keeps its ``round(r * size)`` highest-magnitude units, clipped to
    the group's ``min_keep`` (``space.mask_from_counts``), so the ``kept`` and ``keep_ratio``
    recorded can differ from ``r``. Works for both pruning kinds: with an unstructured space a
    group is one layer and its units are weights. All masks, the dense one included, are
    scored in one ``evaluator.evaluate`` call. Returns::

        {"ratios": [...],
         "dense": {"val_acc", "macs"},
         "groups": [{"name", "kind", "size", "min_keep",
                     "points": [{"ratio", "kept", "keep_ratio", "val_acc", "macs_ratio"}, ...]},
                    ...]}

    with one point per requested ratio, in the order given.
    """
    ratios = check_ratios(ratios)
    if evaluator.space is not space:
        raise ValueError("the evaluator scores masks of another pruning space; build it with "
                         "this space (Evaluator(model, space, ...))")
    full = [g.size for g in space.groups]
    masks, cells = [space.full_mask()], []
    for index, group in enumerate(space.groups):
        for ratio in ratios:
            counts = list(full)
            counts[index] = round(ratio * group.size)
            masks.append(space.mask_from_counts(counts))
            cells.append((index, ratio))
    dense, *scored = evaluator.evaluate(masks)

    groups = [{"name": g.name, "kind": g.kind, "size": g.size, "min_keep": g.min_keep,
               "points": []} for g in space.groups]
    for (index, ratio), mask, objectives in zip(cells, masks[1:], scored):
        group = space.groups[index]
        kept = int(space.keep_counts(mask)[index])
        groups[index]["points"].append({
            "ratio": ratio,
            "kept": kept,
            "keep_ratio": kept / group.size,
            "val_acc": float(objectives.val_acc),
            "macs_ratio": float(objectives.macs_ratio),
        })
    task = getattr(evaluator, "task", None)
    return {
        "ratios": ratios,
        "metric": "accuracy" if task is None else task.score_name,  # what every val_acc is
        "dense": {"val_acc": float(dense.val_acc), "macs": int(dense.macs)},
        "groups": groups,
    }


def check_ratios(ratios: Sequence[float]) -> list[float]:
    """The ratios as floats: non-empty, distinct, each a keep fraction in (0, 1]."""
    if isinstance(ratios, (str, bytes)) or not isinstance(ratios, Sequence) or not ratios:
        raise ValueError(f"ratios must be a non-empty list of keep ratios in "
                         f"(0, 1], got {ratios!r}")
    values = []
    for ratio in ratios:
        if (isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.floating))
                or not math.isfinite(ratio) or not 0.0 < ratio <= 1.0):
            raise ValueError(f"ratios must each be a keep ratio in (0, 1], got "
                             f"{ratio!r} in {list(ratios)}")
        values.append(float(ratio))
    if len(set(values)) != len(values):
        raise ValueError(f"ratios must be distinct, got {values}")
    return values
