"""Reading torch-pruning's dependency graph in terms of the real model's layers and parameters.

The graph may have been traced on a copy whose recurrent layers are linear stand-ins
(``recurrent.with_stand_ins``): ``parts`` maps each stand-in layer's name to its recurrent
layer and part, and the helpers here translate what the graph says of a stand-in into the
recurrent layer's own parameters.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch_pruning as tp
from torch import nn

from evoprune.pruning.layers import ROOT_TYPES, coupled_dims
from evoprune.pruning.recurrent import HIDDEN, consumer_dims

PRUNE_OUT = "prune_out_channels"
PRUNE_IN = "prune_in_channels"

Parts = dict[str, tuple[str, str]]  # stand-in layer name -> (recurrent layer name, part)


def dependency_graph(model: nn.Module, example_input: torch.Tensor) -> tp.DependencyGraph:
    """torch-pruning's dependency graph of ``model``. Its warning about parameters no layer
    owns (a class token, a position embedding) is silenced: the space keeps such parameters
    whole, or refuses a group that reaches them, by itself."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
        return tp.DependencyGraph().build_dependency(model, example_inputs=example_input)


def out_size(module: nn.Module) -> int:
    """Units a root layer produces."""
    return module.out_channels if hasattr(module, "out_channels") else module.out_features


def root_shape(layer: nn.Module) -> dict[str, int]:
    """What a group's features say of its root layer (the RL state reads them)."""
    if isinstance(layer, nn.modules.conv._ConvNd):
        return {"in_units": layer.in_channels, "kernel": math.prod(layer.kernel_size),
                "stride": math.prod(layer.stride)}
    if isinstance(layer, nn.RNNBase):
        return {"in_units": layer.input_size, "kernel": 0, "stride": 0}
    return {"in_units": getattr(layer, "in_features", 0), "kernel": 0, "stride": 0}


def kind_of(root: nn.Module, part: tuple[str, str] | None) -> str:
    """``channel`` (conv), ``neuron`` (linear), ``recurrent`` (hidden units of a recurrent
    layer) or ``projection`` (an LSTM's projected units)."""
    if part is not None:
        return "recurrent" if part[1] == HIDDEN else "projection"
    return "channel" if isinstance(root, nn.modules.conv._ConvNd) else "neuron"


def recurrent_group_name(layer: str, part: str) -> str:
    """A recurrent group is named after its layer; an LSTM's projection after ``weight_hr``."""
    return layer if part == HIDDEN else f"{layer}.weight_hr"


def _owns_params(module: nn.Module, names: dict[nn.Module, str]) -> bool:
    return module in names and any(True for _ in module.parameters(False))


def parameterised_members(group: tp.Group, names: dict[nn.Module, str],
                          owner_of: dict[str, str]) -> list[str]:
    """Names of the real layers with parameters that a group touches, in graph order."""
    seen: list[str] = []
    for item in group.items:
        module = item.dep.target.module
        if _owns_params(module, names):
            name = owner_of.get(names[module], names[module])
            if name not in seen:
                seen.append(name)
    return seen


def _layer_dims(item, names: dict[nn.Module, str], parts: Parts,
                recurrent: dict[str, nn.RNNBase]) -> tuple[str, list[tuple[str, int]]] | None:
    """The real layer one graph item prunes, and its ``(parameter, dim)`` pairs that follow
    the item's indices (None: no layer with parameters). A stand-in's own units are left to
    ``recurrent.unit_couplings``; what reads a stand-in's input is its recurrent layer's first
    input weights."""
    module = item.dep.target.module
    if not _owns_params(module, names):
        return None
    direction = item.dep.handler.__name__
    name = names[module]
    if name in parts:
        layer, part = parts[name]
        dims = consumer_dims(recurrent[layer], part) if direction == PRUNE_IN else []
        return layer, [(f"{layer}.{local}", dim) for local, dim in dims]
    return name, [(f"{name}.{local}", dim)
                  for local, dim in coupled_dims(module, direction, name)]


def real_dims(item, names: dict[nn.Module, str], parts: Parts,
              recurrent: dict[str, nn.RNNBase]) -> list[tuple[str, int, list[int]]]:
    """``(parameter, dim, indices)`` of the real model that one graph item prunes."""
    found = _layer_dims(item, names, parts, recurrent)
    idxs = [int(i) for i in item.idxs]
    return [(param, dim, idxs) for param, dim in found[1]] if found else []


def readers(group: tp.Group, names: dict[nn.Module, str], parts: Parts,
            recurrent: dict[str, nn.RNNBase], layer: str) -> dict[str, tuple[int, list]]:
    """The real layers of a recurrent ``layer``'s group that read its units: name → (the
    dimension of the layer's input that holds features, its ``(parameter, dim)`` pairs
    that follow them)."""
    found: dict[str, tuple[int, list]] = {}
    for item in group.items:
        real = _layer_dims(item, names, parts, recurrent)
        if real is None or real[0] == layer or not real[1]:
            continue  # no parameters, or the layer's own stand-in
        name, dims = real
        # linear layers and recurrent layers (read through linear stand-ins): the last dim
        feature = -1 if isinstance(item.dep.target.module, nn.Linear) else 1
        entry = found.setdefault(name, (feature, []))
        entry[1].extend(d for d in dims if d not in entry[1])
    return found


def group_layers(group: tp.Group, names: dict[nn.Module, str], parts: Parts,
                 recurrent: dict[str, nn.RNNBase]):
    """Each parameterised real layer of a group, once per side it is pruned on, as
    ``space.GroupLayer`` entries: the parameter dimension that counts its kept entries."""
    from evoprune.pruning.grouping import GroupLayer

    layers: dict[tuple[str, str], GroupLayer] = {}
    for item in group.items:
        real = _layer_dims(item, names, parts, recurrent)
        if real is None:
            continue
        name, dims = real
        side = "out" if item.dep.handler.__name__ == PRUNE_OUT else "in"
        stand_in = parts.get(names[item.dep.target.module])
        if stand_in is not None and side == "out":  # the recurrent layer's own units
            local, dim = _recurrent_units_dim(recurrent[name], stand_in[1])
            param = f"{name}.{local}"
        elif dims:
            param, dim = dims[0]
        else:
            continue  # nothing of the layer follows these units (a projection's input)
        layers.setdefault((name, side), GroupLayer(name, side, param, dim))
    return tuple(layers.values())


def _recurrent_units_dim(module: nn.RNNBase, part: str) -> tuple[str, int]:
    """A parameter dimension of a recurrent layer with one entry per unit of its group."""
    if part == HIDDEN:
        return ("weight_hr_l0", 1) if module.proj_size else ("weight_hh_l0", 1)
    return "weight_hr_l0", 0


def has_consumer(group: tp.Group) -> bool:
    """A group whose units no layer reads is the model's output: pruning it changes the task."""
    return any(
        item.dep.handler.__name__ == PRUNE_IN and isinstance(item.dep.target.module, ROOT_TYPES)
        for item in group.items
    )


__all__ = [
    "PRUNE_IN",
    "PRUNE_OUT",
    "dependency_graph",
    "group_layers",
    "has_consumer",
    "kind_of",
    "out_size",
    "parameterised_members",
    "readers",
    "real_dims",
    "recurrent_group_name",
    "root_shape",
]
