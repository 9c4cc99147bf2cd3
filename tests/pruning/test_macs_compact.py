"""Analytic costs and masked outputs must equal those of the physically compacted model."""

import numpy as np
import pytest
import torch
from torch import nn

from evoprune.models import MLP, CNN1d, CNN2d, ResNet
from evoprune.pruning.compact import compact
from evoprune.pruning.macs import count_params, counted_macs
from evoprune.pruning.space import PruningSpace
from tests.conftest import ResidualNet, randomize_batchnorm
from tests.helpers import assert_compacts_exactly


class DepthwiseNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.expand = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.project = nn.Conv2d(8, 6, 1)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        x = self.depthwise(torch.relu(self.bn(self.expand(x))))
        return self.out(torch.relu(self.project(x)).mean((2, 3)))


MODELS = [
    (lambda: ResidualNet(), (1, 32)),
    (lambda: CNN1d((1, 40), 10), (1, 40)),
    (lambda: CNN2d((1, 8, 8), 10), (1, 8, 8)),
    (lambda: MLP((1, 40), 10, batch_norm=True), (1, 40)),
    (lambda: DepthwiseNet(), (1, 6, 6)),
    (lambda: ResNet((1, 40), 10), (1, 40)),
    (lambda: ResNet((2, 8, 8), 10, blocks_per_stage=1, widths=(4, 8, 8)), (2, 8, 8)),
]


@pytest.mark.parametrize("make, shape", MODELS)
def test_masked_equals_compacted(make, shape):
    torch.manual_seed(0)
    model = randomize_batchnorm(make())
    space = PruningSpace(model, torch.randn(2, *shape))
    x = torch.randn(5, *shape)
    assert space.dense_macs == counted_macs(model, x)
    assert space.dense_params == count_params(model)
    rng = np.random.default_rng(1)
    for keep in (0.3, 0.6, 0.9):
        mask = space.repair(rng.random(space.num_units) < keep)
        assert_compacts_exactly(model, space, mask, x)


def test_batched_costs_match_single(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    rng = np.random.default_rng(0)
    masks = np.stack([space.repair(rng.random(space.num_units) < 0.5) for _ in range(6)])
    assert space.macs(masks).tolist() == [space.macs(m) for m in masks]
    assert space.params(masks).tolist() == [space.params(m) for m in masks]
    assert space.macs_ratio(space.full_mask()) == 1.0


def test_compact_leaves_original_untouched(residual_net):
    space = PruningSpace(residual_net, torch.randn(2, 1, 32))
    before = {k: v.clone() for k, v in residual_net.state_dict().items()}
    compact(residual_net, space, space.mask_from_ratios([0.5, 0.5, 0.5]))
    for key, value in residual_net.state_dict().items():
        assert torch.equal(value, before[key])
    assert residual_net.head.out_channels == 12
