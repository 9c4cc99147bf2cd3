import numpy as np
import pytest
import torch
import torch_pruning as tp

from evoprune.models import RecurrentClassifier
from evoprune.pruning.importance import pruning_groups, slimming_scores
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.sparsity import SparsityPenalty, bn_scales, has_bn_scale, unit_norms
from evoprune.training.train import TrainConfig, train_classifier
from tests.conftest import ResidualNet, randomize_batchnorm


@pytest.fixture
def space(residual_net):
    return PruningSpace(residual_net, torch.randn(2, 1, 32))


def test_bn_scales_are_torch_prunings_bn_scale_importance(residual_net, space):
    scales = bn_scales(space, residual_net)
    groups = pruning_groups(residual_net, space)
    importance = tp.importance.BNScaleImportance(normalizer=None)
    for group, unit_group in zip(groups, space.groups):
        expected = importance(group)
        part = scales[space.group_slice(unit_group)]
        if expected is None:  # no BatchNorm in the group
            assert not part.any()
        else:
            np.testing.assert_allclose(part, expected.detach().numpy(), rtol=1e-6)


def test_only_the_residual_stream_has_bn_scales(residual_net, space):
    found = has_bn_scale(space, residual_net)
    by_group = {g.name: set(found[space.group_slice(g)]) for g in space.groups}
    assert by_group == {"body": {True}, "head": {False}, "hidden": {False}}


def test_unit_norms_cover_every_slice_a_unit_owns(residual_net, space):
    norms = unit_norms(space, residual_net)
    hidden = next(g for g in space.groups if g.name == "hidden")
    j = 3
    w = residual_net
    with torch.no_grad():
            expected = (w.hidden.weight[j].pow(2).sum() + w.hidden.bias[j] ** 2
                    + w.out.weight[:, j].pow(2).sum()).sqrt()
    assert norms[hidden.offset + j] == pytest.approx(float(expected), rel=1e-5)


def test_penalty_by_hand_and_its_gradient(residual_net, space):
    penalty = SparsityPenalty(space, residual_net, l1_bn=0.1, group_lasso=0.01)
    value = penalty(residual_net)
    net = residual_net
    l1 = net.stem_bn.weight.abs().sum() + net.body_bn.weight.abs().sum()
    lasso_units = ~has_bn_scale(space, net)
    lasso = unit_norms(space, net)[lasso_units].sum()
    assert float(value.detach()) == pytest.approx(0.1 * float(l1.detach()) + 0.01 * lasso,
                                                  rel=1e-5)
    value.backward()
    assert torch.equal(net.stem_bn.weight.grad, 0.1 * net.stem_bn.weight.sign())
    assert net.hidden.weight.grad.abs().sum() > 0
    assert net.stem.weight.grad is None  # the L1 term reaches BatchNorm scales only


def test_penalty_refuses_negative_weights(residual_net, space):
    with pytest.raises(ValueError, match="l1_bn must be a finite number >= 0, got -1"):
        SparsityPenalty(space, residual_net, l1_bn=-1)
    with pytest.raises(ValueError, match="group_lasso must be a finite number >= 0"):
        TrainConfig(group_lasso=float("nan"))


def test_a_penalty_with_nothing_to_penalise_is_refused():
    torch.manual_seed(0)
    model = RecurrentClassifier((1, 12), 3, cell="gru", hidden=5)
    space = PruningSpace(model, torch.randn(2, 1, 12))
    with pytest.raises(ValueError, match="train.l1_bn=0.001 penalises nothing here: no "
                                         "BatchNorm scale follows a prunable unit"):
        SparsityPenalty(space, model, l1_bn=1e-3)


def _trained(synthetic_data, **weights):
    torch.manual_seed(0)
    model = ResidualNet()
    space = PruningSpace(model, synthetic_data.train.x[:2])
    cfg = TrainConfig(epochs=4, lr=1e-2, **weights)
    penalty = SparsityPenalty(space, model, **weights) if weights else None
    train_classifier(model, synthetic_data.train, cfg, seed=0, progress=False, penalty=penalty)
    return model, space


def test_training_with_the_penalties_shrinks_what_they_penalise(synthetic_data):
    plain, space = _trained(synthetic_data)
    sparse, _ = _trained(synthetic_data, l1_bn=0.05, group_lasso=0.05)
    scaled = has_bn_scale(space, plain)
    # with AdamW a step moves a weight by about lr whatever the penalty's size, so a few steps
    # shrink by a little, and the same for every scale
    assert bn_scales(space, sparse)[scaled].mean() < 0.95 * bn_scales(space, plain)[scaled].mean()
    assert (unit_norms(space, sparse)[~scaled].mean()
            < 0.95 * unit_norms(space, plain)[~scaled].mean())


def test_training_refuses_penalty_weights_without_a_penalty(residual_net, synthetic_data):
    with pytest.raises(ValueError, match="l1_bn / group_lasso are set but no penalty"):
        train_classifier(residual_net, synthetic_data.train, TrainConfig(l1_bn=1e-4), seed=0,
                         progress=False)


def test_slimming_scores_put_units_without_bn_on_the_scales_footing(residual_net, space):
    scores = slimming_scores(residual_net, space)
    scaled = has_bn_scale(space, residual_net)
    np.testing.assert_array_equal(scores[scaled], bn_scales(space, residual_net)[scaled])
    footing = scores[scaled].mean()
    norms = unit_norms(space, residual_net)
    for group in space.groups:
        part = space.group_slice(group)
        if not scaled[part].any():
            assert scores[part].mean() == pytest.approx(footing)
            assert np.array_equal(np.argsort(scores[part]), np.argsort(norms[part]))


@pytest.mark.parametrize("conv_channels", [[], [6]])
def test_recurrent_models_get_the_group_lasso_on_hidden_units(conv_channels):
    torch.manual_seed(0)
    model = randomize_batchnorm(RecurrentClassifier((1, 12), 3, cell="gru", hidden=5,
                                                    conv_channels=conv_channels))
    space = PruningSpace(model, torch.randn(2, 1, 12))
    scaled = has_bn_scale(space, model)
    rnn = next(g for g in space.groups if g.kind != "channel")
    assert not scaled[space.group_slice(rnn)].any()
    assert scaled.sum() == sum(conv_channels)
    penalty = SparsityPenalty(space, model, group_lasso=1.0)
    assert float(penalty(model).detach()) == pytest.approx(unit_norms(space, model)[~scaled].sum(),
                                                  rel=1e-5)
    scores = slimming_scores(model, space)
    assert scores.shape == (space.num_units,) and np.all(np.isfinite(scores))
