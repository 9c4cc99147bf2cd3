"""Analytic MACs and parameter counts of masked models.

Cost unit: one multiply-accumulate (MAC) of a convolution, linear or recurrent weight, per input
sample, biases, gates' elementwise arithmetic and normalisation excluded. This is what
``torch.utils.flop_counter.FlopCounterMode`` counts as FLOPs / 2, and every space checks its
dense count against it once (:func:`check_dense_macs`). The count of a masked model equals the
count of its compacted model: a weight keeps ``kept_in * kept_out / (in * out)`` of its dense
MACs (a depthwise conv ``kept_out / out``), where the kept counts come from the same couplings
the masks zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from evoprune.pruning.layers import KNOWN_NAMES, ROOT_TYPES, UnsupportedLayerError, unknown_layers
from evoprune.pruning.recurrent import RECURRENT_TYPES, weight_macs


@dataclass(frozen=True)
class LayerTrace:
    """One weight matrix applied in a forward pass (a conv/linear layer's, or each of a
    recurrent layer's), in execution order."""

    name: str  # the layer
    macs: int  # dense MACs per sample
    depthwise: bool
    weight: str = "weight"  # the parameter of the layer the MACs multiply

    @property
    def param(self) -> str:
        return f"{self.name}.{self.weight}"


def trace_layers(model: nn.Module, example_input: torch.Tensor) -> list[LayerTrace]:
    """Run one forward pass and return every weight matrix with its dense MACs per sample."""
    names = {module: name for name, module in model.named_modules()}
    seen: list[LayerTrace] = []

    def hook(module: nn.Module, inputs: tuple, output) -> None:
        if isinstance(module, RECURRENT_TYPES):
            seen.extend(LayerTrace(names[module], macs, False, weight)
                        for weight, macs in weight_macs(module, inputs))
            return
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

    forward_with_hooks(model, example_input, {
        m: hook for m in model.modules() if isinstance(m, ROOT_TYPES + RECURRENT_TYPES)})
    return seen


def forward_with_hooks(model: nn.Module, example_input: torch.Tensor, hooks: dict) -> None:
    """One forward pass of ``example_input`` in eval mode, without gradients, with a forward
    hook on each module of ``hooks`` (module -> hook); the hooks and the model's mode are
    restored afterwards."""
    handles = [module.register_forward_hook(hook) for module, hook in hooks.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example_input)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()


def kept_along(masks: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Kept indices along one coupled dimension, for each mask of a ``(batch, units)`` array."""
    padded = np.concatenate([masks, np.ones((masks.shape[0], 1), dtype=bool)], axis=1)
    return padded[:, units].sum(axis=1)  # unit -1 (not coupled) picks the padding: always kept


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_cost(trace: LayerTrace, model: nn.Module, couplings: dict) -> tuple:
    """``(MACs per kept (in, out) pair, in-units, out-units)`` of one traced layer; ``couplings``
    maps ``(parameter name, dim)`` to its index → unit array (-1: not pruned)."""
    weight = model.get_parameter(trace.param)
    size_out = weight.shape[0]  # conv out_channels, linear out_features, gate rows
    out_units = couplings.get((trace.param, 0), np.full(size_out, -1, np.int64))
    if trace.depthwise:  # one input channel per output channel: cost follows the outputs only
        return trace.macs // size_out, None, out_units
    size_in = weight.shape[1]
    in_units = couplings.get((trace.param, 1), np.full(size_in, -1, np.int64))
    return trace.macs // (size_in * size_out), in_units, out_units


def counted_macs(model: nn.Module, example_input: torch.Tensor) -> int:
    """MACs per sample of one forward pass as ``torch.utils.flop_counter`` counts them
    (FLOPs / 2). oneDNN is switched off meanwhile: its fused recurrent kernels escape the
    counter (a 2-layer bidirectional LSTM counts 0)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    try:
        model.eval()
        with warnings.catch_warnings():  # restoring the flags warns of TF32 on Intel GPUs
            warnings.filterwarnings("ignore", message="TF32 acceleration")
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), \
                    FlopCounterMode(display=False) as counter:
                model(example_input)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2 // max(1, len(example_input))


def check_dense_macs(model: nn.Module, example_input: torch.Tensor, traces: list[LayerTrace],
                     ignored_layers=()) -> int:
    """Check the traced dense count against torch's flop counter; return the MACs outside the
    cost model that are counted as a fixed cost (those of layers the user keeps whole with
    ``ignored_layers``, and of parameter-free products such as attention scores).

    A layer with parameters of a type the cost model does not know, unless ignored, is an
    error that names it: its MACs would otherwise count as zero.
    """
    unknown = [name for name in unknown_layers(model) if name not in set(ignored_layers)]
    if unknown:
        listing = ", ".join(f"{name} ({type(model.get_submodule(name)).__name__})"
                            for name in unknown)
        raise UnsupportedLayerError(
            f"evoprune cannot count or prune these layers: {listing}. It knows "
            f"{KNOWN_NAMES}; to keep such a layer whole, its cost counted as measured, list it "
            f"in pruning.ignored_layers (e.g. pruning.ignored_layers=[{unknown[0]}]) together "
            f"with the layers that feed it")
    traced = sum(t.macs for t in traces)
    counted = counted_macs(model, example_input)
    if counted < traced:
        raise RuntimeError(f"{type(model).__name__}: the cost model counts {traced:,} MACs per "
                           f"sample, torch's flop counter {counted:,}; please report this model")
    return counted - traced
