import numpy as np
import pytest
import torch
from torch import nn

from evoprune.models import MLP, CNN1d, CNN2d
from evoprune.pruning.masking import ParameterMasker
from evoprune.pruning.space import NoPrunableLayerError, PruningSpace, UnsupportedLayerError


def test_groups_follow_couplings_in_network_order(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    names = [g.name for g in space.groups]
    # stem and body are tied by the residual add: one group; the output layer is never a group
    assert len(names) == 3 and "out" not in names
    residual = next(g for g in space.groups if "stem" in g.members)
    assert {"stem", "stem_bn", "body", "body_bn", "head"} <= set(residual.members)
    assert [g.offset for g in space.groups] == [0, 8, 20]
    assert space.num_units == 8 + 12 + 16
    hidden = next(g for g in space.groups if g.name == "hidden")
    assert hidden.kind == "neuron" and hidden.size == 16


def test_flatten_linear_coupling_maps_channel_blocks(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    head = next(g for g in space.groups if g.name == "head")
    coupling = next(c for c in space.couplings if c.param == "hidden.weight" and c.dim == 1)
    # channel c of `head` owns flattened features c*32 .. c*32+31
    expected = head.offset + np.repeat(np.arange(12), 32)
    np.testing.assert_array_equal(coupling.units, expected)


def test_min_keep_repair_and_check(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32), min_keep=0.25)
    assert [g.min_keep for g in space.groups] == [2, 3, 4]
    empty = np.zeros(space.num_units, dtype=bool)
    with pytest.raises(ValueError, match="minimum is 2"):
        space.check(empty)
    repaired = space.repair(empty)
    assert space.keep_counts(repaired).tolist() == [2, 3, 4]
    # repair switches on the most important units
    group = space.groups[0]
    kept = np.flatnonzero(repaired[space.group_slice(group)])
    assert set(kept) == set(np.argsort(-group.importance)[:2])


def test_mask_from_ratios_keeps_top_magnitude(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    mask = space.mask_from_ratios([0.5, 0.5, 0.5])
    assert space.keep_counts(mask).tolist() == [4, 6, 8]
    for group in space.groups:
        kept = np.flatnonzero(mask[space.group_slice(group)])
        assert set(kept) == set(np.argsort(-group.importance, kind="stable")[: len(kept)])


def test_describe_round_trips(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    mask = space.mask_from_ratios([0.5, 0.75, 0.25])
    np.testing.assert_array_equal(space.from_description(space.describe(mask)), mask)
    other = PruningSpace(MLP((1, 32), 4), torch.randn(2, 1, 32))
    with pytest.raises(ValueError, match="do not match"):
        other.from_description(space.describe(mask))


@pytest.mark.parametrize(
    "model, shape",
    [
        (CNN1d((1, 40), 10), (2, 1, 40)),
        (CNN2d((1, 8, 8), 10), (2, 1, 8, 8)),
        (MLP((1, 40), 10, batch_norm=True), (2, 1, 40)),
    ],
)
def test_builtin_models_have_groups_and_exact_masking(model, shape):
    model = model.eval()
    space = PruningSpace(model, torch.randn(*shape))
    assert len(space.groups) >= 2
    mask = space.repair(np.random.default_rng(0).random(space.num_units) < 0.5)
    x = torch.randn(*shape)
    masked = torch.func.functional_call(model, ParameterMasker(model, space)(mask), (x,))
    full = torch.func.functional_call(model, ParameterMasker(model, space)(space.full_mask()), (x,))
    torch.testing.assert_close(full, model(x))
    assert not torch.allclose(masked, model(x))



def test_describe_lists_every_layer_a_group_prunes(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    mask = space.mask_from_counts([5, 9, 16])
    groups = {g["name"]: g for g in space.describe(mask)["groups"]}
    # the group is named after body, but the residual add prunes the stem conv with it
    residual = {(layer["name"], layer["side"]): (layer["kept"], layer["total"])
                for layer in groups["body"]["layers"]}
    assert residual == {("stem", "out"): (5, 8), ("stem_bn", "out"): (5, 8),
                        ("body", "out"): (5, 8), ("body_bn", "out"): (5, 8),
                        ("body", "in"): (5, 8), ("head", "in"): (5, 8)}
    assert groups["body"]["layers"][0]["name"] == "body"  # the root first
    # a linear layer reading flattened channels keeps 32 features per kept channel
    assert groups["head"]["layers"] == [
        {"name": "head", "side": "out", "kept": 9, "total": 12},
        {"name": "hidden", "side": "in", "kept": 9 * 32, "total": 12 * 32},
    ]

def test_no_prunable_layer_is_refused():
    with pytest.raises(NoPrunableLayerError, match="no prunable layer"):
        PruningSpace(nn.Sequential(nn.Flatten(), nn.Linear(32, 4)), torch.randn(2, 1, 32))


def test_ignoring_every_hidden_layer_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 4))
    with pytest.raises(NoPrunableLayerError, match=r"ignored_layers=\['1'\]"):
        PruningSpace(model, torch.randn(2, 1, 32), ignored_layers=["1"])


def test_unknown_ignored_layer_is_refused(residual_net):
    with pytest.raises(ValueError, match="unknown layers \\['nope'\\]"):
        PruningSpace(residual_net, torch.randn(2, 1, 32), ignored_layers=["nope"])


def test_units_that_reach_a_layer_norm_are_kept_whole():
    """A LayerNorm normalises over every feature it reads: a zeroed feature would still count
    in its statistics, a removed one would not, so those units are kept whole, with the
    reason, and the layers around them still prune."""
    model = nn.Sequential(nn.Linear(16, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 6),
                          nn.ReLU(), nn.Linear(6, 2))
    space = PruningSpace(model, torch.randn(2, 16))
    assert [g.name for g in space.groups] == ["3"]
    assert space.kept_whole["0"] == ("its features reach 1 (LayerNorm), which normalises over "
                                     "all of them: kept whole")
    with pytest.raises(NoPrunableLayerError, match=r"no prunable layer.*0: its features reach 1 "
                                                    r"\(LayerNorm\)"):
        PruningSpace(model[:4], torch.randn(2, 16))


def test_a_grouped_conv_coupled_to_a_group_is_refused_by_name():
    model = nn.Sequential(nn.Conv1d(1, 8, 3), nn.ReLU(), nn.Conv1d(8, 8, 3, groups=2),
                          nn.Flatten(), nn.Linear(8 * 28, 2))
    with pytest.raises(UnsupportedLayerError, match=r"layer 2 \(grouped conv \(groups=2\)\) is "
                                                    r"coupled to a prunable group"):
        PruningSpace(model, torch.randn(2, 1, 32))


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_min_keep_out_of_range(residual_net, bad):
    with pytest.raises(ValueError, match=f"min_keep must be a number in \\(0, 1\\], got {bad}"):
        PruningSpace(residual_net, torch.randn(2, 1, 32), min_keep=bad)
