import numpy as np
import pytest
import torch

from evoprune.data import Split
from evoprune.pruning.importance import (
    lamp_normalise,
    lamp_scores,
    normalise_by_group_mean,
    pruning_groups,
    taylor_scores,
)
from evoprune.pruning.space import PruningSpace


@pytest.fixture
def space(residual_net):
    return PruningSpace(residual_net, torch.randn(2, 1, 32))


def test_lamp_normalise_by_hand():
    # ascending: 1 (unit 1), 4 (unit 0), 9 (unit 2) -> 1/14, 4/13, 9/9
    np.testing.assert_allclose(lamp_normalise(np.array([4.0, 1.0, 9.0])),
                               [4 / 13, 1 / 14, 1.0])
    # ties are ordered by index, all-zero energies score zero
    np.testing.assert_allclose(lamp_normalise(np.array([2.0, 2.0])), [0.5, 1.0])
    np.testing.assert_array_equal(lamp_normalise(np.zeros(3)), np.zeros(3))
    with pytest.raises(ValueError, match="finite energies >= 0"):
        lamp_normalise(np.array([1.0, -1.0]))


def test_lamp_scores_match_a_hand_computation(residual_net, space):
    scores = lamp_scores(residual_net, space)
    group = next(g for g in space.groups if g.name == "head")
    # group 'head': head's output channels and the 32 flattened features per channel that
    # 'hidden' reads; energy = mean over the two layers of the squared L2 norm
    head = residual_net.head.weight.detach().double()
    hidden = residual_net.hidden.weight.detach().double().reshape(16, group.size, 32)
    energies = (head.pow(2).sum((1, 2)) + hidden.pow(2).sum((0, 2))) / 2
    expected = lamp_normalise(energies.numpy())
    np.testing.assert_allclose(scores[space.group_slice(group)], expected, rtol=1e-5)
    # every group's strongest unit scores 1
    for g in space.groups:
        assert scores[space.group_slice(g)].max() == pytest.approx(1.0)


def test_pruning_groups_follow_space_order(residual_net, space):
    groups = pruning_groups(residual_net, space)
    roots = [group[0].dep.target.module for group in groups]
    assert roots == [residual_net.get_submodule(g.name) for g in space.groups]


def test_pruning_groups_refuse_another_model(space):
    other = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 30, 2))
    with pytest.raises(ValueError, match="does not match the pruning space"):
        pruning_groups(other, space)


def test_normalise_by_group_mean(space):
    raw = np.arange(1, space.num_units + 1, dtype=float)
    raw[space.group_slice(space.groups[0])] = 0.0  # an all-zero group stays zero
    scores = normalise_by_group_mean(space, raw)
    np.testing.assert_array_equal(scores[space.group_slice(space.groups[0])], 0.0)
    for g in space.groups[1:]:
        assert scores[space.group_slice(g)].mean() == pytest.approx(1.0)


def test_taylor_scores_deterministic_and_nonnegative(residual_net, space, synthetic_data):
    first = taylor_scores(residual_net, space, synthetic_data.train, batches=2, batch_size=64)
    second = taylor_scores(residual_net, space, synthetic_data.train, batches=2, batch_size=64)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (space.num_units,) and np.all(first >= 0) and first.sum() > 0
    with pytest.raises(ValueError, match="batches >= 1"):
        taylor_scores(residual_net, space, synthetic_data.train, batches=0)


def test_taylor_scores_average_per_batch_scores(residual_net, space, synthetic_data):
    # each batch is scored from its own gradient (summed gradients would cancel near a minimum)
    train = synthetic_data.train
    both = taylor_scores(residual_net, space, train, batches=2, batch_size=64)
    halves = [
        taylor_scores(residual_net, space, Split(train.x[i:i + 64], train.y[i:i + 64]),
                      batches=1, batch_size=64)
        for i in (0, 64)
    ]
    np.testing.assert_allclose(both, (halves[0] + halves[1]) / 2, rtol=1e-6)


def test_rms_normalisation_puts_groups_of_any_size_on_one_footing(space):
    from evoprune.pruning.importance import rms_normalise_by_group

    raw = np.linspace(0.5, 2.0, space.num_units)
    raw[space.group_slice(space.groups[0])] = 0.0  # an all-zero group stays zero
    scores = rms_normalise_by_group(space, raw)
    np.testing.assert_array_equal(scores[space.group_slice(space.groups[0])], 0.0)
    for g in space.groups[1:]:
        part = scores[space.group_slice(g)]
        assert np.sqrt(np.mean(part ** 2)) == pytest.approx(1.0)
        # the order inside a group is kept
        np.testing.assert_array_equal(np.argsort(part), np.argsort(raw[space.group_slice(g)]))
