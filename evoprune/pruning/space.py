"""The pruning space: which units of a model can be removed, and how they are coupled.

A *unit* is one output channel of a convolution or one neuron of a linear layer. Units that
must be removed together (a conv's output channel, its BatchNorm channel, the consumers' input
channels, every layer tied to it by a residual add, the flattened features a linear layer reads)
are found by torch-pruning's DependencyGraph and form one *group*; a group is identified by the
name of its root layer. A *mask* is a flat boolean numpy array with one entry per unit of every
group, concatenated in network order; ``True`` keeps the unit.

Every parameter dimension that follows a group's units is recorded as a :class:`Coupling`
(parameter name, dimension, index → unit map). That one table drives masked evaluation
(``masking.py``), cost counting (``macs.py``) and stays consistent with physical removal
(``compact.py``), which re-derives the same groups on a copy of the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from evoprune.pruning.layers import (
    ROOT_TYPES,
    UnsupportedLayerError,
    check_layer_names,
    coupled_dims,
)
from evoprune.pruning.macs import kept_along, layer_cost, trace_layers

PRUNE_OUT = "prune_out_channels"
PRUNE_IN = "prune_in_channels"


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

    name: str  # the root layer whose output units define the group
    kind: str  # "channel" (conv) or "neuron" (linear)
    size: int
    min_keep: int  # no mask may keep fewer units, so no layer collapses
    offset: int  # position of the group's first unit in a flat mask
    importance: np.ndarray  # group magnitude of each unit (torch-pruning), larger = keep first
    members: tuple[str, ...]  # names of the parameterised layers the group touches
    in_units: int = 0  # the root layer's input channels / features
    kernel: int = 0  # product of the root conv's kernel size (linear: 0)
    stride: int = 0  # product of the root conv's stride (linear: 0)
    layers: tuple[GroupLayer, ...] = ()  # every layer the group prunes, root first


@dataclass(frozen=True)
class Coupling:
    """A parameter dimension whose indices follow units: ``units[i]`` owns index ``i``
    (-1: no unit, never masked)."""

    param: str
    dim: int
    units: np.ndarray


def _root_shape(layer: nn.Module) -> dict[str, int]:
    """What a group's features say of its root layer (the RL state reads them)."""
    if isinstance(layer, nn.modules.conv._ConvNd):
        return {"in_units": layer.in_channels, "kernel": math.prod(layer.kernel_size),
                "stride": math.prod(layer.stride)}
    return {"in_units": getattr(layer, "in_features", 0), "kernel": 0, "stride": 0}


class NoPrunableLayerError(ValueError):
    """The model has no layer whose units can be pruned."""


