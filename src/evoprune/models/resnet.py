"""CIFAR-style residual networks (He et al., 2016, section 4.2) in 1-D or 2-D.

A 3x3 (1-D: 3) stem conv, three stages of basic blocks (conv-BN-ReLU-conv-BN plus a shortcut)
at ``widths`` channels, the second and third stage starting with stride 2, then global average
pooling and one Linear. ResNet-20/32/56 on CIFAR-10 are ``blocks_per_stage`` 3/5/9 with widths
(16, 32, 64); a stage that changes width or stride uses a 1x1 conv + BN shortcut (option B).

For pruning, every block's first conv is a group of its own; the second convs of a stage, the
shortcut convs and (in the first stage) the stem all add into one residual stream, so each
stage's stream is one coupled group: ``3 * blocks_per_stage + 3`` groups in all
(``blocks_per_stage=2``: 9). Which layers to prune and by how much matters more here than in a
plain CNN, since a stream's channels are shared by every block of the stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from evoprune.models.mlp import positive_ints

LAYERS = {1: (nn.Conv1d, nn.BatchNorm1d, nn.AdaptiveAvgPool1d),
          2: (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d)}


class BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, added to the (projected) input, then ReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dims: int) -> None:
        super().__init__()
        conv, norm, _ = LAYERS[dims]
        self.conv1 = conv(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm(out_ch)
        self.conv2 = conv(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = norm(out_ch)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(conv(in_ch, out_ch, 1, stride=stride, bias=False),
                                          norm(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """A CIFAR-style ResNet for inputs ``(channels, length)`` (1-D, e.g. MNIST-1D's
    ``(1, 40)``) or ``(channels, height, width)`` (2-D, e.g. CIFAR-10's ``(3, 32, 32)``).

    Args:
        input_shape, num_classes: from the data.
        blocks_per_stage: basic blocks in each of the three stages (ResNet-(6n+2)).
        widths: channels of the three stages.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        blocks_per_stage: int = 2,
        widths: Sequence[int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        shape = tuple(input_shape)
        if len(shape) - 1 not in LAYERS:
            raise ValueError("ResNet expects input_shape (channels, length) or (channels, "
                             f"height, width), got {list(shape)}")
        self.input_shape = positive_ints("input_shape", shape, "ResNet")
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), "ResNet")
        (blocks,) = positive_ints("blocks_per_stage", (blocks_per_stage,), "ResNet")
        widths = positive_ints("widths", widths, "ResNet")
        if len(widths) != 3:
            raise ValueError(f"ResNet widths must list 3 stage widths, got {list(widths)}")
        dims = len(shape) - 1
        conv, norm, pool = LAYERS[dims]
        self.stem = nn.Sequential(conv(shape[0], widths[0], 3, padding=1, bias=False),
                                  norm(widths[0]), nn.ReLU())
        stages, in_ch = [], widths[0]
        for index, width in enumerate(widths):
            stage = []
            for block in range(blocks):
                stride = 2 if index > 0 and block == 0 else 1
                stage.append(BasicBlock(in_ch, width, stride, dims))
                in_ch = width
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = pool(1)
        self.fc = nn.Linear(widths[-1], self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(N, *input_shape)`` to logits ``(N, num_classes)``."""
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))
