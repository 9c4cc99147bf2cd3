"""A latency table (NetAdapt, HALP): each layer timed once at a grid of the widths it can take,
a candidate's latency the sum over its layers, read off the table.

Timing every candidate means compacting it and running it tens of times; the table is built
once per run (every conv and linear layer alone, at each pair of input and output widths on its
grid), after which a candidate costs a lookup, as a MACs count does. What the table does not
time (normalisation, activations, pooling, attention's products, layers it cannot rebuild
alone: recurrent, attention projections, grouped convolutions) is the dense model's measured
latency minus its layers' table entries; it is scaled by the share of the untimed layers' MACs
a candidate keeps or, when every weight layer is timed, by the share of the timed layers'
output activations it keeps (what normalisation and activations process). So the table's
prediction of the dense model is its measured latency (or, where the layers timed alone add up
to more, their sum: the rest is never negative).

Widths between grid points are read by linear interpolation. With ``pruning.round_to``, a
layer rarely has more legal widths than the grid holds, and every one is timed.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from evoprune.evaluate.latency import LatencySettings, measure_latency_ms
from evoprune.infra.validators import check_int
from evoprune.pruning.space import PruningSpace

TABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# a uniform keep ratio this fine reaches every count each group may keep
_SWEEP = 257


class LatencyTable:
    """Per-layer latency of ``model`` at a grid of widths, built once.

    Args:
        model: the dense model (not modified).
        space: its structured pruning space.
        inputs: the batch latency is measured on (``latency.batch_size`` samples).
        settings: how each cell and the dense model are timed (``latency``; ``runtime`` must
            be ``torch``).
        grid: at most this many widths per layer dimension (``latency.grid``).
    """

    def __init__(self, model: nn.Module, space: PruningSpace, inputs: torch.Tensor,
                 settings: LatencySettings, grid: int = 8) -> None:
        check_int("grid", grid, 2)
        if settings.runtime != "torch":
            raise ValueError(f"a latency table times layers in torch, not {settings.runtime}")
        start = time.perf_counter()
        self.space = space
        self.dense_ms = measure_latency_ms(model, inputs, repeats=settings.repeats,
                                           warmup=settings.warmup, threads=settings.threads,
                                           device=settings.device)
        shapes = _shapes(model, inputs)
        sweep = np.stack([space.mask_from_ratios([r] * len(space.groups))
                          for r in np.linspace(0.0, 1.0, _SWEEP)])
        widths = space.layer_widths(sweep)
        full = self._full = space.layer_widths(space.full_mask())  # the dense widths
        device = settings.device or next(model.parameters()).device
        timed: dict[tuple, float] = {}  # one timing per distinct layer shape: repeated blocks
        self.layers: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self.untimed: list[int] = []
        self._activations: list[tuple[int, float]] = []  # layer, output entries per channel
        for index, (trace, kept_in, kept_out, _) in enumerate(widths):
            module = model.get_submodule(trace.name)
            if not _timeable(module, trace) or trace.name not in shapes:
                self.untimed.append(index)
                continue
            grid_in = _grid(np.unique(kept_in), grid)
            grid_out = _grid(np.unique(kept_out), grid)
            if trace.depthwise:
                grid_in = grid_out[:1]  # one input channel per output: the out width says all
            cells = np.zeros((grid_in.size, grid_out.size))
            for i, width_in in enumerate(grid_in):
                for j, width_out in enumerate(grid_out):
                    key = _signature(module, shapes[trace.name][0], width_in, width_out)
                    if key not in timed:
                        layer, x = _alone(module, shapes[trace.name][0], int(width_in),
                                          int(width_out), trace.depthwise)
                        timed[key] = measure_latency_ms(
                            layer, x, repeats=settings.repeats, warmup=settings.warmup,
                            threads=settings.threads, device=str(device))
                    cells[i, j] = timed[key]
            self.layers.append((index, grid_in, grid_out, cells))
            # elementwise work after the layer (normalisation, activation) follows its outputs
            out_shape = shapes[trace.name][1]
            self._activations.append((index, int(np.prod(out_shape)) / out_shape[
                -1 if isinstance(module, nn.Linear) else 1]))
        self.cells = len(timed)
        self._dense_untimed_macs = self._untimed_macs(full)[0]
        self._dense_volume = self._volume(full)[0] if self._activations else 0.0
        # layers timed alone can add up to more than the whole (each call's own overhead, or
        # noise): then nothing is left for the rest, and the dense prediction is that sum
        self.rest_ms = max(self.dense_ms - float(self._timed_ms(full)[0]), 0.0)
        self.build_s = time.perf_counter() - start

    def state_dict(self) -> dict:
        """The timings (plain values): a resumed search reads the same table."""
        return {"dense_ms": self.dense_ms, "rest_ms": self.rest_ms,
                "cells": [cells.tolist() for _, _, _, cells in self.layers]}

    def load_state_dict(self, state: dict) -> None:
        self.dense_ms, self.rest_ms = state["dense_ms"], state["rest_ms"]
        self.layers = [(index, grid_in, grid_out, np.asarray(cells))
                       for (index, grid_in, grid_out, _), cells
                       in zip(self.layers, state["cells"], strict=True)]

    def predict(self, masks: np.ndarray) -> np.ndarray | float:
        """Predicted milliseconds of one forward pass under each mask (a 1-D mask gives a
        float)."""
        widths = self.space.layer_widths(masks)
        rest = self.rest_ms * self.rest_share(widths)
        total = self._timed_ms(widths) + rest
        return float(total[0]) if np.ndim(masks) == 1 else total

    def rest_share(self, widths) -> np.ndarray:
        """The share of the untimed rest each mask keeps (``widths``: the space's
        ``layer_widths`` of the masks): of the untimed layers' MACs where there are any, else
        of the timed layers' output activations (what elementwise layers after them
        process)."""
        if self._dense_untimed_macs > 0:
            return self._untimed_macs(widths) / self._dense_untimed_macs
        if not self._activations:
            return np.ones(len(widths[0][1]))
        return self._volume(widths) / self._dense_volume

    def _volume(self, widths) -> np.ndarray:
        """Output entries of the timed layers per sample under each mask."""
        return sum(per_channel * widths[index][2] * widths[index][3]
                   for index, per_channel in self._activations)

    def _timed_ms(self, widths) -> np.ndarray:
        total = np.zeros(len(widths[0][1]))
        for index, grid_in, grid_out, cells in self.layers:
            _, kept_in, kept_out, runs = widths[index]
            total += _bilinear(grid_in, grid_out, cells, kept_in, kept_out) * runs
        return total

    def _untimed_macs(self, widths) -> np.ndarray:
        total = np.zeros(len(widths[0][1]))
        for index in self.untimed:
            trace, kept_in, kept_out, runs = widths[index]
            _, dense_in, dense_out, _ = self._full[index]
            share = kept_out / dense_out if trace.depthwise else (
                kept_in * kept_out / (dense_in * dense_out))
            total += trace.macs * share * runs
        return total


def _timeable(module: nn.Module, trace) -> bool:
    """Whether the table can rebuild the layer alone at other widths: a whole conv or linear
    weight, a plain or depthwise convolution."""
    if not isinstance(module, TABLE_TYPES) or trace.weight != "weight" or trace.rows:
        return False
    return isinstance(module, nn.Linear) or module.groups == 1 or trace.depthwise


def _shapes(model: nn.Module, inputs: torch.Tensor) -> dict[str, tuple[tuple, tuple]]:
    """The input and output shapes of each conv and linear layer (its first call's)."""
    shapes, handles = {}, []

    def record(name: str):
        def hook(module, args, output) -> None:  # returning anything would replace the output
            shapes.setdefault(name, (tuple(args[0].shape), tuple(output.shape)))
        return hook

    for name, module in model.named_modules():
        if isinstance(module, TABLE_TYPES):
            handles.append(module.register_forward_hook(record(name)))
    try:
        with torch.inference_mode():
            model.eval()(inputs.to(next(model.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _grid(values: np.ndarray, size: int) -> np.ndarray:
    """At most ``size`` of the sorted ``values``, evenly spread, both ends kept."""
    if values.size <= size:
        return values.astype(np.float64)
    picks = np.unique(np.round(np.linspace(0, values.size - 1, size)).astype(int))
    return values[picks].astype(np.float64)


def _signature(module: nn.Module, shape, width_in, width_out) -> tuple:
    settings = {key: value for key, value in vars(module).items()
                if not key.startswith("_") and key not in ("training",)}
    return (type(module).__name__, repr(sorted(settings.items())), shape,
            int(width_in), int(width_out))


def _alone(module: nn.Module, shape: tuple[int, ...], width_in: int, width_out: int,
           depthwise: bool) -> tuple[nn.Module, torch.Tensor]:
    """A fresh copy of ``module``'s kind at the given widths, and an input for it."""
    bias = module.bias is not None
    if isinstance(module, nn.Linear):
        layer = nn.Linear(width_in, width_out, bias=bias)
        return layer.eval(), torch.randn(*shape[:-1], width_in)
    width_in = width_out if depthwise else width_in
    layer = type(module)(width_in, width_out, module.kernel_size, stride=module.stride,
                         padding=module.padding, dilation=module.dilation,
                         groups=width_in if depthwise else 1, bias=bias,
                         padding_mode=module.padding_mode)
    return layer.eval(), torch.randn(shape[0], width_in, *shape[2:])


def _bilinear(grid_in, grid_out, cells, kept_in, kept_out) -> np.ndarray:
    """``cells`` read at each (kept_in, kept_out), linear between grid points, clamped at the
    ends (a grid of one width is constant along it)."""
    i, wi = _bracket(grid_in, kept_in)
    j, wj = _bracket(grid_out, kept_out)
    top = cells[i, j] * (1 - wj) + cells[i, np.minimum(j + 1, grid_out.size - 1)] * wj
    below = np.minimum(i + 1, grid_in.size - 1)
    bottom = cells[below, j] * (1 - wj) + cells[below, np.minimum(j + 1, grid_out.size - 1)] * wj
    return top * (1 - wi) + bottom * wi


def _bracket(grid: np.ndarray, values) -> tuple[np.ndarray, np.ndarray]:
    """Index of the grid point at or below each value, and the weight of the next one."""
    values = np.clip(np.asarray(values, dtype=np.float64), grid[0], grid[-1])
    if grid.size == 1:
        return np.zeros(values.shape, dtype=np.int64), np.zeros(values.shape)
    index = np.clip(np.searchsorted(grid, values, side="right") - 1, 0, grid.size - 2)
    weight = (values - grid[index]) / (grid[index + 1] - grid[index])
    return index, weight


__all__ = ["LatencyTable"]