class PruningSpace:
    """Groups, couplings and masks of one model. Build once per model; masks are plain arrays.

    Args:
        model: the dense model (not modified).
        example_input: a batch the model accepts (used to trace the graph).
        min_keep: fraction of each group's units that every mask keeps (at least one unit).
        ignored_layers: names of layers whose units must not be pruned; the output layer is
            always left intact.
        importance_p: norm of the magnitude importance (1 = L1, 2 = L2).
    """

    kind = "structured"

    def __init__(
        self,
        model: nn.Module,
        example_input: torch.Tensor,
        *,
        min_keep: float = 0.1,
        ignored_layers: Sequence[str] = (),
        importance_p: int = 1,
    ) -> None:
        self.check_settings(min_keep=min_keep, ignored_layers=ignored_layers,
                            importance_p=importance_p)
        names = {module: name for name, module in model.named_modules()}
        unknown = sorted(set(ignored_layers) - set(names.values()))
        if unknown:
            raise ValueError(f"ignored_layers names unknown layers {unknown}")
        self.min_keep_fraction = min_keep
        self.example_input = example_input
        traces = trace_layers(model, example_input)
        order = {trace.name: i for i, trace in enumerate(traces)}
        graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_input)
        importance = tp.importance.GroupMagnitudeImportance(
            p=importance_p, group_reduction="mean", normalizer=None
        )
        groups: list[Group] = []
        couplings: dict[tuple[str, int], np.ndarray] = {}
        offset = 0
        roots = [(g[0].dep.target.module, g[0].dep.handler) for g in graph.get_all_groups(
            root_module_types=ROOT_TYPES)]
        roots.sort(key=lambda root: order.get(names[root[0]], len(order)))  # network order
        for root, handler in roots:
            size = _out_size(root)
            full = graph.get_pruning_group(root, handler, list(range(size)))
            members = _parameterised_members(full, names)
            if not _has_consumer(full) or set(members) & set(ignored_layers):
                continue  # an output layer, or the user asked to keep it whole
            for unit in range(size):
                for item in graph.get_pruning_group(root, handler, [unit]).items:
                    module = item.dep.target.module
                    if module not in names or not any(True for _ in module.parameters(False)):
                        continue
                    direction = item.dep.handler.__name__
                    idxs = np.array([int(i) for i in item.idxs], dtype=np.int64)
                    for local, dim in coupled_dims(module, direction):
                        length = module.get_parameter(local).shape[dim]
                        key = (f"{names[module]}.{local}", dim)
                        owner = couplings.setdefault(key, np.full(length, -1, np.int64))
                        owner[idxs] = offset + unit
            min_count = max(1, math.ceil(min_keep * size))
            groups.append(
                Group(
                    name=names[root],
                    kind="channel" if isinstance(root, nn.modules.conv._ConvNd) else "neuron",
                    size=size,
                    min_keep=min_count,
                    offset=offset,
                    importance=importance(full).detach().cpu().numpy().astype(np.float64),
                    members=tuple(members),
                    **_root_shape(root),
                    layers=_group_layers(full, names),
                )
            )
            offset += size
        if not groups:
            raise NoPrunableLayerError(
                f"{type(model).__name__} has no prunable layer: evoprune prunes output channels "
                f"of {[t.__name__ for t in ROOT_TYPES]} layers that feed another layer "
                f"(the output layer and ignored_layers={list(ignored_layers)} are kept)"
            )
        self.groups: tuple[Group, ...] = tuple(groups)
        self.couplings: tuple[Coupling, ...] = tuple(
            Coupling(param, dim, units) for (param, dim), units in couplings.items()
        )
        self.num_units = offset
        self._layer_costs = [layer_cost(t, model, couplings) for t in traces]
        self._param_costs = [
            (name, [couplings[(name, d)] for d in range(p.dim()) if (name, d) in couplings],
             p.numel())
            for name, p in model.named_parameters()
        ]
        self.dense_macs = int(self.macs(self.full_mask()))
        self.dense_params = int(self.params(self.full_mask()))

    @staticmethod
    def check_settings(*, min_keep: float = 0.1, ignored_layers: Sequence[str] = (),
                       importance_p: int = 1) -> None:
        """Refuse settings out of range, before any model is at hand."""
        if (isinstance(min_keep, bool) or not isinstance(min_keep, (int, float))
                or not 0.0 < min_keep <= 1.0):
            raise ValueError(f"min_keep must be in (0, 1], got {min_keep!r}")
        if importance_p not in (1, 2) or isinstance(importance_p, bool):
            raise ValueError(f"importance_p must be 1 (L1) or 2 (L2), got {importance_p!r}")
        check_layer_names(ignored_layers)

    # ----------------------------------------------------------------- costs
    def macs(self, masks: np.ndarray) -> np.ndarray | int:
        """MACs per sample of the model under each mask (a 1-D mask gives an int)."""
        batch = np.atleast_2d(np.asarray(masks, dtype=bool))
        total = np.zeros(batch.shape[0], dtype=np.int64)
        for per_pair, in_units, out_units in self._layer_costs:
            kept_out = kept_along(batch, out_units)
            kept_in = 1 if in_units is None else kept_along(batch, in_units)
            total += per_pair * kept_in * kept_out
        return int(total[0]) if np.ndim(masks) == 1 else total

    def params(self, masks: np.ndarray) -> np.ndarray | int:
        """Parameter count of the compacted model under each mask."""
        batch = np.atleast_2d(np.asarray(masks, dtype=bool))
        total = np.zeros(batch.shape[0], dtype=np.int64)
        for _, dims, numel in self._param_costs:
            per_cell = numel // math.prod(len(units) for units in dims)  # entries per kept cell
            kept = np.full(batch.shape[0], per_cell)
            for units in dims:
                kept = kept * kept_along(batch, units)
            total += kept
        return int(total[0]) if np.ndim(masks) == 1 else total

    def macs_ratio(self, masks: np.ndarray) -> np.ndarray | float:
        """Pruned MACs / dense MACs."""
        return self.macs(masks) / self.dense_macs

    # ----------------------------------------------------------------- masks
    def full_mask(self) -> np.ndarray:
        """The mask that keeps every unit (the dense model)."""
        return np.ones(self.num_units, dtype=bool)

    def group_slice(self, group: Group) -> slice:
        return slice(group.offset, group.offset + group.size)

    def keep_counts(self, mask: np.ndarray) -> np.ndarray:
        """Units kept in each group."""
        return np.array([int(mask[self.group_slice(g)].sum()) for g in self.groups])

    def check(self, mask: np.ndarray) -> np.ndarray:
        """Return ``mask`` as a bool array after checking its length and per-group minimum."""
        mask = np.asarray(mask)
        if mask.shape != (self.num_units,):
            raise ValueError(f"a mask must have shape ({self.num_units},), got {mask.shape}")
        mask = mask.astype(bool)
        for group, kept in zip(self.groups, self.keep_counts(mask)):
            if kept < group.min_keep:
                raise ValueError(
                    f"mask keeps {kept} units of group '{group.name}', the minimum is "
                    f"{group.min_keep} (min_keep={self.min_keep_fraction})"
                )
        return mask

    def repair(self, mask: np.ndarray) -> np.ndarray:
        """Copy of ``mask`` with the most important dropped units switched back on where a
        group keeps fewer than its minimum."""
        mask = np.array(mask, dtype=bool)
        for group in self.groups:
            part = mask[self.group_slice(group)]
            missing = group.min_keep - int(part.sum())
            if missing > 0:
                dropped = np.flatnonzero(~part)
                best = dropped[np.argsort(-group.importance[dropped], kind="stable")[:missing]]
                part[best] = True
        return mask

    def mask_from_counts(self, counts: Sequence[int]) -> np.ndarray:
        """Keep the ``counts[g]`` most important units of each group (clipped to the minimum)."""
        if len(counts) != len(self.groups):
            raise ValueError(f"expected {len(self.groups)} keep counts, got {len(counts)}")
        mask = np.zeros(self.num_units, dtype=bool)
        for group, count in zip(self.groups, counts):
            count = int(min(max(count, group.min_keep), group.size))
            top = np.argsort(-group.importance, kind="stable")[:count]
            mask[group.offset + top] = True
        return mask

    def mask_from_ratios(self, ratios: Sequence[float]) -> np.ndarray:
        """Keep ``round(ratio * size)`` units of each group, chosen by magnitude."""
        counts = [round(float(r) * g.size) for r, g in zip(ratios, self.groups, strict=True)]
        return self.mask_from_counts(counts)

    def key(self, mask: np.ndarray) -> bytes:
        """A compact hashable identity of a mask (for memoisation)."""
        return np.packbits(np.asarray(mask, dtype=bool)).tobytes()

    def describe(self, mask: np.ndarray) -> dict:
        """A JSON-ready description of a mask: kept unit indices per group, and every layer
        the group prunes (a group is named after one layer; residual adds and BatchNorms tie
        others to it), each with the entries of it that follow the group's units, kept and
        total: units it produces (``out``) or reads (``in``; a linear layer reading flattened
        channels counts ``channels x positions``)."""
        mask = self.check(mask)
        owners = {(c.param, c.dim): c.units for c in self.couplings}
        return {
            "num_units": self.num_units,
            "groups": [
                {
                    "name": g.name,
                    "kind": g.kind,
                    "size": g.size,
                    "kept": int(mask[self.group_slice(g)].sum()),
                    "keep": np.flatnonzero(mask[self.group_slice(g)]).tolist(),
                    "layers": [
                        {"name": layer.name, "side": layer.side,
                         **_kept_of_total(owners[(layer.param, layer.dim)], g, mask)}
                        for layer in g.layers
                    ],
                }
                for g in self.groups
            ],
        }

    def from_description(self, description: dict) -> np.ndarray:
        """Inverse of :meth:`describe`; checks that group names and sizes match this space."""
        found = [(g["name"], g["size"]) for g in description.get("groups", [])]
        expected = [(g.name, g.size) for g in self.groups]
        if found != expected:
            raise ValueError(f"mask groups {found} do not match this model's groups {expected}")
        mask = np.zeros(self.num_units, dtype=bool)
        for group, entry in zip(self.groups, description["groups"]):
            keep = entry.get("keep")
            # an index past the group would silently keep a unit of the next group
            if (not isinstance(keep, list) or len(set(map(repr, keep))) != len(keep)
                    or not all(isinstance(i, int) and not isinstance(i, bool)
                               and 0 <= i < group.size for i in keep)):
                raise ValueError(f"group '{group.name}' must keep distinct unit indices from 0 "
                                 f"to {group.size - 1}, got {keep!r}")
            mask[group.offset + np.asarray(keep, dtype=np.int64)] = True
        return self.check(mask)


