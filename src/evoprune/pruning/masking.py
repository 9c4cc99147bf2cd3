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

    def __init__(self, model: nn.Module, space: PruningSpace,
                 device: torch.device | str | None = None):
        """``device``: where the masked parameters live (None: the model's device)."""
        device = device if device is not None else next(model.parameters()).device
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


def dropped_entries(model: nn.Module, space, mask: np.ndarray) -> dict[str, torch.Tensor]:
    """For each parameter a mask prunes, a bool tensor of its shape: True where the entry is
    removed (structured: the slices dropped units own, along in and out dims; unstructured:
    the weights below each layer's kept count)."""
    if space.kind == "unstructured":
        return {name: ~keep for name, keep in space.weight_masks(mask).items()}
    keep = np.append(space.check(mask), True)  # index -1 (no unit) is always kept
    params = dict(model.named_parameters())
    dropped: dict[str, torch.Tensor] = {}
    for coupling in space.couplings:
        param = params[coupling.param]
        kept = torch.as_tensor(keep[coupling.units], device=param.device)
        shape = [1] * param.dim()
        shape[coupling.dim] = -1
        entries = ~kept.view(shape).expand_as(param)
        if coupling.param in dropped:  # a weight can follow units along two dims (in and out)
            entries = entries | dropped[coupling.param]
        dropped[coupling.param] = entries
    return dropped


class MaskHold:
    """Zeroes, in place, every parameter entry a mask removes, so a dense-shaped model computes
    what the pruned model computes. Call it after each optimizer step while fine-tuning with the
    mask fixed: weight decay and momentum would otherwise move removed entries off zero."""

    def __init__(self, model: nn.Module, space, mask: np.ndarray) -> None:
        params = dict(model.named_parameters())
        self._targets = [
            (params[name], entries)
            for name, entries in dropped_entries(model, space, mask).items()
            if bool(entries.any())
        ]

    @torch.no_grad()
    def __call__(self) -> None:
        for param, entries in self._targets:
            param.masked_fill_(entries, 0.0)
