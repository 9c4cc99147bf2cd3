"""The CIFAR models: published sizes, layouts, and exact pruning of their small variants."""

import numpy as np
import pytest
import torch

from evoprune.models import VGG, MobileNetV2, ResNet
from evoprune.pruning.macs import counted_macs
from evoprune.pruning.space import PruningSpace
from tests.helpers import assert_compacts_exactly

CIFAR = (3, 32, 32)


@pytest.mark.parametrize("build, macs, params", [
    # He et al. 2016 / Torch-Pruning: 125.49M MACs, 0.853M parameters (our shortcuts are 1x1
    # convs, option B, which the published count leaves out)
    (lambda: ResNet(CIFAR, 10, blocks_per_stage=9), 125.49e6, 0.853e6),
    (lambda: VGG(CIFAR, 10), 313.2e6, 14.72e6),  # network slimming's CIFAR VGG-16: ~313M
])
def test_published_sizes_within_one_percent_and_the_flop_counter_agrees(build, macs, params):
    model = build().eval()
    x = torch.randn(2, *CIFAR)
    space = PruningSpace(model, x)
    assert space.dense_macs == pytest.approx(macs, rel=0.01)
    assert space.dense_params == pytest.approx(params, rel=0.01)
    assert space.dense_macs == counted_macs(model, x)


@pytest.mark.parametrize("build", [
    lambda: VGG(CIFAR, 10, stages=((8,), (8, 12), (16,)), width=1.0),
    lambda: MobileNetV2(CIFAR, 10, width=0.25, blocks=((1, 16, 1, 1), (6, 24, 2, 2),
                                                       (6, 32, 2, 1))),
], ids=["vgg", "mobilenet_v2"])
def test_small_variants_prune_exactly(build):
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(3, *CIFAR)
    space = PruningSpace(model, x)
    mask = space.repair(np.random.default_rng(0).random(space.num_units) < 0.5)
    assert_compacts_exactly(model, space, mask, x, atol=1e-4)


def test_mobilenet_v2_depthwise_convs_follow_their_expansion():
    model = MobileNetV2(CIFAR, 10, width=0.25, blocks=((6, 24, 2, 1),)).eval()
    space = PruningSpace(model, torch.randn(2, *CIFAR))
    depthwise = next(g for g in space.groups if g.name == "blocks.0.body.3")
    assert "blocks.0.body.0" in depthwise.members  # the expansion, channel for channel
    assert depthwise.size == 6 * 8  # expansion 6 of the 8-channel stem
    # the two blocks' projections add into one stream: one group
    assert sum(g.name.endswith("body.6") for g in space.groups) == 1


@pytest.mark.parametrize("build, message", [
    (lambda: VGG((1, 40), 10), "VGG expects input_shape \\(channels, height, width\\)"),
    (lambda: VGG(CIFAR, 10, width=0), "VGG width must be a number in \\(0, 4\\], got 0"),
    (lambda: VGG((3, 8, 8), 10), "VGG: 5 poolings do not fit input_shape \\[3, 8, 8\\]"),
    (lambda: MobileNetV2((1, 40), 10), "MobileNetV2 expects input_shape"),
])
def test_bad_arguments_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_torchvision_classifiers_work_through_model_target():
    torchvision = pytest.importorskip("torchvision")  # absent beside the CPU torch wheel
    from evoprune.config.targets import make_model

    model = make_model({"_target_": "torchvision.models.resnet18"}, (3, 32, 32), 10).eval()
    assert isinstance(model, torchvision.models.ResNet) and model.fc.out_features == 10
    space = PruningSpace(model, torch.randn(2, *CIFAR))
    assert space.dense_macs == counted_macs(model, torch.randn(2, *CIFAR))