def _out_size(module: nn.Module) -> int:
    return module.out_channels if hasattr(module, "out_channels") else module.out_features


def _parameterised_members(group: tp.Group, names: dict[nn.Module, str]) -> list[str]:
    seen: list[str] = []
    for item in group.items:
        module = item.dep.target.module
        if module in names and any(True for _ in module.parameters(False)):
            if names[module] not in seen:
                seen.append(names[module])
    return seen


def _group_layers(group: tp.Group, names: dict[nn.Module, str]) -> tuple[GroupLayer, ...]:
    """Each parameterised layer of a torch-pruning group, once per side it is pruned on."""
    layers: dict[tuple[str, str], GroupLayer] = {}
    for item in group.items:
        module = item.dep.target.module
        direction = item.dep.handler.__name__
        owns_params = module in names and any(True for _ in module.parameters(False))
        dims = coupled_dims(module, direction) if owns_params else []
        side = "out" if direction == PRUNE_OUT else "in"
        if dims and (names[module], side) not in layers:
            local, dim = dims[0]
            layers[(names[module], side)] = GroupLayer(names[module], side,
                                                       f"{names[module]}.{local}", dim)
    return tuple(layers.values())


def _kept_of_total(owners: np.ndarray, group: Group, mask: np.ndarray) -> dict[str, int]:
    """How many of a parameter dimension's entries follow ``group``'s units, and how many of
    those ``mask`` keeps."""
    units = owners[(owners >= group.offset) & (owners < group.offset + group.size)]
    return {"kept": int(mask[units].sum()), "total": int(units.size)}


def _has_consumer(group: tp.Group) -> bool:
    """A group whose units no layer reads is the model's output: pruning it changes the task."""
    return any(
        item.dep.handler.__name__ == PRUNE_IN and isinstance(item.dep.target.module, ROOT_TYPES)
        for item in group.items
    )


__all__ = [
    "Coupling",
    "Group",
    "GroupLayer",
    "NoPrunableLayerError",
    "PruningSpace",
    "UnsupportedLayerError",
]
