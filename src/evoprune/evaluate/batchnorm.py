"""Re-estimating a pruned network's BatchNorm statistics: the layers, and the mode they are
put in while calibration batches run through them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from torch import nn

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def batchnorm_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, BN_TYPES)]


@contextlib.contextmanager
def cumulative_statistics(modules: Sequence[nn.Module]) -> Iterator[None]:
    """BatchNorm layers in train mode that update their running statistics as an equal-weight
    average of the batches seen (``momentum=None``); mode and momentum restored afterwards."""
    saved = [(m, m.training, m.momentum) for m in modules]
    try:
        for module in modules:
            module.train()
            module.momentum = None
        yield
    finally:
        for module, training, momentum in saved:
            module.train(training)
            module.momentum = momentum
