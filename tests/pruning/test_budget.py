import numpy as np
import pytest
import torch

from evoprune.models import CNN1d
from evoprune.pruning.budget import (
    InfeasibleBudgetError,
    check_budget,
    fill_to_budget,
    fit_to_budget,
    scale_to_budget,
    shrink_to_budget,
    uniform_mask,
    unit_scores,
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


def one_at_a_time_shrink(space, mask, budget):
    """The definition shrink_to_budget implements: drop the weakest removable unit, repeat."""
    mask, score = mask.copy(), unit_scores(space)
    floor = np.concatenate([np.full(g.size, g.min_keep) for g in space.groups])
    group_of = np.concatenate([np.full(g.size, i) for i, g in enumerate(space.groups)])
    while space.macs_ratio(mask) > budget:
        counts = space.keep_counts(mask)[group_of]
        candidates = np.flatnonzero(mask & (counts > floor))
        mask[candidates[np.argmin(score[candidates])]] = False
    return mask


@pytest.fixture
def cnn_space():
    torch.manual_seed(0)
    return PruningSpace(CNN1d((1, 40), 10).eval(), torch.randn(2, 1, 40))


def random_masks(space, count, seed=0):
    rng = np.random.default_rng(seed)
    return [space.repair(rng.random(space.num_units) < rng.uniform(0.05, 1.0))
            for _ in range(count)]


@pytest.mark.parametrize("budget", [0.5, 0.1, 0.05])
def test_shrink_drops_the_weakest_units_first(cnn_space, budget):
    for mask in random_masks(cnn_space, 6):
        np.testing.assert_array_equal(shrink_to_budget(cnn_space, mask, budget),
                                      one_at_a_time_shrink(cnn_space, mask, budget))


@pytest.mark.parametrize("budget", [0.5, 0.25, 0.1, 0.05])
def test_fill_leaves_no_unit_that_fits_out(cnn_space, budget):
    for mask in random_masks(cnn_space, 6, seed=1):
        mask = shrink_to_budget(cnn_space, mask, budget)
        filled = fill_to_budget(cnn_space, mask, budget)
        assert cnn_space.macs_ratio(filled) <= budget
        assert np.all(filled[mask])  # nothing the mask kept is dropped
        dropped = np.flatnonzero(~filled)
        one_more = np.repeat(filled[None], dropped.size, axis=0)
        one_more[np.arange(dropped.size), dropped] = True
        assert np.all(cnn_space.macs_ratio(one_more) > budget)
        assert cnn_space.macs_ratio(filled) >= 0.97 * budget


def test_fill_prefers_the_most_important_dropped_units(cnn_space):
    budget = 0.5
    half = uniform_mask(cnn_space, 0.2)
    filled = fill_to_budget(cnn_space, half, budget)
    score = unit_scores(cnn_space)
    added = filled & ~half
    for group in cnn_space.groups:  # within a group, every unit added outranks every one left
        part = cnn_space.group_slice(group)
        if added[part].any() and (~filled[part]).any():
            assert score[part][added[part]].min() >= score[part][~filled[part]].max()


def test_fit_to_budget_is_feasible_full_and_idempotent(cnn_space):
    for mask in random_masks(cnn_space, 8, seed=2):
        fitted = fit_to_budget(cnn_space, mask, 0.1)
        assert 0.97 * 0.1 <= cnn_space.macs_ratio(fitted) <= 0.1
        cnn_space.check(fitted)
        np.testing.assert_array_equal(fit_to_budget(cnn_space, fitted, 0.1), fitted)


def test_fill_returns_a_mask_over_budget_unchanged(cnn_space):
    full = cnn_space.full_mask()
    np.testing.assert_array_equal(fill_to_budget(cnn_space, full, 0.5), full)


def margins(space, counts):
    """Each group's keep fraction above its minimum."""
    return np.array([(c - g.min_keep) / g.size for c, g in zip(counts, space.groups)])


@pytest.mark.parametrize("budget", [0.5, 0.25, 0.1])
def test_scale_to_budget_keeps_the_proportions_and_spends_the_budget(cnn_space, budget):
    rng = np.random.default_rng(3)
    low = np.array([g.min_keep / g.size for g in cnn_space.groups])
    for _ in range(6):
        ratios = low + (1 - low) * rng.uniform(0.05, 1.0, len(cnn_space.groups))
        for grow in (False, True):
            counts = scale_to_budget(cnn_space, ratios, budget, grow=grow)
            mask = cnn_space.mask_from_counts(counts)
            assert cnn_space.macs_ratio(mask) <= budget
            factor = margins(cnn_space, counts) / (ratios - low)  # one factor, up to rounding
            sizes = np.array([g.size for g in cnn_space.groups])
            whole = np.array(counts) == sizes
            assert np.ptp(factor[~whole]) <= 2.0 / sizes.min() / (ratios - low).min()
        # grown, the budget is spent up to what one more unit per group would cost
        assert cnn_space.macs_ratio(mask) >= 0.9 * budget


def test_scale_to_budget_grows_only_when_asked_and_leaves_minimums(cnn_space):
    small = [g.min_keep / g.size for g in cnn_space.groups]
    small[0] = 0.3  # one group above its minimum, the rest at it
    assert scale_to_budget(cnn_space, small, 0.5) == [
        round(r * g.size) for r, g in zip(small, cnn_space.groups)]  # fits: unchanged
    grown = scale_to_budget(cnn_space, small, 0.5, grow=True)
    assert grown[0] > round(0.3 * cnn_space.groups[0].size)
    assert grown[1:] == [g.min_keep for g in cnn_space.groups[1:]]
