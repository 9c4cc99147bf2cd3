import numpy as np
import pytest
import torch
from torch import nn

from evoprune.baselines.registry import BaselineContext, applicable, prune
from evoprune.data import Split
from evoprune.evaluate.scorer import MaskScorer
from evoprune.models import CNN1d
from evoprune.models.cifar import InvertedResidual, MobileNetV2
from evoprune.models.resnet import BasicBlock, ResNet
from evoprune.pruning.blocks import blocks_removed, find_blocks, remove_blocks
from evoprune.pruning.compact import compact
from evoprune.pruning.space import NoPrunableLayerError, PruningSpace
from evoprune.report.torch_prune import prune_state_dict
from tests.conftest import randomize_batchnorm
from tests.helpers import assert_compacts_exactly, default_section


def _resnet(shape=(1, 40), blocks=2):
    torch.manual_seed(0)
    return randomize_batchnorm(ResNet(shape, 10, blocks_per_stage=blocks))


def test_only_blocks_with_an_identity_shortcut_are_found():
    model = _resnet()
    found = find_blocks(model, torch.randn(2, 1, 40))
    # the first block of stages 2 and 3 projects its shortcut (stride 2, wider): never removable
    assert found == ["stages.0.0", "stages.0.1", "stages.1.1", "stages.2.1"]
    assert all(isinstance(model.get_submodule(name), BasicBlock) for name in found)
    assert isinstance(model.get_submodule("stages.1.0").shortcut, nn.Sequential)


def test_mobilenet_blocks_are_its_residual_ones():
    model = MobileNetV2((3, 32, 32), 10).eval()
    found = find_blocks(model, torch.randn(2, 3, 32, 32))
    expected = [name for name, m in model.named_modules()
                if isinstance(m, InvertedResidual) and m.residual]
    assert found == expected and len(found) == 10


