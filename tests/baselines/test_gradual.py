"""Gradual magnitude pruning (AGP): schedule, nested masks, held zeros, budget, exact cost."""

import copy

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import evoprune.baselines.gradual as gradual
from evoprune.baselines.gradual import (
    _uniform_subset_mask,
    agp_schedule,
    epoch_split,
    gradual_magnitude,
)
from evoprune.pruning.budget import InfeasibleBudgetError, uniform_mask
from evoprune.pruning.compact import compact
from evoprune.pruning.macs import count_params
from evoprune.pruning.masking import MaskHold, ParameterMasker
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace
from evoprune.training.distill import DistillConfig
from evoprune.training.train import TrainConfig, accuracy

BUDGET = 0.3
FINETUNE = TrainConfig(epochs=4, lr=1e-3, batch_size=64)


@pytest.fixture(scope="module")
def space(trained_residual, synthetic_data):
    return PruningSpace(trained_residual, synthetic_data.train.x[:2])


def _run(trained_residual, space, data, **kwargs):
    args = dict(budget=BUDGET, finetune=FINETUNE, seed=0, steps=3, progress=False)
    return gradual_magnitude(trained_residual, space, data, **{**args, **kwargs})


@pytest.fixture(scope="module")
def traced(trained_residual, space, synthetic_data):
    """One AGP run that records every step's mask and checks, after every optimizer step, that
    the removed units' parameter slices are exactly zero."""
    masks, checks = [], []
    real_train, real_select = gradual.train_classifier, gradual._uniform_subset_mask

    def select(*args):
        masks.append(real_select(*args))
        return masks[-1]

    def train(model, split, cfg, **kwargs):
        mask, hold = masks[-1], kwargs["after_step"]

        def hold_and_check():
            hold()
            masked = ParameterMasker(model, space)(mask)  # re-masking must change nothing
            checks.append(all(torch.equal(p, masked[n]) for n, p in model.named_parameters()))

        return real_train(model, split, cfg, **{**kwargs, "after_step": hold_and_check})

    dense_before = copy.deepcopy(trained_residual.state_dict())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gradual, "train_classifier", train)
        patch.setattr(gradual, "_uniform_subset_mask", select)
        result = _run(trained_residual, space, synthetic_data)
    return result, masks, checks, dense_before


def test_schedule_follows_the_cubic_formula():
    expected = [0.25 + 0.75 * (1 - t / 4) ** 3 for t in (1, 2, 3, 4)]
    assert agp_schedule(0.25, 4) == pytest.approx(expected)
    assert agp_schedule(0.25, 4) == pytest.approx([0.56640625, 0.34375, 0.26171875, 0.25])
    assert agp_schedule(0.5, 1) == [0.5]


def test_epochs_are_split_evenly_with_the_remainder_last():
    assert epoch_split(5, 4) == [1, 1, 1, 2]
    assert epoch_split(2, 5) == [0, 0, 0, 0, 2]
    assert epoch_split(6, 3) == [2, 2, 2]
    assert epoch_split(0, 2) == [0, 0]


@pytest.mark.parametrize("steps", [0, -1, 2.5, True, "3"])
def test_bad_steps_rejected(steps):
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1, got"):
        agp_schedule(0.5, steps)


def test_bad_budgets_rejected(trained_residual, space, synthetic_data):
    with pytest.raises(ValueError, match=r"budget must be a fraction of dense MACs in \(0, 1\]"):
        _run(trained_residual, space, synthetic_data, budget=1.5)
    with pytest.raises(InfeasibleBudgetError):
        _run(trained_residual, space, synthetic_data, budget=1e-6)
    with pytest.raises(ValueError, match="importance_p must be 1"):
        _run(trained_residual, space, synthetic_data, importance_p=3)
    weights = UnstructuredSpace(trained_residual, synthetic_data.train.x[:2])
    with pytest.raises(ValueError, match="needs a structured pruning space, got .*unstructured"):
        _run(trained_residual, weights, synthetic_data)


