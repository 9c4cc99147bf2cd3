"""Sparsity-inducing penalties for dense training, and the per-unit quantities they shrink.

Network slimming (Liu et al., ICCV 2017) trains with an L1 penalty on the BatchNorm scales
that follow prunable channels (``train.l1_bn``), so that a global threshold on the scales
afterwards removes channels the network has learnt to do without. Units with no BatchNorm
scale (linear neurons, recurrent hidden units, convolutions without BatchNorm) get a
group-lasso penalty instead (``train.group_lasso``; Wen et al., NeurIPS 2016): the L2 norm of
every parameter slice the unit owns, summed over units, which drives whole units to zero.

Both read the pruning space's coupling table, so a unit's penalty covers exactly what pruning
that unit removes, on every model the space handles. torch-pruning's regularising pruners
(``BNScalePruner``, ``GroupNormPruner``) would need their own dependency graph of the model,
which cannot be traced through recurrent layers (see :mod:`evoprune.pruning.recurrent`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from evoprune.infra.validators import check_number
from evoprune.pruning.space import PruningSpace, unit_scores


def _is_bn_scale(model: nn.Module, param: str) -> bool:
    owner, _, leaf = param.rpartition(".")
    return leaf == "weight" and isinstance(model.get_submodule(owner),
                                           nn.modules.batchnorm._BatchNorm)


def bn_scale_couplings(space: PruningSpace, model: nn.Module) -> list:
    """The space's couplings that are BatchNorm scales (gamma) following prunable units."""
    return [c for c in space.couplings if _is_bn_scale(model, c.param)]


def has_bn_scale(space: PruningSpace, model: nn.Module) -> np.ndarray:
    """Per unit: whether some BatchNorm scale follows it."""
    found = np.zeros(space.num_units, dtype=bool)
    for coupling in bn_scale_couplings(space, model):
        found[coupling.units[coupling.units >= 0]] = True
    return found


def bn_scales(space: PruningSpace, model: nn.Module) -> np.ndarray:
    """Per unit: the mean ``|gamma|`` over the BatchNorm layers that follow it (0 where none),
    the quantity network slimming ranks; torch-pruning's ``BNScaleImportance`` (mean
    reduction, no normaliser) read off the coupling table."""
    couplings = bn_scale_couplings(space, model)
    return unit_scores({c.param: model.get_parameter(c.param).abs() for c in couplings},
                       ((c.param, c.dim, c.units) for c in couplings), space.num_units)


def _squared_norms(model: nn.Module, parts, num_units: int) -> torch.Tensor:
    """Per unit: the sum of squares of every parameter slice it owns (differentiable)."""
    device = next(model.parameters()).device
    total = torch.zeros(num_units, device=device)
    for param, dim, positions, units in parts:
        value = model.get_parameter(param)
        others = [d for d in range(value.dim()) if d != dim]
        per_index = value.pow(2).sum(dim=others) if others else value.pow(2)
        total = total.index_add(0, units.to(device),
                                per_index.index_select(0, positions.to(device)).to(total.dtype))
    return total


def _owned_parts(space: PruningSpace, keep: np.ndarray) -> list:
    """``(param, dim, positions, units)`` of every coupling entry whose unit is in ``keep``."""
    parts = []
    for coupling in space.couplings:
        owners = coupling.units
        chosen = np.flatnonzero((owners >= 0) & keep[np.maximum(owners, 0)])
        if chosen.size:
            parts.append((coupling.param, coupling.dim, torch.from_numpy(chosen),
                          torch.from_numpy(owners[chosen])))
    return parts


def unit_norms(space: PruningSpace, model: nn.Module) -> np.ndarray:
    """Per unit: the L2 norm of every parameter slice it owns (weights and biases, in every
    layer it touches), what the group lasso shrinks."""
    with torch.no_grad():
        squared = _squared_norms(model, _owned_parts(space, np.ones(space.num_units, bool)),
                                 space.num_units)
    return squared.sqrt().double().cpu().numpy()


class SparsityPenalty:
    """``l1_bn * sum |gamma| + group_lasso * sum_units ||unit||_2``, added to the training loss.

    The L1 term covers the BatchNorm scales that follow prunable units; the group lasso
    covers the units that have no such scale (with ``l1_bn`` at 0 as well, every unit that
    has one is left alone). Build it on the model it will train (parameter names are read
    once; the values are read at every call).
    """

    def __init__(self, space: PruningSpace, model: nn.Module, *, l1_bn: float = 0.0,
                 group_lasso: float = 0.0) -> None:
        check_number("l1_bn", l1_bn, low=0)
        check_number("group_lasso", group_lasso, low=0)
        self.l1_bn = float(l1_bn)
        self.group_lasso = float(group_lasso)
        scaled = has_bn_scale(space, model)
        self._scales = [(c.param, torch.from_numpy(np.flatnonzero(c.units >= 0)))
                        for c in bn_scale_couplings(space, model)]
        self._lasso = _owned_parts(space, ~scaled)
        self._lasso_units = torch.from_numpy(np.flatnonzero(~scaled))
        self._num_units = space.num_units
        if self.l1_bn and not self._scales:
            raise ValueError(f"train.l1_bn={l1_bn} penalises nothing here: no BatchNorm scale "
                             "follows a prunable unit (train.group_lasso penalises units "
                             "without one)")
        if self.group_lasso and not self._lasso:
            raise ValueError(f"train.group_lasso={group_lasso} penalises nothing here: every "
                             "prunable unit has a BatchNorm scale (train.l1_bn penalises those)")

    def __call__(self, model: nn.Module) -> torch.Tensor:
        device = next(model.parameters()).device
        total = torch.zeros((), device=device)
        if self.l1_bn:
            for param, positions in self._scales:
                scale = model.get_parameter(param)
                total = total + self.l1_bn * scale.index_select(0, positions.to(device)).abs().sum()
        if self.group_lasso and self._lasso:
            squared = _squared_norms(model, self._lasso, self._num_units)
            # clamped: the norm's gradient is unbounded at zero (a removed unit stays at zero)
            norms = squared.index_select(0, self._lasso_units.to(device)).clamp_min(1e-12).sqrt()
            total = total + self.group_lasso * norms.sum()
        return total


__all__ = [
    "SparsityPenalty",
    "bn_scale_couplings",
    "bn_scales",
    "has_bn_scale",
    "unit_norms",
]
