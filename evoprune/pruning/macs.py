"""Analytic MACs and parameter counts of masked models.

Cost unit: one multiply-accumulate (MAC) of a convolution or linear layer, per input sample,
biases and normalisation excluded. This is what ``torch.utils.flop_counter.FlopCounterMode``
counts as FLOPs / 2. The count of a masked model equals the count of its compacted model: a
layer keeps ``kept_in * kept_out / (in * out)`` of its dense MACs (a depthwise conv
``kept_out / out``), where the kept counts come from the same couplings the masks zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from evoprune.pruning.layers import ROOT_TYPES


@dataclass(frozen=True)
class LayerTrace:
    """A conv/linear layer seen in one forward pass, in execution order."""

    name: str
    macs: int  # dense MACs per sample
    depthwise: bool


def trace_layers(model: nn.Module, example_input: torch.Tensor) -> list[LayerTrace]:
    """Run one forward pass and return every conv/linear layer with its dense MACs per sample."""
    names = {module: name for name, module in model.named_modules()}
    seen: list[LayerTrace] = []

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        batch = output.shape[0] if output.dim() > 1 else 1
        per_sample = output.numel() // batch
        if isinstance(module, nn.Linear):
            macs = per_sample * module.in_features
            depthwise = False
        else:
            kernel = int(np.prod(module.kernel_size))
            macs = per_sample * (module.in_channels // module.groups) * kernel
            depthwise = module.groups > 1 and module.groups == module.in_channels
        seen.append(LayerTrace(names[module], int(macs), depthwise))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, ROOT_TYPES)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example_input)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return seen


def kept_along(masks: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Kept indices along one coupled dimension, for each mask of a ``(batch, units)`` array."""
    padded = np.concatenate([masks, np.ones((masks.shape[0], 1), dtype=bool)], axis=1)
    return padded[:, units].sum(axis=1)  # unit -1 (not coupled) picks the padding: always kept


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_cost(trace: LayerTrace, model: nn.Module, couplings: dict) -> tuple:
    """``(MACs per kept (in, out) pair, in-units, out-units)`` of one traced layer; ``couplings``
    maps ``(parameter name, dim)`` to its index → unit array (-1: not pruned)."""
    module = model.get_submodule(trace.name)
    size_out = module.weight.shape[0]  # conv out_channels or linear out_features
    out_units = couplings.get((f"{trace.name}.weight", 0), np.full(size_out, -1, np.int64))
    if trace.depthwise:  # one input channel per output channel: cost follows the outputs only
        return trace.macs // size_out, None, out_units
    size_in = module.weight.shape[1]
    in_units = couplings.get((f"{trace.name}.weight", 1), np.full(size_in, -1, np.int64))
    return trace.macs // (size_in * size_out), in_units, out_units
