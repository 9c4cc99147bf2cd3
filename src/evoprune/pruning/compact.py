"""Physical removal of masked units (for export, latency and fine-tuning).

torch-pruning removes them wherever it can trace the model. It cannot trace recurrent layers
(see ``recurrent``) nor remove attention heads (see ``attention``), so a model with either is
compacted from the coupling table instead: every coupled parameter (and BatchNorm statistic)
is sliced to its kept indices, as the scorer's slicer does, and each layer is given its new
widths; a recurrent layer is rebuilt as a smaller module of its own class, an attention module
as a :class:`~evoprune.pruning.attention.PrunedMultiheadAttention` with the kept heads.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from evoprune.pruning.attention import ATTENTION_TYPES, PrunedMultiheadAttention
from evoprune.pruning.blocks import blocks_removed, outside, remove_blocks
from evoprune.pruning.graph import dependency_graph
from evoprune.pruning.recurrent import RECURRENT_TYPES, rebuilt, recurrent_modules
from evoprune.pruning.slicing import ParameterSlicer
from evoprune.pruning.space import PruningSpace


def compact(model: nn.Module, space: PruningSpace, mask: np.ndarray) -> nn.Module:
    """Return a copy of ``model`` with every unit that ``mask`` drops removed.

    The copy computes what the masked model computes, with smaller layers and the removed
    blocks replaced by the identity; ``model`` itself is left untouched.
    """
    mask = space.check(mask)
    if needs_slicing(model, space):
        return remove_blocks(_compact_by_slicing(model, space, mask), space.removed_blocks(mask))
    pruned = copy.deepcopy(model).eval()
    graph = dependency_graph(pruned, space.example_input)
    for group in space.groups:
        dropped = np.flatnonzero(~mask[space.group_slice(group)]).tolist()
        if not dropped or group.kind == "block":
            continue
        root = pruned.get_submodule(group.name)
        handler = (
            tp.prune_conv_out_channels if group.kind == "channel" else tp.prune_linear_out_channels
        )
        graph.get_pruning_group(root, handler, dropped).prune()
    return remove_blocks(pruned, space.removed_blocks(mask))  # after: the graph spans them


def needs_slicing(model: nn.Module, space: PruningSpace) -> bool:
    """Whether ``model`` has layers torch-pruning cannot compact (recurrent layers, attention
    heads)."""
    return bool(recurrent_modules(model)) or any(g.kind == "head" for g in space.groups) or any(
        isinstance(m, ATTENTION_TYPES) for m in model.modules())


def _compact_by_slicing(model: nn.Module, space: PruningSpace, mask) -> nn.Module:
    """``compact`` for models torch-pruning cannot trace: slice, then set each layer's widths."""
    params, buffers = ParameterSlicer(model, space, None)(mask)
    pruned = copy.deepcopy(model).eval()
    values = {**params, **buffers}
    rebuilt_at: list[str] = []
    for name, module in list(pruned.named_modules()):
        if any(name.startswith(f"{done}.") for done in rebuilt_at):
            continue  # inside a module rebuilt whole
        local = {key.rpartition(".")[2]: value for key, value in values.items()
                 if key.rpartition(".")[0] == name}
        changed = {key: value for key, value in local.items()
                   if value.shape != getattr(module, key).shape}
        if isinstance(module, ATTENTION_TYPES):
            # rebuilt even with every head kept: one attention class in a compacted model,
            # whose products every flop counter sees (the fused kernels' are not always)
            inside = {key.removeprefix(f"{name}."): value for key, value in params.items()
                      if key.startswith(f"{name}.")}
            _replace(pruned, name, PrunedMultiheadAttention.from_kept(module, inside))
            rebuilt_at.append(name)
            continue
        if not changed:
            continue
        if isinstance(module, RECURRENT_TYPES):
            _replace(pruned, name,
                     rebuilt(module, {k: v for k, v in local.items() if k in params_of(module)}))
            continue
        for key, value in changed.items():
            if key in module._parameters:
                setattr(module, key, nn.Parameter(value.clone()))
            else:
                setattr(module, key, value.clone())
        _set_widths(module)
    for group in space.groups:  # a split attention module reshapes by its head count
        site = space.sites.get(group.name)
        if site is not None and site.split:
            site.set_heads(pruned.get_submodule(site.name),
                           int(mask[space.group_slice(group)].sum()))
    return pruned


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def params_of(module: nn.Module) -> set[str]:
    return {name for name, _ in module.named_parameters(recurse=False)}


def _set_widths(module: nn.Module) -> None:
    """Make a layer's width attributes agree with its sliced parameters."""
    weight = module.weight
    if isinstance(module, nn.modules.conv._ConvNd):
        depthwise = module.groups > 1
        module.out_channels = weight.shape[0]
        module.in_channels = weight.shape[0] if depthwise else weight.shape[1]
        if depthwise:
            module.groups = weight.shape[0]
    elif isinstance(module, nn.Linear):
        module.out_features, module.in_features = weight.shape
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        module.num_features = weight.shape[0]
    elif isinstance(module, nn.PReLU):
        module.num_parameters = weight.shape[0]


def check_compaction(model: nn.Module, space: PruningSpace, seed: int = 0) -> None:
    """Refuse a model whose compacted form does not compute what its masked form computes
    (a way of reading a recurrent layer that the space could not follow): its scores and
    costs would not be those of the model it exports. Checked on a mask dropping about half
    of every group, in eval mode."""
    from torch.func import functional_call

    from evoprune.pruning.layers import UnsupportedLayerError
    from evoprune.pruning.masking import ParameterMasker

    rng = np.random.default_rng(seed)
    mask = space.repair(rng.random(space.num_units) < 0.5)
    example = space.example_input
    was_training = model.training
    model.eval()
    try:
        compacted = compact(model, space, mask)  # torch-pruning traces with autograd on
        with torch.no_grad():
            removed = space.removed_blocks(mask)
            state = outside({**ParameterMasker(model, space)(mask),
                             **dict(model.named_buffers())}, removed)
            with blocks_removed(model, removed):
                masked = functional_call(model, state, (example,))
            try:
                pruned = compacted(example)
            except RuntimeError:  # a reshape that no longer fits the compacted widths
                pruned = None
    finally:
        model.train(was_training)
    if pruned is None or pruned.shape != masked.shape or not torch.allclose(
            pruned, masked, rtol=1e-4, atol=1e-5):
        difference = ("the compacted model fails to run" if pruned is None or
                      pruned.shape != masked.shape else
                      f"largest difference {float((pruned - masked).abs().max()):.3g}")
        raise UnsupportedLayerError(
            f"{type(model).__name__}: removing units does not compute what masking them does "
            f"({difference}); the way a layer "
            "reads its units could not be followed (a recurrent layer's read across steps, an "
            "attention module's reshape into heads: declare its heads with pruning.heads, or "
            "list the layer in pruning.ignored_layers)")
