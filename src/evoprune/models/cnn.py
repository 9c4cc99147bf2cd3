"""Small 1-D and 2-D convolutional classifiers.

Both follow the same layout so pruning code can treat them alike:

* ``features``: per block Conv -> (BatchNorm) -> ReLU, with MaxPool(2) after every block but
  the last (pooling the last block too would shrink MNIST-1D's length 40 input to 5 and 8x8
  digits to 2x2, throwing away spatial detail the classifier can still use).
* ``classifier``: Flatten -> Linear(hidden) -> ReLU -> Linear(num_classes). The first Linear's
  input features are (last conv channel, position) pairs, so pruning a conv channel must also
  remove the matching block of columns in that Linear.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from evoprune.models.mlp import positive_ints


def _check_kernel(kernel_size: int, owner: str) -> int:
    (k,) = positive_ints("kernel_size", (kernel_size,), owner)
    if k % 2 == 0:
        # padding=k//2 only preserves the spatial size for odd kernels.
        raise ValueError(f"{owner} kernel_size must be odd so padding=k//2 keeps the size, got {k}")
    return k


def _pooled_size(size: int, num_pools: int, owner: str, input_shape: tuple[int, ...]) -> int:
    """Spatial size after ``num_pools`` MaxPool(2) layers (each floors size / 2)."""
    out = size
    for _ in range(num_pools):
        out //= 2
    if out < 1:
        raise ValueError(
            f"{owner} input_shape {list(input_shape)} is too small for {num_pools} pooling "
            f"layer(s) (each halves the size); use fewer channels entries or a larger input"
        )
    return out


def _conv_blocks(in_ch, channels, k, batch_norm, conv, norm, pool) -> nn.Sequential:
    """Conv -> (BatchNorm) -> ReLU per block, MaxPool(2) between blocks."""
    layers: list[nn.Module] = []
    for i, out_ch in enumerate(channels):
        # Bias is redundant before BatchNorm (BN's shift replaces it).
        layers.append(conv(in_ch, out_ch, k, padding=k // 2, bias=not batch_norm))
        if batch_norm:
            layers.append(norm(out_ch))
        layers.append(nn.ReLU())
        if i < len(channels) - 1:
            layers.append(pool(2))
        in_ch = out_ch
    return nn.Sequential(*layers)


def _classifier(features: int, hidden: int, num_classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
    )


class CNN1d(nn.Module):
    """1-D CNN for inputs of shape ``(channels, length)``, e.g. MNIST-1D's ``(1, 40)``.

    With the defaults on length 40: 40 -> pool -> 20 -> pool -> 10, so the classifier's first
    Linear sees 64 * 10 = 640 features.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (32, 64, 64),
        kernel_size: int = 5,
        hidden: int = 128,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        shape = tuple(input_shape)
        if len(shape) != 2:
            raise ValueError(f"CNN1d expects input_shape (channels, length), got {list(shape)}")
        self.input_shape = positive_ints("input_shape", shape, "CNN1d")
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), "CNN1d")
        channels = positive_ints("channels", channels, "CNN1d")
        if not channels:
            raise ValueError("CNN1d channels must list at least one conv block, got []")
        k = _check_kernel(kernel_size, "CNN1d")
        (hidden,) = positive_ints("hidden", (hidden,), "CNN1d")

        in_ch, length = self.input_shape
        self.features = _conv_blocks(
            in_ch, channels, k, batch_norm, nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d
        )
        flat = channels[-1] * _pooled_size(length, len(channels) - 1, "CNN1d", self.input_shape)
        self.classifier = _classifier(flat, hidden, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(N, channels, length)`` to logits ``(N, num_classes)``."""
        return self.classifier(self.features(x))


class CNN2d(nn.Module):
    """2-D CNN for inputs of shape ``(channels, height, width)``, e.g. 8x8 digits ``(1, 8, 8)``.

    With the defaults on 8x8: 8x8 -> pool -> 4x4, so the classifier's first Linear sees
    64 * 4 * 4 = 1024 features.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        kernel_size: int = 3,
        hidden: int = 128,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"CNN2d expects input_shape (channels, height, width), got {list(shape)}"
            )
        self.input_shape = positive_ints("input_shape", shape, "CNN2d")
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), "CNN2d")
        channels = positive_ints("channels", channels, "CNN2d")
        if not channels:
            raise ValueError("CNN2d channels must list at least one conv block, got []")
        k = _check_kernel(kernel_size, "CNN2d")
        (hidden,) = positive_ints("hidden", (hidden,), "CNN2d")

        in_ch, height, width = self.input_shape
        self.features = _conv_blocks(
            in_ch, channels, k, batch_norm, nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d
        )
        num_pools = len(channels) - 1
        spatial = math.prod(
            _pooled_size(s, num_pools, "CNN2d", self.input_shape) for s in (height, width)
        )
        self.classifier = _classifier(channels[-1] * spatial, hidden, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(N, channels, height, width)`` to logits ``(N, num_classes)``."""
        return self.classifier(self.features(x))
