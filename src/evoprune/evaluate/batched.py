"""Several masks in one call: the population's masked parameters stacked, the model run once
under ``torch.func.vmap`` (``evaluator.mode=batched``).

Every candidate does the dense arithmetic (its dropped units are zeroed, as in masked
scoring), but a chunk of candidates costs one forward pass of larger kernels instead of one
small pass each. That is meant for a GPU, where launches and small convolutions can leave
most of the chip idle (not measured on one yet); on a CPU, slicing each candidate
to its kept units costs 2.5-3.9x less (experiments/performance.md). Parameters no mask
touches are passed once, not stacked.

BatchNorm statistics are re-estimated per candidate as the serial path does (a cumulative
average over the calibration batches), with ``momentum = 1/k`` on the k-th batch: the same
average, without the ``float(num_batches_tracked)`` that vmap cannot take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from evoprune.evaluate.batchnorm import batchnorm_layers, cumulative_statistics
from evoprune.pruning.blocks import blocks_removed, outside
from evoprune.tasks import CLASSIFICATION, Task

if TYPE_CHECKING:
    from evoprune.pruning.space import PruningSpace


class PopulationScorer:
    """Validation scores of masks, ``candidates`` of them per vmapped forward pass.

    Args:
        model: the dense model (eval mode; its BatchNorm layers are switched to train mode
            while statistics are re-estimated, and restored).
        space: its pruning space (masks that remove different residual blocks run as different
            networks, so they are grouped by the blocks they remove).
        masker: gives each mask's parameters (dense tensors for what the mask leaves alone).
        x_val, y_val: validation data, on the model's device.
        calibration_batches: inputs for BatchNorm re-estimation (empty: dense statistics).
        batch_size: validation samples per call; a call holds ``candidates x batch_size``
            samples' activations (and ``candidates x`` a calibration batch).
        candidates: masks per call.
        task: what the score is (top-1 accuracy by default).
    """

    def __init__(self, model: nn.Module, space: PruningSpace, masker,
                 x_val: torch.Tensor, y_val: torch.Tensor,
                 calibration_batches: Sequence[torch.Tensor], batch_size: int,
                 candidates: int, task: Task = CLASSIFICATION) -> None:
        self.model, self.space, self.masker = model, space, masker
        self.x_val, self.y_val = x_val, y_val
        self.calibration_batches = list(calibration_batches)
        self.batch_size, self.candidates, self.task = batch_size, candidates, task
        self.buffers = dict(model.named_buffers())
        self.bn_modules = batchnorm_layers(model)

    def accuracies(self, masks: Sequence[np.ndarray]) -> list[float]:
        """Validation score of each mask, in order."""
        by_removed: dict[tuple[str, ...], list[int]] = {}
        for index, mask in enumerate(masks):
            by_removed.setdefault(tuple(self.space.removed_blocks(mask)), []).append(index)
        result = [0.0] * len(masks)
        for removed, indices in by_removed.items():
            for start in range(0, len(indices), self.candidates):
                chunk = indices[start:start + self.candidates]
                outputs = self._outputs([masks[i] for i in chunk], removed)
                for index, candidate in zip(chunk, outputs):
                    result[index] = self.task.score(candidate, self.y_val)
        return result

    @torch.inference_mode()
    def outputs(self, masks: Sequence[np.ndarray], x: torch.Tensor) -> torch.Tensor:
        """The model's outputs on ``x`` under each mask, stacked (candidates first), with the
        dense BatchNorm statistics: what the scorer checks this path against. The masks must
        remove the same blocks (one network)."""
        removed = tuple(self.space.removed_blocks(masks[0]))
        params, dims = self._stacked(masks, removed)
        with blocks_removed(self.model, removed):
            return self._call(params, dims, outside(self.buffers, removed), None, x)

    @torch.inference_mode()
    def _outputs(self, masks: list[np.ndarray], removed: tuple[str, ...]) -> torch.Tensor:
        """Each mask's outputs on the validation inputs (candidates first), with BatchNorm
        statistics re-estimated per mask when there are calibration batches."""
        params, dims = self._stacked(masks, removed)
        buffers, buffer_dims = outside(self.buffers, removed), None
        with blocks_removed(self.model, removed):
            if self.calibration_batches:
                buffers, buffer_dims = self._recalibrated(params, dims, buffers, len(masks))
            return torch.cat([self._call(params, dims, buffers, buffer_dims, x).float()
                              for x in self.x_val.split(self.batch_size)], dim=1)

    def _stacked(self, masks: Sequence[np.ndarray], removed: tuple[str, ...]):
        """Each parameter stacked over the candidates where some mask changes it, else the
        dense tensor once; and vmap's in_dims saying which is which."""
        each = [outside(self.masker(mask), removed) for mask in masks]
        params, dims = {}, {}
        for name, dense in each[0].items():
            # maskers hand back the dense tensor itself for what a mask leaves alone
            # (one is stacked regardless: vmap needs a batched input even when every
            # candidate keeps every unit, as a chunk of masks that only remove blocks can)
            if params and all(candidate[name] is dense for candidate in each):
                params[name], dims[name] = dense, None
            else:
                params[name] = torch.stack([candidate[name] for candidate in each])
                dims[name] = 0
        return params, dims

    def _call(self, params, dims, buffers, buffer_dims, x: torch.Tensor) -> torch.Tensor:
        def forward(params, buffers, x):
            return functional_call(self.model, {**params, **buffers}, (x,))

        return vmap(forward, in_dims=(dims, buffer_dims, None))(params, buffers, x)

    def _recalibrated(self, params, dims, buffers, count: int):
        """Per-candidate BatchNorm statistics: the buffers stacked and re-estimated."""
        stacked = {}
        for name, value in buffers.items():
            value = value.unsqueeze(0).repeat(count, *[1] * value.dim())
            if name.endswith(("running_mean", "num_batches_tracked")):
                value.zero_()
            elif name.endswith("running_var"):
                value.fill_(1.0)
            stacked[name] = value
        with cumulative_statistics(self.bn_modules):
            for k, x in enumerate(self.calibration_batches, start=1):
                for module in self.bn_modules:
                    module.momentum = 1.0 / k  # the cumulative average, vmap-safe
                self._call(params, dims, stacked, 0, x)
        return stacked, 0
