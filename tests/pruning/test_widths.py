"""pruning.round_to: every mask a search or a baseline can produce keeps hardware-friendly
widths, and the budget helpers stay feasible and tight on those widths."""

import numpy as np
import pytest
import torch

from evoprune.models import CNN1d
from evoprune.models.recurrent import RecurrentClassifier
from evoprune.pruning.budget import (
    check_budget,
    fill_to_budget,
    fit_to_budget,
    keep_order,
    largest_prefix_mask,
    scale_to_budget,
    shrink_to_budget,
    smallest_mask,
    uniform_mask,
)
from evoprune.pruning.grouping import Group
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.widths import legal_count, with_step


def group(size, min_keep, kind="channel", step=8):
    return with_step(Group(name="g", kind=kind, size=size, min_keep=min_keep, offset=0,
                           importance=np.arange(size, dtype=float), members=("g",)), step)


def test_the_minimum_rises_to_the_first_multiple_or_the_whole_group():
    assert group(30, 3).min_keep == 8 and group(30, 9).min_keep == 16
    assert group(5, 1).min_keep == 5  # narrower than one step: never pruned
    assert legal_counts(group(30, 3)) == [8, 16, 24, 30]
    assert legal_counts(group(5, 1)) == [5]


def legal_counts(g):
    """Every count ``g`` may keep, smallest first."""
    return [count for count in range(g.size + 1) if legal_count(g, count, "down") == count]


@pytest.mark.parametrize("count, nearest, down, up", [
    (0, 8, 8, 8), (11, 8, 8, 16), (12, 16, 8, 16), (16, 16, 16, 16), (27, 30, 24, 30),
    (29, 30, 24, 30), (40, 30, 30, 30)])
def test_legal_count_moves_to_a_multiple_or_the_whole_group(count, nearest, down, up):
    g = group(30, 3)
    assert (legal_count(g, count), legal_count(g, count, "down"),
            legal_count(g, count, "up")) == (nearest, down, up)


def test_heads_and_blocks_are_counts_not_widths():
    for kind in ("head", "block"):
        assert group(30, 3, kind=kind).step == 1
    assert legal_count(group(30, 3, kind="head"), 7) == 7


def test_legal_count_is_monotone_for_bisections():
    g = group(61, 2)
    for how in ("nearest", "down", "up"):
        counts = [legal_count(g, c, how) for c in range(-3, 70)]
        assert counts == sorted(counts)


@pytest.fixture(params=[8, 3])
def space(request):
    torch.manual_seed(0)
    return PruningSpace(CNN1d((1, 40), 10).eval(), torch.randn(2, 1, 40),
                        round_to=request.param)


def legal(space, mask):
    space.check(mask)  # raises for a count off the steps
    return all(k % g.step == 0 or k == g.size for g, k in zip(space.groups,
                                                              space.keep_counts(mask)))


def test_check_names_the_step_and_the_allowed_counts(space):
    mask = space.full_mask()
    mask[space.groups[0].offset] = False  # 31 of 32
    with pytest.raises(ValueError, match=f"pruning.round_to={space.round_to} it keeps a "
                                         f"multiple of {space.round_to} or all 32"):
        space.check(mask)


def random_masks(space, count, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random(space.num_units) < rng.uniform(0.05, 1.0) for _ in range(count)]


@pytest.mark.parametrize("budget", [0.5, 0.25, 0.1])
def test_every_budget_helper_gives_feasible_masks_on_the_steps(space, budget):
    rng = np.random.default_rng(1)
    masks = [uniform_mask(space, budget), smallest_mask(space),
             largest_prefix_mask(space, rng.random(space.num_units), budget),
             space.mask_from_counts(scale_to_budget(space, rng.random(4), budget)),
             space.mask_from_counts(scale_to_budget(space, rng.random(4), budget, grow=True)),
             space.mask_from_ratios(rng.random(4))]
    masks += [fit_to_budget(space, mask, budget) for mask in random_masks(space, 10)]
    masks += [shrink_to_budget(space, mask, budget) for mask in random_masks(space, 5, 2)]
    masks += [space.repair(mask) for mask in random_masks(space, 5, 3)]
    for mask in masks:
        assert legal(space, mask)
    for mask in masks[:5] + masks[6:-5]:  # all but the free ratios and the repairs
        assert space.macs_ratio(mask) <= budget


def next_steps(space, mask):
    """``mask`` with one group grown by its next step (MACs follow counts, not which units)."""
    for g, kept in zip(space.groups, space.keep_counts(mask)):
        if kept < g.size:
            grown = mask.copy()
            part = grown[space.group_slice(g)]
            part[np.flatnonzero(~part)[:legal_count(g, kept + 1, "up") - kept]] = True
            yield grown


@pytest.mark.parametrize("budget", [0.5, 0.25, 0.1])
def test_fill_leaves_no_step_that_fits_out(space, budget):
    for mask in random_masks(space, 10):
        filled = fit_to_budget(space, mask, budget)
        assert all(space.macs_ratio(grown) > budget for grown in next_steps(space, filled))


def rounded_prefix(space, order, length):
    """The first ``length`` units of ``order``, each group's share cut to its step below."""
    mask = np.zeros(space.num_units, dtype=bool)
    for g in space.groups:
        mine = [unit for unit in order[:length] if g.offset <= unit < g.offset + g.size]
        mask[mine[:legal_count(g, len(mine), "down")]] = True
    return mask


@pytest.mark.parametrize("budget", [0.5, 0.25, 0.1])
def test_largest_prefix_is_the_longest_rounded_prefix_that_fits(space, budget):
    scores = np.random.default_rng(4).random(space.num_units)
    order, _ = keep_order(space, scores)
    fitting = [rounded_prefix(space, order, n) for n in range(space.num_units + 1)]
    fitting = [mask for mask in fitting if space.macs_ratio(mask) <= budget]
    assert np.array_equal(largest_prefix_mask(space, scores, budget), fitting[-1])


def test_fill_rounds_a_mask_off_the_steps_down_first(space):
    mask = space.full_mask()
    mask[space.groups[1].offset] = False  # 63 of 64
    filled = fill_to_budget(space, mask, 1.0)
    assert legal(space, filled) and filled.all()  # rounded to 56 (or 63), then grown back


def test_recurrent_units_follow_the_steps():
    model = RecurrentClassifier((1, 12), 10, hidden=20, cell="gru").eval()
    space = PruningSpace(model, torch.randn(2, 1, 12), round_to=8)
    recurrent = [g for g in space.groups if g.kind == "recurrent"]
    assert recurrent and all(g.step == 8 and g.min_keep == 8 for g in recurrent)
    assert legal(space, uniform_mask(space, 0.3))


def test_round_to_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="round_to must be an integer >= 1, got 0"):
        PruningSpace.check_settings(min_keep=0.1, ignored_layers=(), importance_p=1,
                                    granularity="channel", round_to=0)


def test_budget_below_the_rounded_minimum_is_refused(space):
    smallest = space.macs_ratio(smallest_mask(space))
    with pytest.raises(ValueError, match="cannot be met"):
        check_budget(space, smallest * 0.9)


def test_floor_counts_is_legal_count_down_for_every_count():
    from evoprune.pruning.widths import floor_counts

    for g in (group(30, 3), group(5, 1), group(30, 3, kind="head")):
        counts = np.arange(-2, 40)
        assert floor_counts(g, counts).tolist() == [legal_count(g, c, "down") for c in counts]
