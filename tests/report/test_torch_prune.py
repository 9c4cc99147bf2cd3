"""Results as torch.nn.utils.prune state dicts, and such state dicts as weights=."""

import copy

import numpy as np
import pytest
import torch
from torch.nn.utils import prune

from evoprune.infra.checkpoint import load_weights, merged_state_dict
from evoprune.models import RecurrentClassifier, ResNet
from evoprune.pruning.compact import compact
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace
from evoprune.report.torch_prune import prune_state_dict, pruned_parameters


def _load_into_dense(dense, names, state):
    """What code using torch.nn.utils.prune does: prune.identity, then load."""
    model = copy.deepcopy(dense)
    for name in names:
        module, _, param = name.rpartition(".")
        prune.identity(model.get_submodule(module), param)
    model.load_state_dict(state)
    return model.eval()


@pytest.mark.parametrize("build, shape", [
    (lambda: ResNet((1, 40), 10), (1, 40)),
    (lambda: RecurrentClassifier((1, 40), 10, cell="gru", hidden=12, conv_channels=[6]),
     (1, 40)),
], ids=["resnet", "conv_gru"])
def test_a_result_loads_into_the_dense_architecture_and_computes_the_compacted_model(build,
                                                                                     shape):
    torch.manual_seed(0)
    dense = build().eval()
    x = torch.randn(4, *shape)
    space = PruningSpace(dense, x)
    mask = space.repair(np.random.default_rng(0).random(space.num_units) < 0.5)
    pruned = compact(dense, space, mask)
    with torch.no_grad():  # stand-in for fine-tuning: the kept values move
        for param in pruned.parameters():
            param.mul_(1.1).add_(0.01)
    state = prune_state_dict(dense, space, mask, pruned)
    names = pruned_parameters(dense, space, mask)
    assert names and all(f"{n}_orig" in state and f"{n}_mask" in state for n in names)
    model = _load_into_dense(dense, names, state)
    with torch.no_grad():
        torch.testing.assert_close(model(x), pruned.eval()(x), rtol=1e-4, atol=1e-5)
    # and back: weights= takes it, masks applied, into the plain dense architecture
    plain = copy.deepcopy(dense)
    plain.load_state_dict(merged_state_dict(state))
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(x), pruned(x), rtol=1e-4, atol=1e-5)


def test_unstructured_results_export_the_same_way():
    torch.manual_seed(0)
    dense = ResNet((1, 40), 10, blocks_per_stage=1).eval()
    x = torch.randn(3, 1, 40)
    space = UnstructuredSpace(dense, x)
    policy = space.mask_from_ratios([0.3] * space.num_units)
    pruned = copy.deepcopy(dense)
    with torch.no_grad():
        for name, keep in space.weight_masks(policy).items():
            pruned.get_parameter(name).mul_(keep)
    state = prune_state_dict(dense, space, policy, pruned)
    model = _load_into_dense(dense, pruned_parameters(dense, space, policy), state)
    with torch.no_grad():
        torch.testing.assert_close(model(x), pruned(x))


def test_weights_accepts_a_state_dict_written_by_torch_nn_utils_prune(tmp_path):
    torch.manual_seed(0)
    source = ResNet((1, 40), 10, blocks_per_stage=1)
    prune.ln_structured(source.stem[0], "weight", amount=0.5, n=1, dim=0)
    path = tmp_path / "pruned.pt"
    torch.save(source.state_dict(), path)
    target = ResNet((1, 40), 10, blocks_per_stage=1)
    load_weights(target, path)
    prune.remove(source.stem[0], "weight")
    torch.testing.assert_close(target.stem[0].weight, source.stem[0].weight)
    assert int((target.stem[0].weight.abs().sum(dim=(1, 2)) == 0).sum()) == 8


def test_an_lstm_with_an_idle_unit_has_no_prune_form_and_says_why():
    torch.manual_seed(0)
    dense = RecurrentClassifier((1, 12), 3, cell="lstm", hidden=6, proj_size=4).eval()
    space = PruningSpace(dense, torch.randn(2, 1, 12))
    mask = space.mask_from_counts([3, 3])  # as many projected as hidden units: padded
    with pytest.raises(ValueError, match="idle unit"):
        prune_state_dict(dense, space, mask, compact(dense, space, mask))
