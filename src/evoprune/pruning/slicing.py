"""Compacted evaluation without building a model: the kept slices of every coupled parameter
(and of the BatchNorm statistics beside them), passed to ``torch.func.functional_call``.

A masked forward pass still does the dense model's arithmetic; a sliced one does only the kept
units' arithmetic, which is what the compacted model costs, at the price of a few
``index_select`` calls per candidate. It needs layers whose forward reads shapes from their
tensors (convolutions with ``groups=1``, linear, BatchNorm with affine parameters, PReLU), so a
slicer checks itself on the model once and reports ``supported``; callers fall back to masking.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from evoprune.pruning.space import PruningSpace

_STAT_BUFFERS = ("running_mean", "running_var")


class ParameterSlicer:
    """Sliced parameters and buffers of a model for one mask.

    Args:
        model: the dense model (not modified).
        space: its structured pruning space.
        example: a small input batch, used once to check that sliced calls match masked ones
            (None: no check, ``supported`` is False; for callers that only want the slices).
    """

    def __init__(self, model: nn.Module, space: PruningSpace,
                 example: torch.Tensor | None) -> None:
        self.space = space
        device = next(model.parameters()).device
        self.params = {name: p.detach() for name, p in model.named_parameters()}
        self.buffers = {name: b.detach() for name, b in model.named_buffers()}
        # the distinct unit maps (a conv's weight, bias and its BatchNorm share one), so that
        # each mask computes each kept-index tensor once
        self.unit_maps: list[torch.Tensor] = []
        known: dict[bytes, int] = {}
        # name -> [(dim, index into unit_maps)]; a weight can follow units along two dims
        self.dims: dict[str, list[tuple[int, int]]] = {}
        for coupling in space.couplings:
            key = np.asarray(coupling.units).tobytes()
            if key not in known:
                known[key] = len(self.unit_maps)
                self.unit_maps.append(torch.as_tensor(coupling.units, device=device))
            self.dims.setdefault(coupling.param, []).append((coupling.dim, known[key]))
            module, _, kind = coupling.param.rpartition(".")
            if kind == "weight" and f"{module}.running_mean" in self.buffers:
                for stat in _STAT_BUFFERS:  # BatchNorm statistics follow its affine weight
                    self.dims.setdefault(f"{module}.{stat}", []).append((0, known[key]))
        self.device = device
        self.supported = example is not None and self._check(model, example)

    def __call__(self, mask: np.ndarray) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``(params, buffers)`` of the model with the dropped units removed."""
        keep = torch.ones(self.space.num_units + 1, dtype=torch.bool, device=self.device)
        keep[:-1] = torch.as_tensor(np.asarray(mask, dtype=bool), device=self.device)
        kept = [torch.nonzero(keep[units]).squeeze(1) for units in self.unit_maps]
        params, buffers = dict(self.params), dict(self.buffers)
        for name, dims in self.dims.items():
            target = params if name in params else buffers
            value = target[name]
            for dim, index in dims:
                value = value.index_select(dim, kept[index])
            target[name] = value
        return params, buffers

    def _check(self, model: nn.Module, example: torch.Tensor) -> bool:
        """Whether sliced calls run and agree with masked calls on a mask dropping about half
        of every group's units (eval mode, dense statistics)."""
        from evoprune.pruning.masking import ParameterMasker

        rng = np.random.default_rng(0)
        mask = self.space.repair(rng.random(self.space.num_units) < 0.5)
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                params, buffers = self(mask)
                sliced = functional_call(model, {**params, **buffers}, (example,))
                masked = functional_call(
                    model, {**ParameterMasker(model, self.space, self.device)(mask),
                            **self.buffers}, (example,))
            return sliced.shape == masked.shape and bool(
                torch.allclose(sliced, masked, rtol=1e-4, atol=1e-5))
        except Exception:  # noqa: BLE001 - any failure (a forward fixing a width, grouped convs,
            return False  # an assert on shapes) means: run this model masked
        finally:
            model.train(was_training)
