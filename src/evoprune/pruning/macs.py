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
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from evoprune.pruning.attention import (
    ATTENTION_TYPES,
    attention_call,
    attention_macs,
    attention_sites,
    trace_attention,
)
from evoprune.pruning.layers import ROOT_TYPES
from evoprune.pruning.recurrent import RECURRENT_TYPES, weight_macs

TRACED_TYPES = ROOT_TYPES + RECURRENT_TYPES + ATTENTION_TYPES


@dataclass(frozen=True)
class LayerTrace:
    """One weight matrix applied in a forward pass (a conv/linear layer's, or each of a
    recurrent layer's), in execution order."""

    name: str  # the layer
    macs: int  # dense MACs per sample
    depthwise: bool
    weight: str = "weight"  # the parameter of the layer the MACs multiply
    rows: tuple[int, int] | None = None  # the weight's rows used, when not all (packed q/k/v)

    @property
    def param(self) -> str:
        return f"{self.name}.{self.weight}"


def trace_layers(model: nn.Module, example_input: torch.Tensor) -> list[LayerTrace]:
    """Run one forward pass and return every weight matrix with its dense MACs per sample
    (an attention module's projections included: it applies them without calling its
    ``out_proj`` as a module)."""
    names = {module: name for name, module in model.named_modules()}
    seen: list[LayerTrace] = []
    batch = max(1, len(example_input))

    def hook(module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        if isinstance(module, RECURRENT_TYPES):
            seen.extend(LayerTrace(names[module], macs, False, weight)
                        for weight, macs in weight_macs(module, args))
            return
        if isinstance(module, ATTENTION_TYPES):
            call = attention_call(module, names[module], args, kwargs)
            for weight, macs, first in call.projection_macs(module):
                layer, _, local = f"{names[module]}.{weight}".rpartition(".")
                rows = (first, first + module.embed_dim) if local == "in_proj_weight" else None
                seen.append(LayerTrace(layer, macs, False, local, rows))
            return
        per_sample = output.numel() // batch  # whatever dim holds the batch (sequence-first)
        if isinstance(module, nn.Linear):
            macs = per_sample * module.in_features
            depthwise = False
        else:
            kernel = int(np.prod(module.kernel_size))
            macs = per_sample * (module.in_channels // module.groups) * kernel
            depthwise = module.groups > 1 and module.groups == module.in_channels
        seen.append(LayerTrace(names[module], int(macs), depthwise))

    forward_with_hooks(model, example_input, {
        m: hook for m in model.modules() if isinstance(m, TRACED_TYPES)})
    return seen


def forward_with_hooks(model: nn.Module, example_input: torch.Tensor, hooks: dict) -> None:
    """One forward pass of ``example_input`` in eval mode, without gradients and without
    torch's fused transformer kernels (they skip the submodules' hooks), with a forward hook
    (``hook(module, args, kwargs, output)``) on each module of ``hooks``; the hooks, the
    model's mode and the fused kernels' switch are restored afterwards."""
    handles = [module.register_forward_hook(hook, with_kwargs=True)
               for module, hook in hooks.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), unfused_attention():
            model(example_input)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()


@contextmanager
def unfused_attention():
    """Switch off torch's fused transformer fast path, which runs a whole encoder layer in one
    kernel: hooks on its submodules do not fire and the flop counter sees none of it."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


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
    out_units = couplings.get((trace.param, 0), np.full(weight.shape[0], -1, np.int64))
    if trace.rows is not None:  # a block of a packed weight (an attention's q, k or v)
        out_units = out_units[trace.rows[0]:trace.rows[1]]
    size_out = len(out_units)  # conv out_channels, linear out_features, gate rows
    if trace.depthwise:  # one input channel per output channel: cost follows the outputs only
        return trace.macs // size_out, None, out_units
    size_in = weight.shape[1]
    in_units = couplings.get((trace.param, 1), np.full(size_in, -1, np.int64))
    return trace.macs // (size_in * size_out), in_units, out_units


def counted_macs(model: nn.Module, example_input: torch.Tensor) -> int:
    """MACs per sample of one forward pass as ``torch.utils.flop_counter`` counts them
    (FLOPs / 2)."""
    return counted_macs_inside(model, example_input, [])[0]


def counted_macs_inside(model: nn.Module, example_input: torch.Tensor,
                        modules: list[str]) -> tuple[int, dict[str, int]]:
    """:func:`counted_macs`, in all and inside each of ``modules`` (names). oneDNN is switched off
    meanwhile: its fused recurrent kernels escape the counter (a 2-layer bidirectional LSTM
    counts 0); so are torch's fused transformer kernels, which it does not see either."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    try:
        model.eval()
        with warnings.catch_warnings():  # restoring the flags warns of TF32 on Intel GPUs
            warnings.filterwarnings("ignore", message="TF32 acceleration")
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), \
                    unfused_attention(), FlopCounterMode(display=False) as counter:
                model(example_input)
    finally:
        model.train(was_training)
    batch = max(1, len(example_input))
    by_module = counter.get_flop_counts()
    root = type(model).__name__
    inside = {name: sum(by_module.get(f"{root}.{name}" if name else root, {}).values())
              // 2 // batch for name in modules}
    return counter.get_total_flops() // 2 // batch, inside


def measured_macs(model: nn.Module, example_input: torch.Tensor,
                  attention: dict[str, tuple[int, int]] | None = None) -> tuple[int, int]:
    """MACs per sample of one forward pass: what torch's flop counter counts, with attention's
    two products added where it did not see them; and those products' MACs.

    The counter sees the products on some paths (``need_weights=True``, eager attention) and
    not on others (``scaled_dot_product_attention`` on a CPU): an attention module is accepted
    when it counts either its projections alone or them and the products. ``attention``:
    each attention module's (projection, product) MACs, as a space traced them
    (:func:`~evoprune.pruning.attention.attention_macs`); None: traced here, on the modules
    :func:`~evoprune.pruning.attention.attention_sites` finds.
    """
    if attention is None:
        sites = attention_sites(model, example_input)
        traces = trace_layers(model, example_input) if sites else []
        attention = attention_macs(sites, trace_attention(model, example_input, sites), traces)
    counted, inside = counted_macs_inside(model, example_input, list(attention))
    for name, (projections, products) in attention.items():
        if inside[name] == projections:
            counted += products
        elif inside[name] != projections + products:
            raise RuntimeError(
                f"{type(model).__name__}: the cost model counts {projections:,} MACs per sample "
                f"in the projections of {name} and {products:,} in its attention products, "
                f"torch's flop counter {inside[name]:,}; please report this model")
    return counted, sum(products for _, products in attention.values())


def check_dense_macs(model: nn.Module, example_input: torch.Tensor, traces: list[LayerTrace],
                     attention: dict[str, tuple[int, int]]) -> int:
    """Check the traced dense count against :func:`measured_macs`; return the MACs outside
    the cost model that are counted as a fixed cost (those of layers kept whole: the user's
    ``ignored_layers``, layers no group reaches, parameter-free products other than
    attention's, which the spaces count themselves; ``attention``: as :func:`measured_macs`)."""
    traced = sum(t.macs for t in traces)
    measured, products = measured_macs(model, example_input, attention)
    if measured - products < traced:
        raise RuntimeError(f"{type(model).__name__}: the cost model counts {traced:,} MACs per "
                           f"sample, torch's flop counter {measured - products:,}; please "
                           "report this model")
    return measured - products - traced
