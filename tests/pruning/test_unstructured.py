import numpy as np
import pytest
import torch

from evoprune.evaluate.evaluator import Evaluator
from evoprune.pruning.budget import uniform_mask
from evoprune.pruning.masking import make_masker
from evoprune.pruning.unstructured import UnstructuredSpace, global_threshold_policy
from evoprune.training.train import accuracy


@pytest.fixture
def space(residual_net):
    return UnstructuredSpace(residual_net, torch.randn(2, 1, 32))


def test_layers_and_dense_costs(space, residual_net):
    names = [g.name for g in space.groups]
    assert names == ["stem", "body", "head", "hidden", "out"]
    assert space.dense_params == sum(p.numel() for p in residual_net.parameters())
    np.testing.assert_array_equal(space.full_mask(), [g.size for g in space.groups])
    assert space.macs_ratio(space.full_mask()) == 1.0


def test_cost_rule_is_layer_macs_times_density(space):
    policy = np.array([g.size // 2 for g in space.groups])
    policy[0] = space.groups[0].size  # stem dense
    expected = space.groups[0].dense_macs + sum(
        g.dense_macs * (g.size // 2) / g.size for g in space.groups[1:]
    )
    assert space.macs(policy) == int(np.floor(expected))
    bias_and_bn = space.dense_params - sum(g.size for g in space.groups)
    assert space.params(policy) == int(policy.sum()) + bias_and_bn


def test_masked_parameters_keep_largest_weights(space, residual_net):
    policy = space.mask_from_ratios([0.3] * len(space.groups))
    params = make_masker(residual_net, space)(policy)
    for layer, kept in zip(space.groups, policy):
        weight = residual_net.get_submodule(layer.name).weight.detach()
        masked = params[f"{layer.name}.weight"]
        assert int((masked != 0).sum()) == kept
        smallest_kept = masked[masked != 0].abs().min()
        largest_dropped = weight[masked == 0].abs().max()
        assert smallest_kept >= largest_dropped


def test_evaluator_scores_policies(trained_residual, synthetic_data):
    space = UnstructuredSpace(trained_residual, synthetic_data.train.x[:2])
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    dense, sparse = evaluator.evaluate([space.full_mask(), uniform_mask(space, 0.3)])
    assert dense.val_acc == pytest.approx(accuracy(trained_residual, synthetic_data.val))
    assert sparse.macs_ratio <= 0.3 and sparse.params < dense.params
    evaluator.evaluate([uniform_mask(space, 0.3)])
    assert evaluator.cache_hits == 1


@pytest.mark.parametrize("budget", [0.5, 0.2, 0.05])
def test_global_and_per_layer_magnitude_meet_budget(space, budget):
    for policy in (global_threshold_policy(space, budget), uniform_mask(space, budget)):
        space.check(policy)
        assert space.macs_ratio(policy) <= budget
    # the global threshold is the loosest that fits: one step looser exceeds the budget
    policy = global_threshold_policy(space, budget)
    kept = np.concatenate([np.sort(space.magnitudes[g.name])[::-1][:k]
                           for g, k in zip(space.groups, policy)])
    looser = space.mask_from_threshold(np.nextafter(kept.min(), 0) * 0.999999)
    assert space.macs_ratio(looser) > budget or np.array_equal(looser, space.full_mask())


def test_bad_policies_and_settings(space, residual_net):
    with pytest.raises(ValueError, match="one kept-weight count per layer"):
        space.check(np.ones(3))
    with pytest.raises(ValueError, match="layer 'stem' keeps 0 weights"):
        space.check(np.zeros(space.num_units))
    with pytest.raises(ValueError, match="min_density must be a number in \\(0, 1\\], got 0"):
        UnstructuredSpace(residual_net, torch.randn(2, 1, 32), min_density=0)
    description = space.describe(space.full_mask())
    np.testing.assert_array_equal(space.from_description(description), space.full_mask())
