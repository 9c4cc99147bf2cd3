"""Masked evaluation: the dense model's parameters with dropped units zeroed.

Zeroing a unit's producer slices (conv/linear output rows, BatchNorm affine) and its consumer
slices (input columns of the next layers) gives the same outputs as removing it, for any
activation, so a candidate is scored without copying or rebuilding the model: the masked
parameters are passed to ``torch.func.functional_call``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace


class ParameterMasker:
    """Builds masked copies of a model's parameters for one mask or a batch of masks."""

    def __init__(self, model: nn.Module, space: PruningSpace, device: torch.device | str = "cpu"):
        self.space = space
        self.dense = {name: p.detach().to(device) for name, p in model.named_parameters()}
        self.dims: dict[str, list[tuple[int, torch.Tensor]]] = {}
        for coupling in space.couplings:
            units = torch.as_tensor(coupling.units, device=device)
            self.dims.setdefault(coupling.param, []).append((coupling.dim, units))
        self.device = torch.device(device)

    def __call__(self, mask: np.ndarray) -> dict[str, torch.Tensor]:
        """The model's parameters under ``mask`` (uncoupled parameters are shared, not copied)."""
        keep = torch.ones(self.space.num_units + 1, dtype=torch.bool, device=self.device)
        keep[:-1] = torch.as_tensor(np.asarray(mask, dtype=bool), device=self.device)
        params = dict(self.dense)
        for name, dims in self.dims.items():
            value = params[name]
            for dim, units in dims:
                shape = [1] * value.dim()
                shape[dim] = -1
                value = value * keep[units].view(shape).to(value.dtype)
            params[name] = value
        return params


class WeightMasker:
    """Masked parameters for unstructured policies: each layer keeps its largest weights."""

    def __init__(self, model: nn.Module, space: UnstructuredSpace) -> None:
        self.space = space
        self.dense = {name: p.detach() for name, p in model.named_parameters()}

    def __call__(self, policy: np.ndarray) -> dict[str, torch.Tensor]:
        masks = self.space.weight_masks(policy)
        return {**self.dense, **{name: self.dense[name] * keep for name, keep in masks.items()}}


def make_masker(model: nn.Module, space: PruningSpace | UnstructuredSpace):
    """The masker that matches the kind of pruning space."""
    if space.kind == "unstructured":
        return WeightMasker(model, space)
    return ParameterMasker(model, space)
