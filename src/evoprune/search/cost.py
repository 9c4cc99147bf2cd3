"""The search's budget in its own cost: MACs (analytic) or measured latency.

With ``evaluator.cost=macs`` these are the MACs helpers of
:mod:`evoprune.pruning.budget`, unchanged. With latency, a mask's cost is only known once it is
timed, so the feasibility check, the uniform mask a population starts around and the last-resort
shrink measure candidates through the evaluator (each mask timed once, then cached).
"""

from __future__ import annotations

import numpy as np

from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.pruning.budget import (
    InfeasibleBudgetError,
    check_budget,
    shrink_to_budget,
    smallest_mask,
    uniform_mask,
)
from evoprune.pruning.space import PruningSpace

COST_UNITS = {"macs": "MACs", "latency": "latency"}  # "<ratio> of dense <unit>"
_BISECTION_STEPS = 6  # uniform keep ratio to about 1/64 of the MACs range: a starting point
_SHRINK_STEPS = 10


def check_search_budget(space: PruningSpace, evaluator: Evaluator, budget: float) -> None:
    """Refuse a budget the search cannot meet: outside (0, 1] or below the per-group minimum in
    MACs and, with latency as the cost, below the smallest mask's measured latency."""
    check_budget(space, budget)
    if evaluator.cost != "latency":
        return
    [smallest] = evaluator.evaluate([smallest_mask(space)])
    if smallest.cost_ratio >= 1.0:
        raise InfeasibleBudgetError(
            f"with latency as the cost, the smallest mask timed {smallest.latency_ms:.3f} ms, "
            f"no faster than the dense model ({evaluator.dense_latency_ms:.3f} ms): CPU timings "
            "are unsteady on this machine (busy cores) or pruning cannot speed this model up; "
            "time on one thread, with more repeats, or budget MACs instead"
        )
    if smallest.cost_ratio > budget:
        raise InfeasibleBudgetError(
            f"budget={budget} cannot be met in latency: keeping the minimum of "
            f"every group (min_keep={space.min_keep_fraction}) already takes "
            f"{smallest.cost_ratio:.4f} of dense latency ({smallest.latency_ms:.3f} of "
            f"{evaluator.dense_latency_ms:.3f} ms); use budget >= "
            f"{np.ceil(smallest.cost_ratio * 1e4) / 1e4:.4f}, lower min_keep, or budget MACs "
            "instead"
        )


def uniform_mask_within(space: PruningSpace, evaluator: Evaluator, budget: float) -> np.ndarray:
    """The uniform-magnitude mask (same keep ratio in every group) that meets the budget.

    In MACs: :func:`uniform_mask`, the largest such ratio. In latency: a short bisection over
    the MACs target of uniform masks, timing each probe (latency grows with MACs, though not in
    proportion and not exactly monotonically, so this is a good start, not an optimum). Assumes
    :func:`check_search_budget` passed.
    """
    if evaluator.cost != "latency":
        return uniform_mask(space, budget)
    low, high = float(space.macs_ratio(smallest_mask(space))), 1.0
    best = smallest_mask(space)  # measured within budget by check_search_budget
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        mask = uniform_mask(space, middle)
        [objectives] = evaluator.evaluate([mask])
        if objectives.cost_ratio <= budget:
            low, best = middle, mask
        else:
            high = middle
    return best


def shrink_within(
    space: PruningSpace, evaluator: Evaluator, mask: np.ndarray, budget: float
) -> tuple[np.ndarray, Objectives]:
    """Drop the least important units of ``mask`` until it meets the budget; return the mask
    and its objectives.

    In MACs: :func:`shrink_to_budget`. In latency: shrink to a MACs target scaled down by how
    far the measured latency is over the budget, and repeat; the smallest mask (measured
    within budget by :func:`check_search_budget`) is the last resort.
    """
    if evaluator.cost != "latency":
        mask = shrink_to_budget(space, mask, budget)
        [objectives] = evaluator.evaluate([mask])
        return mask, objectives
    smallest = float(space.macs_ratio(smallest_mask(space)))
    [objectives] = evaluator.evaluate([mask])
    for _ in range(_SHRINK_STEPS):
        if objectives.cost_ratio <= budget:
            return mask, objectives
        if objectives.macs_ratio <= smallest:
            break
        target = max(smallest, objectives.macs_ratio * budget / objectives.cost_ratio)
        mask = shrink_to_budget(space, mask, target)
        [objectives] = evaluator.evaluate([mask])
    mask = smallest_mask(space)
    [objectives] = evaluator.evaluate([mask])
    if objectives.cost_ratio > budget:  # only if the evaluator does not cache, and timing noise
        raise InfeasibleBudgetError(
            f"no mask met budget={budget} of dense latency: the smallest one now measures "
            f"{objectives.cost_ratio:.4f}; timings are noisy, raise the budget or the number "
            "of timing repeats"
        )
    return mask, objectives