def test_masks_shrink_step_by_step_to_the_budget(traced, space):
    result, masks, _, _ = traced
    assert len(masks) == 3 == len(result.history)
    previous = space.full_mask()
    for mask, step in zip(masks, result.history):
        assert not np.any(mask & ~previous)  # never re-grows a removed unit
        assert space.macs_ratio(mask) <= step["target_macs_ratio"]
        assert step["macs_ratio"] == pytest.approx(space.macs_ratio(mask))
        previous = mask
    assert [s["epochs"] for s in result.history] == [1, 1, 2]
    assert [s["target_macs_ratio"] for s in result.history] == pytest.approx(
        agp_schedule(BUDGET, 3))
    np.testing.assert_array_equal(result.mask, masks[-1])
    space.check(result.mask)
    assert space.macs_ratio(result.mask) <= BUDGET


def test_removed_units_stay_exactly_zero_through_fine_tuning(traced):
    _, _, checks, _ = traced
    assert len(checks) > 10 and all(checks)


def test_returned_model_is_compact_fine_tuned_and_costs_what_the_space_says(
    traced, space, trained_residual, synthetic_data
):
    result, _, _, dense_before = traced
    model = result.model
    assert not model.training
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(synthetic_data.test.x[:1])
    assert counter.get_total_flops() == 2 * space.macs(result.mask)  # FLOPs = 2 MACs
    assert count_params(model) == space.params(result.mask)
    assert accuracy(model, synthetic_data.test) > 0.5  # chance is 0.25
    for key, value in trained_residual.state_dict().items():  # dense model untouched
        assert torch.equal(value, dense_before[key]), key


def test_deterministic_given_seed(traced, trained_residual, space, synthetic_data):
    first = traced[0]
    again = _run(trained_residual, space, synthetic_data)
    np.testing.assert_array_equal(first.mask, again.mask)
    for (name, a), b in zip(first.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert first.history == again.history


def test_one_step_without_fine_tuning_is_uniform_magnitude(trained_residual, space,
                                                           synthetic_data):
    result = _run(trained_residual, space, synthetic_data, steps=1,
                  finetune=TrainConfig(epochs=0))
    expected = uniform_mask(space, BUDGET)
    np.testing.assert_array_equal(result.mask, expected)
    x = synthetic_data.test.x[:16]
    reference = compact(trained_residual, space, expected)
    with torch.no_grad():
        torch.testing.assert_close(result.model(x), reference(x))


def test_distillation_runs_and_leaves_the_teacher_alone(trained_residual, space, synthetic_data):
    before = copy.deepcopy(trained_residual.state_dict())
    result = _run(trained_residual, space, synthetic_data, steps=2,
                  finetune=TrainConfig(epochs=2, batch_size=64),
                  distill=DistillConfig(alpha=0.5, temperature=2.0))
    assert space.macs_ratio(result.mask) <= BUDGET
    for key, value in trained_residual.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_subset_selection_never_regrows_even_preferred_units(space):
    current = uniform_mask(space, 0.5)
    # removed units look best: a plain top-k would pick them
    importance = [np.where(current[space.group_slice(g)], 1.0, 10.0) for g in space.groups]
    for target in (1.0, 0.4, 0.2):
        mask = _uniform_subset_mask(space, importance, current, target)
        assert not np.any(mask & ~current)
        assert space.macs_ratio(mask) <= max(target, space.macs_ratio(current))
    np.testing.assert_array_equal(_uniform_subset_mask(space, importance, current, 1.0), current)


def test_mask_hold_zeroes_what_the_masker_zeroes(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    mask = uniform_mask(space, 0.4)
    expected = ParameterMasker(residual_net, space)(mask)
    model = copy.deepcopy(residual_net)
    MaskHold(model, space, mask)()
    for name, param in model.named_parameters():
        assert torch.equal(param, expected[name]), name
