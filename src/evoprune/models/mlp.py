"""Fully connected classifier."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch
from torch import nn


def positive_ints(name: str, values: Sequence[int], owner: str) -> tuple[int, ...]:
    """Return ``values`` as a tuple of ints, or raise ValueError if any is not a positive int.

    ``owner`` and ``name`` (e.g. ``"CNN1d"``, ``"channels"``) make the error say what was wrong.
    """
    try:
        # operator.index accepts int-like values (numpy ints) but rejects floats like 2.5.
        out = tuple(operator.index(v) for v in values)
    except TypeError:
        raise ValueError(
            f"{owner} {name} must be a sequence of positive integers, got {values!r}"
        ) from None
    if any(isinstance(v, bool) or v <= 0 for v in out):
        raise ValueError(f"{owner} {name} must be positive integers, got {list(out)}")
    return out


class MLP(nn.Module):
    """Flatten -> [Linear -> (BatchNorm1d) -> ReLU] per hidden size -> Linear(num_classes).

    Submodules: ``features`` (flatten + hidden blocks) and ``classifier`` (the output Linear).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        hidden: Sequence[int] = (256, 128),
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.input_shape = positive_ints("input_shape", input_shape, "MLP")
        if not self.input_shape:
            raise ValueError("MLP expects a non-empty input_shape, got []")
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), "MLP")
        hidden = positive_ints("hidden sizes", hidden, "MLP")

        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(self.input_shape)
        for size in hidden:
            # Bias is redundant before BatchNorm (BN's shift replaces it).
            layers.append(nn.Linear(width, size, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(nn.ReLU())
            width = size
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs of shape ``(N, *input_shape)`` to logits of shape ``(N, num_classes)``."""
        return self.classifier(self.features(x))
