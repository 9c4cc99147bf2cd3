"""Sliced parameters compute what the compacted model computes, with the compacted shapes."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from evoprune.pruning.compact import compact
from evoprune.pruning.slicing import ParameterSlicer
from evoprune.pruning.space import PruningSpace
from tests.conftest import randomize_batchnorm
from tests.pruning.test_macs_compact import MODELS


class HardCodedWidth(nn.Module):
    """A forward that reshapes to a fixed width: slicing cannot run it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 3, padding=1)
        self.out = nn.Linear(8 * 16, 3)

    def forward(self, x):
        return self.out(torch.relu(self.conv(x)).reshape(-1, 8 * 16))


@pytest.mark.parametrize("make, shape", MODELS[:4])
def test_sliced_call_equals_compacted_model(make, shape):
    torch.manual_seed(0)
    model = randomize_batchnorm(make()).eval()
    space = PruningSpace(model, torch.randn(2, *shape))
    slicer = ParameterSlicer(model, space, torch.randn(4, *shape))
    assert slicer.supported
    x = torch.randn(5, *shape)
    rng = np.random.default_rng(1)
    for keep in (0.3, 0.6, 1.0):
        mask = space.repair(rng.random(space.num_units) < keep)
        params, buffers = slicer(mask)
        pruned = compact(model, space, mask)
        assert {n: p.shape for n, p in params.items()} == {
            n: p.shape for n, p in pruned.named_parameters()}
        with torch.inference_mode():
            torch.testing.assert_close(functional_call(model, {**params, **buffers}, (x,)),
                                       pruned(x), rtol=1e-4, atol=1e-5)
    assert all(p.shape == q.shape for p, q in zip(slicer.params.values(), model.parameters()))


def test_grouped_conv_and_fixed_widths_are_not_supported():
    depthwise, shape = MODELS[4]
    model = depthwise().eval()
    assert not ParameterSlicer(model, PruningSpace(model, torch.randn(2, *shape)),
                               torch.randn(2, *shape)).supported
    fixed = HardCodedWidth().eval()
    x = torch.randn(2, 1, 16)
    assert not ParameterSlicer(fixed, PruningSpace(fixed, x), x).supported