class Untraceable(nn.Module):
    """A residual block whose forward branches on a tensor's value: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.head = nn.Linear(4 * 8, 3)

    def forward(self, x):
        x = x.repeat(1, 4, 1)
        if x.sum() > 0:
            x = x + self.conv(x)
        return self.head(x.flatten(1))


def test_plain_and_untraceable_models_have_no_blocks():
    assert find_blocks(CNN1d((1, 40), 10), torch.randn(2, 1, 40)) == []
    assert find_blocks(Untraceable(), torch.randn(2, 1, 8)) == []
    with pytest.raises(NoPrunableLayerError,
                       match="pruning.granularity=both: CNN1d has no residual block"):
        PruningSpace(CNN1d((1, 40), 10), torch.randn(2, 1, 40), granularity="both")


def test_depth_genes_alone_also_remove_single_layers_that_keep_the_shape():
    model = randomize_batchnorm(CNN1d((1, 40), 10))
    x = torch.randn(3, 1, 40)
    assert find_blocks(model, x, layers=True) == ["features.8"]  # the third conv, 64 -> 64
    space = PruningSpace(model, x, granularity="block")
    mask = np.zeros(space.num_units, dtype=bool)
    pruned = assert_compacts_exactly(model, space, mask, x)
    assert isinstance(pruned.features[8], nn.Identity) and space.macs_ratio(mask) < 0.6
    # in a residual net, the second conv of a block that projects its shortcut
    layers = find_blocks(_resnet(), torch.randn(2, 1, 40), layers=True)
    assert layers == ["stages.0.0", "stages.0.1", "stages.1.0.conv2", "stages.1.1",
                      "stages.2.0.conv2", "stages.2.1"]


def test_granularity_is_checked():
    with pytest.raises(ValueError, match="granularity must be one of \\['channel', 'block', "
                                         "'both'\\], got 'layer'"):
        PruningSpace.check_settings(**{**default_section("pruning"), "granularity": "layer"})


@pytest.mark.parametrize("granularity", ["block", "both"])
@pytest.mark.parametrize("shape", [(1, 40), (3, 16, 16)])
def test_block_masks_compact_exactly_and_cost_what_they_say(granularity, shape):
    model = _resnet(shape)
    x = torch.randn(3, *shape)
    space = PruningSpace(model, x, granularity=granularity)
    depth = space.groups[-1]
    size = 6 if granularity == "block" else 4  # block: 2 single convs besides the 4 blocks
    assert (depth.name, depth.kind, depth.size, depth.min_keep) == ("depth", "block", size, 0)
    assert (len(space.groups) == 1) == (granularity == "block")
    rng = np.random.default_rng(0)
    for _ in range(4):
        mask = space.repair(rng.random(space.num_units) < 0.5)
        pruned = assert_compacts_exactly(model, space, mask, x)
        for name in space.removed_blocks(mask):
            assert isinstance(pruned.get_submodule(name), nn.Identity)
    everything_gone = space.full_mask()
    everything_gone[space.group_slice(depth)] = False
    assert space.macs(everything_gone) < space.dense_macs


def test_mobilenet_blocks_and_channels_compact_exactly():
    torch.manual_seed(0)
    model = randomize_batchnorm(MobileNetV2((3, 32, 32), 10, width=0.5))
    x = torch.randn(2, 3, 32, 32)
    space = PruningSpace(model, x, granularity="both")
    mask = space.repair(np.random.default_rng(1).random(space.num_units) < 0.6)
    assert space.removed_blocks(mask)
    assert_compacts_exactly(model, space, mask, x)


@pytest.mark.parametrize("mode", ["sliced", "masked"])
def test_scoring_a_mask_that_removes_blocks_scores_its_compacted_model(mode):
    model = _resnet()
    x, y = torch.randn(64, 1, 40), torch.randint(0, 10, (64,))
    space = PruningSpace(model, x[:2], granularity="both")
    scorer = MaskScorer(model, space, Split(x, y), mode=mode)
    rng = np.random.default_rng(2)
    for _ in range(3):
        mask = space.repair(rng.random(space.num_units) < 0.6)
        pruned = compact(model, space, mask)
        with torch.no_grad():
            expected = float((pruned(x).argmax(1) == y).float().mean())
        assert scorer.accuracy(mask) == pytest.approx(expected)
    assert not any(isinstance(m, nn.Identity) and name.count(".") == 2
                   for name, m in model.named_modules())  # the model itself is restored
    assert scorer.accuracies([mask, space.full_mask()])[0] == pytest.approx(expected)


def _context(model, space, budget):
    return BaselineContext(model=model, space=space, data=None, budget=budget, seed=0)


def test_block_magnitude_drops_the_weakest_blocks_until_the_budget_fits():
    model = _resnet()
    space = PruningSpace(model, torch.randn(2, 1, 40), granularity="block")
    depth = space.groups[0]
    mask = prune("block_magnitude", _context(model, space, 0.8)).mask
    assert space.macs_ratio(mask) <= 0.8
    removed = np.flatnonzero(~mask)
    weakest = np.argsort(depth.importance, kind="stable")[:len(removed)]
    assert sorted(removed) == sorted(weakest)
    fewer = mask.copy()
    fewer[removed[np.argmax(depth.importance[removed])]] = True
    assert space.macs_ratio(fewer) > 0.8  # one block fewer removed would not fit


def test_block_magnitude_shrinks_channels_when_blocks_are_not_enough():
    model = _resnet()
    space = PruningSpace(model, torch.randn(2, 1, 40), granularity="both")
    mask = prune("block_magnitude", _context(model, space, 0.2)).mask
    assert space.removed_blocks(mask) == list(space.block_names)
    assert space.macs_ratio(mask) <= 0.2 and not mask[:space.groups[-1].offset].all()


def test_channel_baselines_keep_every_block_and_need_channels():
    model = _resnet()
    both = PruningSpace(model, torch.randn(2, 1, 40), granularity="both")
    for name in ("uniform_magnitude", "lamp", "global_magnitude", "torch_prune", "slimming"):
        mask = prune(name, _context(model, both, 0.4)).mask
        assert space_keeps_all_blocks(both, mask), name
        assert both.macs_ratio(mask) <= 0.4
    blocks_only = PruningSpace(model, torch.randn(2, 1, 40), granularity="block")
    chosen, reasons = applicable("all", blocks_only)
    assert {"block_magnitude", "random"} <= set(chosen) and "lamp" not in chosen
    assert any("lamp left out: it prunes channels, and pruning.granularity=block leaves none"
               in reason for reason in reasons)
    channels = PruningSpace(model, torch.randn(2, 1, 40))
    with pytest.raises(ValueError, match="block_magnitude cannot prune this model: it removes "
                                         "whole residual blocks: use pruning.granularity"):
        applicable(["block_magnitude"], channels)


def space_keeps_all_blocks(space, mask):
    return not space.removed_blocks(mask)


def test_a_mask_without_blocks_cannot_be_written_for_torch_nn_utils_prune():
    model = _resnet()
    space = PruningSpace(model, torch.randn(2, 1, 40), granularity="block")
    mask = space.full_mask()
    mask[0] = False
    with pytest.raises(ValueError, match="removes whole blocks \\['stages.0.0'\\]"):
        prune_state_dict(model, space, mask, compact(model, space, mask))


def test_a_block_inside_a_removed_block_goes_with_it():
    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), nn.Linear(2, 2))
    with blocks_removed(model, ["0.1", "0"]):
        assert isinstance(model[0], nn.Identity)
    assert isinstance(model[0], nn.Sequential) and isinstance(model[0][1], nn.Linear)
    remove_blocks(model, ["0.1", "0"])
    assert isinstance(model[0], nn.Identity)
