"""The CIFAR variants of VGG-16 with BatchNorm and of MobileNetV2, for 32 x 32 images.

- **VGG** (Simonyan & Zisserman, 2015, with BatchNorm; the CIFAR layout network slimming and
  Torch-Pruning report on): five stages of 3x3 conv-BN-ReLU at 64/128/256/512/512 channels
  (2, 2, 3, 3, 3 convs), each followed by 2x2 max pooling, then one Linear on the 512 features
  left. 313.2M MACs and 14.72M parameters on CIFAR-10.
- **MobileNetV2** (Sandler et al., 2018), CIFAR variant: the stem and the second stage keep
  stride 1 (32 x 32 inputs are already small), then inverted residual blocks (1x1 expansion,
  3x3 depthwise, 1x1 linear projection; an identity shortcut where stride and width allow),
  a 1x1 conv to 1,280 channels, average pooling and one Linear. 88.0M MACs and 2.24M
  parameters on CIFAR-10 (variants with 1x1 shortcut convs count more). Each block's
  expansion is one group with its depthwise conv (named after the depthwise conv); the
  projections of blocks joined by shortcuts share one residual-stream group.

``width`` scales every channel count (tests use small ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from evoprune.infra.validators import check_number
from evoprune.models.mlp import positive_ints

VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
# (expansion, output channels, blocks, stride of the first block), CIFAR strides
MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _image_shape(input_shape: Sequence[int], owner: str) -> tuple[int, ...]:
    shape = positive_ints("input_shape", tuple(input_shape), owner)
    if len(shape) != 3:
        raise ValueError(f"{owner} expects input_shape (channels, height, width), got "
                         f"{list(shape)}; use data=cifar10 or another image dataset")
    return shape


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _check_width(width: float, owner: str) -> float:
    check_number(f"{owner} width", width, low=0, low_open=True, high=4)
    return float(width)


class VGG(nn.Module):
    """VGG with BatchNorm for 32 x 32 images: ``stages`` of 3x3 conv-BN-ReLU, 2x2 max pooling
    after each, one Linear (VGG-16 by default).

    Args:
        input_shape, num_classes: from the data.
        stages: output channels of each conv, per stage.
        width: scales every channel count.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int,
                 stages: Sequence[Sequence[int]] = VGG16_STAGES, width: float = 1.0) -> None:
        super().__init__()
        shape = _image_shape(input_shape, "VGG")
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), "VGG")
        width = _check_width(width, "VGG")
        if not stages or any(not stage for stage in stages):
            raise ValueError(f"VGG stages must be a non-empty list of non-empty lists, got "
                             f"{stages!r}")
        if shape[1] >> len(stages) < 1 or shape[2] >> len(stages) < 1:
            raise ValueError(f"VGG: {len(stages)} poolings do not fit input_shape {list(shape)}")
        layers: list[nn.Module] = []
        in_ch = shape[0]
        for stage in stages:
            for out in positive_ints("stages", stage, "VGG"):
                out = _scaled(out, width)
                layers += [nn.Conv2d(in_ch, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
                           nn.ReLU(inplace=True)]
                in_ch = out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # 1 x 1 already on 32 x 32 inputs
        self.classifier = nn.Linear(in_ch, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(N, *input_shape)`` to logits ``(N, num_classes)``."""
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class InvertedResidual(nn.Module):
    """1x1 expansion (when ``expansion > 1``), 3x3 depthwise, 1x1 linear projection, each
    with BatchNorm; added to the input when the stride is 1 and the width unchanged."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int, stride: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden,
                             bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class MobileNetV2(nn.Module):
    """MobileNetV2 for 32 x 32 images (CIFAR strides: stem and second stage at stride 1).

    Args:
        input_shape, num_classes: from the data.
        width: scales every channel count (the width multiplier).
        blocks: ``(expansion, channels, blocks, stride)`` of each stage.
    """

    def __init__(self, input_shape: Sequence[int], num_classes: int, width: float = 1.0,
                 blocks: Sequence[Sequence[int]] = MOBILENET_V2_BLOCKS) -> None:
        super().__init__()
        shape = _image_shape(input_shape, "MobileNetV2")
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), "MobileNetV2")
        width = _check_width(width, "MobileNetV2")
        stem = _scaled(32, width)
        self.stem = nn.Sequential(nn.Conv2d(shape[0], stem, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU6(inplace=True))
        layers, in_ch = [], stem
        for setting in blocks:
            expansion, channels, count, stride = positive_ints("blocks", setting, "MobileNetV2")
            out = _scaled(channels, width)
            for index in range(count):
                layers.append(InvertedResidual(in_ch, out, expansion,
                                               stride if index == 0 else 1))
                in_ch = out
        self.blocks = nn.Sequential(*layers)
        last = _scaled(1280, max(width, 1.0))  # as the paper: never narrower than 1,280
        self.head = nn.Sequential(nn.Conv2d(in_ch, last, 1, bias=False), nn.BatchNorm2d(last),
                                  nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(last, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(N, *input_shape)`` to logits ``(N, num_classes)``."""
        return self.classifier(torch.flatten(self.head(self.blocks(self.stem(x))), 1))
