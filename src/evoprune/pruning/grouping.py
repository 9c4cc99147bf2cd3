"""Finding a model's groups of units and the parameter dimensions that follow them.

torch-pruning's ``DependencyGraph`` gives the groups of conv and linear output units (a
conv's channels with its BatchNorm and every layer reading them, layers tied by a residual
add, flatten → linear); recurrent layers are traced through linear stand-ins
(``recurrent``); attention heads come from the modules themselves (``attention``). A group
that reaches a layer mixing its units (``layers.MIXING_TYPES``: a transformer's residual
stream) is kept whole, with the reason; one that reaches a layer of unknown type is refused,
naming it. The result feeds :class:`~evoprune.pruning.space.PruningSpace`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from evoprune.infra.errors import UserError
from evoprune.pruning.attention import ATTENTION_TYPES, AttentionSite
from evoprune.pruning.graph import (
    PRUNE_OUT,
    dependency_graph,
    group_layers,
    has_consumer,
    kind_of,
    out_size,
    parameterised_members,
    readers,
    real_dims,
    recurrent_group_name,
    root_shape,
)
from evoprune.pruning.layers import (
    MIXING_TYPES,
    ROOT_TYPES,
    UnsupportedLayerError,
    unknown_layers,
    unknown_layers_error,
)
from evoprune.pruning.macs import LayerTrace
from evoprune.pruning.recurrent import (
    HIDDEN,
    group_size,
    probe_readers,
    recurrent_modules,
    unit_couplings,
    with_stand_ins,
)


@dataclass(frozen=True)
class GroupLayer:
    """One layer a group prunes, on one side: the units it produces (``out``: a conv's output
    channels, a coupled BatchNorm's features) or the units it reads (``in``)."""

    name: str
    side: str  # "out" | "in"
    param: str  # one of the layer's parameters whose dimension ``dim`` follows the units
    dim: int


@dataclass(frozen=True)
class Group:
    """One set of coupled units that is kept or removed unit by unit."""

    name: str  # the root layer whose output units define the group ("depth": the blocks)
    # "channel" (conv), "neuron" (linear), "recurrent" / "projection" (a recurrent layer's
    # hidden / projected units), "head" (attention), "block" (whole residual blocks)
    kind: str
    size: int
    min_keep: int  # no mask may keep fewer units, so no layer collapses
    offset: int  # position of the group's first unit in a flat mask
    importance: np.ndarray  # group magnitude of each unit, larger = keep first
    members: tuple[str, ...]  # names of the parameterised layers the group touches
    in_units: int = 0  # the root layer's input channels / features
    kernel: int = 0  # product of the root conv's kernel size (linear: 0)
    stride: int = 0  # product of the root conv's stride (linear: 0)
    layers: tuple[GroupLayer, ...] = ()  # every layer the group prunes, root first
    step: int = 1  # kept counts are multiples of it, or the whole group (pruning.round_to)


@dataclass(frozen=True)
class Coupling:
    """A parameter dimension whose indices follow units: ``units[i]`` owns index ``i``
    (-1: no unit, never masked)."""

    param: str
    dim: int
    units: np.ndarray


@dataclass(frozen=True)
class Grouping:
    """What :func:`find_groups` found."""

    groups: list[Group]
    couplings: dict[tuple[str, int], np.ndarray]  # (parameter, dim) -> index → unit (-1: none)
    kept_whole: dict[str, str]  # layer -> why no group prunes it, for groups kept by rule
    num_units: int
    stand_ins: bool  # recurrent layers were traced through stand-ins (no torch-pruning scores)
    unknown: list[str]  # layers of a type evoprune does not know (kept whole, cost measured)


def find_groups(model: nn.Module, example_input: torch.Tensor, *, traces: list[LayerTrace],
                sites: list[AttentionSite], min_keep: float, ignored_layers: Sequence[str],
                importance_p: int, granularity: str) -> Grouping:
    """The groups of units of ``model`` and the couplings of their parameters (blocks aside):
    torch-pruning's groups of conv and linear output units, recurrent units (through linear
    stand-ins), one group of heads per attention module of ``sites``; groups that reach a
    layer mixing their units kept whole, with the reason. ``traces``: ``macs.trace_layers``'s
    (network order). Raises :class:`UnsupportedLayerError` for a layer pruned units reach but
    that cannot be masked exactly, named."""
    head_layers = set().union(*(site.head_layers for site in sites))
    order = {}
    for i, trace in enumerate(traces):
        order.setdefault(trace.name, i)
    kept_whole: dict[str, str] = {}  # layer -> why no group prunes it, by rule
    # torch-pruning traces a copy in which recurrent layers are linear stand-ins
    traced, parts = with_stand_ins(model)
    recurrent = recurrent_modules(model)
    names = {module: name for name, module in traced.named_modules()}
    unknown = [name for name in unknown_layers(model) if name not in set(ignored_layers)]
    owners = {id(p): name for name in unknown
              for p in traced.get_submodule(name).parameters(recurse=False)}
    with _unknown_layers_refused(model, unknown):
        # torch-pruning stumbles on some layers of unknown type (a hand-written linear
        # map, a cell stepped by hand): then those layers are the reason given
        graph = dependency_graph(traced, example_input)
        importance = tp.importance.GroupMagnitudeImportance(
            p=importance_p, group_reduction="mean", normalizer=None
        )
        groups: list[Group] = []
        couplings: dict[tuple[str, int], np.ndarray] = {}
        offset = 0
        roots = [(g[0].dep.target.module, g[0].dep.handler) for g in graph.get_all_groups(
            root_module_types=ROOT_TYPES)] if granularity != "block" else []  # no channel genes
        owner_of = {name: part[0] for name, part in parts.items()}  # stand-in part -> layer
        # attention heads: one group per attention module, placed where it runs
        heads = [site for site in sites if site.name not in set(ignored_layers)
                 and granularity != "block"]
        roots += heads
        roots.sort(key=lambda root: (  # network order; a recurrent layer's hidden units first
            order.get(root.first_layer, len(order)) if isinstance(root, AttentionSite) else
            order.get(owner_of.get(names[root[0]], names[root[0]]), len(order)),
            not isinstance(root, AttentionSite)
            and parts.get(names[root[0]], ("", HIDDEN))[1] != HIDDEN))
        for root in roots:
            if isinstance(root, AttentionSite):
                for param, dim, units in root.couplings(model, offset):
                    couplings[(param, dim)] = units
                groups.append(_head_group(root, offset, min_keep))
                offset += root.num_heads
                continue
            root, handler = root
            part = parts.get(names[root])
            width = out_size(root)
            full = graph.get_pruning_group(root, handler, list(range(width)))
            members = parameterised_members(full, names, owner_of)
            if not has_consumer(full) or set(members) & set(ignored_layers):
                continue  # an output layer, or the user asked to keep it whole
            if _sides(full, names) & head_layers:
                continue  # attention's head dims: pruned by heads, never one by one
            mixing = _mixing_layer(full, names)
            if mixing is not None:  # e.g. a transformer's residual stream
                for layer, side in sorted(_sides(full, names)):
                    if side == "out" and layer:
                        kept_whole.setdefault(layer, mixing)
                continue
            foreign = _foreign(full, names, unknown, owners)
            if foreign:
                raise unknown_layers_error(model, foreign)
            size = width if part is None else group_size(recurrent[part[0]], part[1])
            if part is None:
                for index in range(width):
                    for item in graph.get_pruning_group(root, handler, [index]).items:
                        for param, dim, idxs in real_dims(item, names, parts, recurrent):
                            _owners(couplings, model, param, dim)[idxs] = offset + index
            else:  # torch-pruning finds who reads the layer; a probe finds which inputs
                layer = part[0]
                found = readers(full, names, parts, recurrent, layer)
                carried = probe_readers(model, example_input, layer, part[1],
                                        {name: feature for name, (feature, _) in found.items()})
                for name, (_, dims) in found.items():
                    unit = carried[name]
                    for param, dim in dims:
                        owned = _owners(couplings, model, param, dim)
                        owned[unit >= 0] = offset + unit[unit >= 0]
                for local, dim, units in unit_couplings(recurrent[layer], part[1]):
                    couplings[(f"{layer}.{local}", dim)] = offset + units
            min_count = max(1, math.ceil(min_keep * size))
            groups.append(
                Group(
                    name=names[root] if part is None else recurrent_group_name(*part),
                    kind=kind_of(root, part),
                    size=size,
                    min_keep=min_count,
                    offset=offset,
                    importance=(np.zeros(size) if parts else
                                importance(full).detach().cpu().numpy().astype(np.float64)),
                    members=tuple(members),
                    **root_shape(root if part is None else recurrent[part[0]]),
                    layers=group_layers(full, names, parts, recurrent),
                )
            )
            offset += size
    return Grouping(groups, couplings, kept_whole, offset, bool(parts), unknown)


@contextmanager
def _unknown_layers_refused(model: nn.Module, unknown: list[str]):
    """Turn a failure to build the groups into the refusal of ``unknown`` layers, if any."""
    try:
        yield
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever broke, those layers are why
        if not unknown:
            raise
        raise unknown_layers_error(model, unknown) from err


def _foreign(group: tp.Group, names: dict[nn.Module, str], unknown: list[str],
             owners: dict[int, str]) -> list[str]:
    """The layers of unknown type (``unknown``) whose parameters a group's units reach, as
    modules or as parameters torch-pruning found unwrapped (``owners``: parameter id →
    layer)."""
    found = []
    for item in group.items:
        module = item.dep.target.module
        name = owners.get(id(module), names.get(module) if names.get(module) in unknown
                          else None)
        if name is not None and name not in found:
            found.append(name)
    return found


def _head_group(site: AttentionSite, offset: int, min_keep: float) -> Group:
    """The group of an attention module's heads (importance: filled in by the space)."""
    return Group(name=site.name, kind="head", size=site.num_heads,
                 min_keep=max(1, math.ceil(min_keep * site.num_heads)), offset=offset,
                 importance=np.zeros(site.num_heads),
                 members=(site.name, site.output.removesuffix(".weight")),
                 in_units=site.embed_dim,
                 layers=(GroupLayer(site.name, "out", site.blocks[0][0], 0),
                         GroupLayer(site.output.removesuffix(".weight"), "in", site.output, 1)))


def _sides(group: tp.Group, names: dict[nn.Module, str]) -> set[tuple[str, str]]:
    """``(layer, "out" | "in")`` of every layer a group prunes."""
    return {(names.get(item.dep.target.module, ""),
             "out" if item.dep.handler.__name__ == PRUNE_OUT else "in") for item in group.items}


def _mixing_layer(group: tp.Group, names: dict[nn.Module, str]) -> str | None:
    """Why a group must be kept whole: the first layer (a normalisation before an attention
    embedding, then in definition order) it reaches that mixes the units
    (``layers.MIXING_TYPES``), or None."""
    position = {module: i for i, module in enumerate(names)}
    mixing = sorted((isinstance(module, ATTENTION_TYPES), position.get(module, 0), module)
                    for module in {item.dep.target.module for item in group.items}
                    if isinstance(module, MIXING_TYPES) and module in names)
    if not mixing:
        return None
    *_, module = mixing[0]
    what = f"{names[module]} ({type(module).__name__})"
    if isinstance(module, ATTENTION_TYPES):
        return f"its features are the embedding of {what}, whose heads are the units: kept whole"
    return f"its features reach {what}, which normalises over all of them: kept whole"


def _owners(couplings: dict, model: nn.Module, param: str, dim: int) -> np.ndarray:
    """The index → unit array of a parameter dimension, created unowned (-1) on first use."""
    length = model.get_parameter(param).shape[dim]
    return couplings.setdefault((param, dim), np.full(length, -1, np.int64))


__all__ = ["Coupling", "Group", "GroupLayer", "Grouping", "UnsupportedLayerError", "find_groups"]
