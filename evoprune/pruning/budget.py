"""Masks at a MACs budget: feasibility, uniform keep ratios, and greedy shrinking."""

from __future__ import annotations

import numpy as np

from evoprune.pruning.space import PruningSpace


class InfeasibleBudgetError(ValueError):
    """Even the smallest allowed mask costs more than the budget."""


def check_budget(space: PruningSpace, budget: float) -> None:
    """Refuse a budget outside (0, 1] or below what the per-group minimum allows."""
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must be a fraction of dense MACs in (0, 1], got {budget}")
    smallest = space.macs_ratio(space.mask_from_counts([0] * len(space.groups)))
    if smallest > budget:
        raise InfeasibleBudgetError(
            f"budget={budget} cannot be met: keeping the minimum of every group "
            f"(pruning.min_keep={space.min_keep_fraction}) already costs {smallest:.4f} of dense "
            f"MACs; use budget >= {np.ceil(smallest * 1e4) / 1e4:.4f} or lower pruning.min_keep"
        )


def uniform_mask(space: PruningSpace, budget: float) -> np.ndarray:
    """The mask keeping the same fraction of every group (by magnitude), the largest such
    fraction whose MACs fit the budget. Bisection works because MACs grow with the fraction."""
    check_budget(space, budget)
    low, high = 0.0, 1.0
    if space.macs_ratio(space.mask_from_ratios([high] * len(space.groups))) <= budget:
        return space.mask_from_ratios([high] * len(space.groups))
    for _ in range(40):
        middle = (low + high) / 2
        if space.macs_ratio(space.mask_from_ratios([middle] * len(space.groups))) <= budget:
            low = middle
        else:
            high = middle
    return space.mask_from_ratios([low] * len(space.groups))


def shrink_to_budget(space: PruningSpace, mask: np.ndarray, budget: float) -> np.ndarray:
    """Drop the least important kept units, one at a time, until the mask meets the budget.

    Importance is normalised per group (unit magnitude / group mean) so that groups with
    larger weights are not protected just for their scale.
    """
    check_budget(space, budget)
    mask = space.check(mask).copy()
    score = np.concatenate([g.importance / (g.importance.mean() + 1e-12) for g in space.groups])
    floor = np.concatenate([np.full(g.size, g.min_keep) for g in space.groups])
    group_of = np.concatenate([np.full(g.size, i) for i, g in enumerate(space.groups)])
    while space.macs_ratio(mask) > budget:
        counts = space.keep_counts(mask)[group_of]
        candidates = np.flatnonzero(mask & (counts > floor))
        mask[candidates[np.argmin(score[candidates])]] = False
    return mask
