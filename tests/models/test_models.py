"""Output shapes, structure and argument validation of the model families."""

import pytest
import torch
from torch import nn

from evoprune.models import MLP, CNN1d, CNN2d, ResNet
from evoprune.pruning.space import PruningSpace


@pytest.mark.parametrize(
    ("model", "input_shape"),
    [
        (MLP((1, 40), 10), (1, 40)),
        (MLP((64,), 10, hidden=(32,), batch_norm=True), (64,)),
        (MLP((1, 8, 8), 10, hidden=()), (1, 8, 8)),
        (CNN1d((1, 40), 10), (1, 40)),
        (CNN1d((3, 32), 10, channels=(8,), kernel_size=3, batch_norm=False), (3, 32)),
        (CNN1d((1, 40), 10, channels=(4, 4, 4, 4, 4, 4)), (1, 40)),
        (CNN2d((1, 8, 8), 10), (1, 8, 8)),
        (CNN2d((3, 9, 7), 10, channels=(8, 8, 8)), (3, 9, 7)),
        (ResNet((1, 40), 10), (1, 40)),
        (ResNet((3, 16, 16), 10, blocks_per_stage=1, widths=(4, 8, 8)), (3, 16, 16)),
    ],
)
def test_output_shape(model, input_shape):
    model.eval()
    out = model(torch.randn(5, *input_shape))
    assert out.shape == (5, 10)


def test_cnn1d_default_layout_on_mnist1d_length():
    model = CNN1d((1, 40), 10)
    convs = [m for m in model.features if isinstance(m, nn.Conv1d)]
    pools = [m for m in model.features if isinstance(m, nn.MaxPool1d)]
    assert [c.out_channels for c in convs] == [32, 64, 64]
    assert len(pools) == 2
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.features) == 3
    # 40 -> 20 -> 10 positions x 64 channels feed the first Linear.
    assert model.classifier[1].in_features == 64 * 10
    assert model.classifier[1].out_features == 128


def test_cnn2d_default_layout_on_digits():
    model = CNN2d((1, 8, 8), 10)
    assert model.classifier[1].in_features == 64 * 4 * 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.features) == 2


def test_mlp_layers():
    model = MLP((1, 40), 3, hidden=(16, 8))
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(40, 16), (16, 8), (8, 3)]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: CNN1d([1, 8, 8], 10),
            r"CNN1d expects input_shape \(channels, length\), got \[1, 8, 8\]",
        ),
        (lambda: CNN2d((1, 40), 10), r"CNN2d expects input_shape \(channels, height, width\)"),
        (lambda: CNN1d((0, 40), 10), r"CNN1d input_shape must be positive integers, got \[0, 40\]"),
        (lambda: CNN1d((1, 40), 0), "num_classes"),
        (lambda: CNN1d((1, 40), 10, channels=(32, -1)), r"channels .*\[32, -1\]"),
        (lambda: CNN1d((1, 40), 10, kernel_size=4), "kernel_size must be odd"),
        (lambda: CNN1d((1, 4), 10, channels=(4, 4, 4, 4)), "too small"),
        (lambda: CNN2d((1, 8, 8), 10, hidden=0), "hidden"),
        (lambda: MLP((), 10), "non-empty"),
        (lambda: ResNet((40,), 10), r"ResNet expects input_shape .*got \[40\]"),
        (lambda: ResNet((1, 40), 10, widths=(16, 32)), r"3 stage widths, got \[16, 32\]"),
        (lambda: ResNet((1, 40), 10, blocks_per_stage=0), "blocks_per_stage"),
        (lambda: MLP((1, 40), 10, hidden=(16, 2.5)), "hidden sizes"),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_resnet_prunes_in_three_groups_per_block_stage(blocks):
    """One group per block's first conv and one coupled group per stage's residual stream
    (its stem or shortcut conv named), so ResNet-(6n+2) has 3n + 3 groups."""
    model = ResNet((1, 40), 10, blocks_per_stage=blocks).eval()
    space = PruningSpace(model, torch.randn(2, 1, 40))
    names = [group.name for group in space.groups]
    assert len(names) == 3 * blocks + 3
    assert sum(name.endswith("conv1") for name in names) == 3 * blocks
    assert {"stem.0", "stages.1.0.shortcut.0", "stages.2.0.shortcut.0"} <= set(names)
    assert [g.size for g in space.groups if g.name.startswith("stages.2")] == [64] * (blocks + 1)
