"""The pruning space: which units of a model can be removed, and how they are coupled.

A *unit* is one output channel of a convolution, one neuron of a linear layer, one hidden unit
of a recurrent layer, one attention head, or a whole residual block. Units that must be removed
together (a conv's output channel, its BatchNorm channel, the consumers' input channels, every
layer tied to it by a residual add, the flattened features a linear layer reads) form one
*group* (found in ``grouping``); a group is identified by the name of its root layer. A
*mask* is a flat boolean numpy array with one entry per unit of every group, concatenated in
network order; ``True`` keeps the unit.

Every parameter dimension that follows a group's units is recorded as a :class:`Coupling`
(parameter name, dimension, index → unit map). That one table drives masked evaluation
(``masking.py``), cost counting (``macs.py``) and stays consistent with physical removal
(``compact.py``), which re-derives the same groups on a copy of the model.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from evoprune.infra.errors import UserError
from evoprune.infra.validators import check_number
from evoprune.pruning.attention import attention_macs, attention_sites, trace_attention
from evoprune.pruning.blocks import BLOCK_GROUP, check_granularity, find_blocks
from evoprune.pruning.grouping import Coupling, Group, GroupLayer, find_groups
from evoprune.pruning.layers import ROOT_TYPES, UnsupportedLayerError, check_layer_names
from evoprune.pruning.macs import check_dense_macs, kept_along, layer_cost, trace_layers
from evoprune.pruning.recurrent import RECURRENT_TYPES, ProjectionPadding, recurrent_modules
from evoprune.pruning.widths import check_round_to, legal_count, with_step


class NoPrunableLayerError(UserError, ValueError):
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
        granularity: ``channel``, ``block`` or ``both`` (whole residual blocks).
        heads: head counts of attention modules by name, for modules with query, key and
            value layers that keep no head count of their own (``pruning.heads``).
        round_to: every group of channels, neurons or recurrent units keeps a multiple of it
            or all of its units (``pruning.round_to``, :mod:`~evoprune.pruning.widths`).
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
        granularity: str = "channel",
        heads: Mapping[str, int] | None = None,
        round_to: int = 1,
    ) -> None:
        heads = dict(heads or {})
        self.check_settings(min_keep=min_keep, ignored_layers=ignored_layers,
                            importance_p=importance_p, granularity=granularity, heads=heads,
                            round_to=round_to)
        names = {module: name for name, module in model.named_modules()}
        unknown = sorted(set(ignored_layers) - set(names.values()))
        if unknown:
            raise ValueError(f"ignored_layers names unknown layers {unknown}")
        self.min_keep_fraction = min_keep
        self.round_to = round_to
        self.example_input = example_input
        traces = trace_layers(model, example_input)
        found_sites = attention_sites(model, example_input, heads)
        sites = {site.name: site for site in found_sites}
        calls = trace_attention(model, example_input, found_sites)
        self._fixed_macs = check_dense_macs(model, example_input, traces,
                                            attention_macs(found_sites, calls, traces))
        built = find_groups(model, example_input, traces=traces, sites=found_sites,
                            min_keep=min_keep, ignored_layers=ignored_layers,
                            importance_p=importance_p, granularity=granularity)
        groups, couplings, offset = built.groups, built.couplings, built.num_units
        self.kept_whole = built.kept_whole  # layer -> why no group prunes it, by rule
        self.sites = sites  # attention modules by name (compaction reads their head counts)
        recurrent = recurrent_modules(model)
        unknown = built.unknown
        blocks = [] if granularity == "channel" else find_blocks(
            model, example_input, layers=granularity == "block")
        if granularity != "channel" and not blocks:
            raise NoPrunableLayerError(
                f"pruning.granularity={granularity}: {type(model).__name__} has no residual "
                "block that can be removed whole (a module whose own forward adds its "
                "unchanged input to what its layers compute, output shaped like the input, "
                "traceable by torch.fx)" + ("" if granularity == "both" else
                                            " and no layer whose output is shaped like its "
                                            "input") + "; use pruning.granularity=channel")
        if blocks:
            groups.append(Group(name=BLOCK_GROUP, kind="block", size=len(blocks), min_keep=0,
                                offset=offset, importance=np.zeros(len(blocks)),
                                members=tuple(blocks)))
            offset += len(blocks)
        if not groups:
            raise NoPrunableLayerError(
                f"{type(model).__name__} has no prunable layer: evoprune prunes output units "
                f"of {[t.__name__ for t in ROOT_TYPES + RECURRENT_TYPES]} layers that feed "
                f"another layer, and heads of attention modules (the output layer and "
                f"ignored_layers={list(ignored_layers)} are kept)"
                + "".join(f"; {name}: {why}" for name, why in list(self.kept_whole.items())[:3])
                + ("; layers of a type evoprune does not know are kept whole: "
                   + ", ".join(f"{n} ({type(model.get_submodule(n)).__name__})"
                               for n in unknown)
                   if unknown else "")
            )
        self.groups: tuple[Group, ...] = tuple(with_step(g, round_to) for g in groups)
        self.couplings: tuple[Coupling, ...] = tuple(
            Coupling(param, dim, units) for (param, dim), units in couplings.items()
        )
        self.num_units = offset
        # a block unit owns every parameter inside its block: scores and costs follow it
        self._blocks = [(offset - len(blocks) + i, block) for i, block in enumerate(blocks)]
        self.block_names = tuple(blocks)
        # torch-pruning's importance reads stand-ins and knows no blocks or heads
        own = built.stand_ins or bool(blocks) or any(g.kind == "head" for g in groups)
        if own:
            magnitude = self.unit_scores({name: p.abs() ** importance_p
                                          for name, p in model.named_parameters()})
            self.groups = tuple(
                dataclasses.replace(g, importance=magnitude[self.group_slice(g)])
                if built.stand_ins or g.kind in ("block", "head") else g for g in self.groups)
        self.traces = tuple(traces)  # the weight matrices one forward pass applies, in order
        self._layer_costs = [(*layer_cost(t, model, couplings), self._inside(t.name))
                             for t in traces]
        for call in calls:  # attention's two products: per kept head
            site = sites[call.name]
            units = couplings.get((site.output, 1))
            heads_of = (np.unique(units) if units is not None
                        else np.full(site.num_heads, -1, np.int64))
            self._layer_costs.append((call.product_macs_per_head(site), None, heads_of,
                                      self._inside(call.name)))
        self._param_costs = [
            (name, [couplings[(name, d)] for d in range(p.dim()) if (name, d) in couplings],
             p.numel(), self._inside(name))
            for name, p in model.named_parameters()
        ]
        self._paddings = [ProjectionPadding.of(model, name, couplings, traces)
                          for name, module in recurrent.items() if module.proj_size]
        self.dense_macs = int(self.macs(self.full_mask()))
        self.dense_params = int(self.params(self.full_mask()))

    @staticmethod
    def check_settings(*, min_keep: float, ignored_layers: Sequence[str], importance_p: int,
                       granularity: str, heads: Mapping[str, int] | None = None,
                       round_to: int = 1) -> None:
        """Refuse settings out of range, before any model is at hand (every setting given
        but ``heads`` and ``round_to``: the defaults are the constructor's)."""
        check_granularity(granularity)
        check_round_to(round_to)
        if not isinstance(heads or {}, Mapping) or not all(
                isinstance(name, str) and isinstance(count, int) and not isinstance(count, bool)
                and count >= 1 for name, count in (heads or {}).items()):
            raise ValueError(f"heads must map module names to head counts (integers >= 1), "
                             f"e.g. {{encoder.attn: 8}}, got {heads!r}")
        check_number("min_keep", min_keep, low=0, low_open=True, high=1)
        if importance_p not in (1, 2) or isinstance(importance_p, bool):
            raise ValueError(f"importance_p must be 1 (L1) or 2 (L2), got {importance_p!r}")
        check_layer_names(ignored_layers)

    def unit_scores(self, values) -> np.ndarray:
        """:func:`unit_scores` over this space's couplings: one score per unit. A block unit
        scores the mean over its block's weights of their mean value (block sizes differ, so
        a per-entry mean keeps big blocks from always winning)."""
        scores = unit_scores(values, ((c.param, c.dim, c.units) for c in self.couplings),
                             self.num_units)
        for unit, block in self._blocks:
            inside = [value.detach().double().mean().item() for name, value in values.items()
                      if name.startswith(f"{block}.") and value.dim() > 1]
            scores[unit] = float(np.mean(inside)) if inside else 0.0
        return scores

    def _inside(self, name: str) -> np.ndarray:
        """The block units whose blocks hold the layer or parameter ``name``."""
        return np.array([unit for unit, block in self._blocks
                         if name == block or name.startswith(f"{block}.")], dtype=np.int64)

    def with_blocks_kept(self) -> PruningSpace:
        """This space with every block forced kept (the depth group's minimum is its size):
        for methods that prune channels only. Its masks are masks of this space too."""
        view = copy.copy(self)
        view.groups = tuple(dataclasses.replace(g, min_keep=g.size) if g.kind == "block" else g
                            for g in self.groups)
        return view

    def removed_blocks(self, mask: np.ndarray) -> list[str]:
        """The blocks ``mask`` replaces by the identity."""
        return [block for unit, block in self._blocks if not mask[unit]]

    # ----------------------------------------------------------------- costs
    def macs(self, masks: np.ndarray) -> np.ndarray | int:
        """MACs per sample of the model under each mask (a 1-D mask gives an int)."""
        batch = np.atleast_2d(np.asarray(masks, dtype=bool))
        total = np.zeros(batch.shape[0], dtype=np.int64)
        for per_pair, in_units, out_units, blocks in self._layer_costs:
            kept_out = kept_along(batch, out_units)
            kept_in = 1 if in_units is None else kept_along(batch, in_units)
            total += per_pair * kept_in * kept_out * batch[:, blocks].all(axis=1)
        total += self._fixed_macs
        for padding in self._paddings:
            total += padding.macs(batch)
        return int(total[0]) if np.ndim(masks) == 1 else total

    def layer_widths(self, masks: np.ndarray) -> list[tuple]:
        """Per traced layer (``traces``, in order), under each mask: ``(trace, kept inputs,
        kept outputs, runs)``, the entries of its weight's input and output dimensions the
        mask keeps and whether the layer runs at all (False inside a removed block). A
        depthwise layer's inputs are its outputs. A 1-D mask is a batch of one."""
        batch = np.atleast_2d(np.asarray(masks, dtype=bool))
        rows = []
        for trace, (_, in_units, out_units, blocks) in zip(self.traces, self._layer_costs):
            kept_out = kept_along(batch, out_units)
            kept_in = kept_out if in_units is None else kept_along(batch, in_units)
            rows.append((trace, kept_in, kept_out, batch[:, blocks].all(axis=1)))
        return rows

    def params(self, masks: np.ndarray) -> np.ndarray | int:
        """Parameter count of the compacted model under each mask."""
        batch = np.atleast_2d(np.asarray(masks, dtype=bool))
        total = np.zeros(batch.shape[0], dtype=np.int64)
        for _, dims, numel, blocks in self._param_costs:
            per_cell = numel // math.prod(len(units) for units in dims)  # entries per kept cell
            kept = np.full(batch.shape[0], per_cell) * batch[:, blocks].all(axis=1)
            for units in dims:
                kept = kept * kept_along(batch, units)
            total += kept
        for padding in self._paddings:
            total += padding.params(batch)
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
                    f"{group.min_keep} (min_keep={self.min_keep_fraction}"
                    + (f", pruning.round_to={self.round_to}" if group.step > 1 else "") + ")"
                )
            if kept != legal_count(group, kept):
                raise ValueError(
                    f"mask keeps {kept} units of group '{group.name}': with "
                    f"pruning.round_to={group.step} it keeps a multiple of {group.step} or "
                    f"all {group.size}")
        return mask

    def repair(self, mask: np.ndarray, how: str = "nearest") -> np.ndarray:
        """Copy of ``mask`` that every group may keep: where a group keeps fewer than its
        minimum, or a count off its ``round_to`` step, the most important dropped units are
        switched back on or the least important kept ones off, to the count
        :func:`~evoprune.pruning.widths.legal_count` gives (``how``)."""
        mask = np.array(mask, dtype=bool)
        for group in self.groups:
            part = mask[self.group_slice(group)]
            kept = int(part.sum())
            change = legal_count(group, kept, how) - kept
            if change > 0:
                dropped = np.flatnonzero(~part)
                part[dropped[np.argsort(-group.importance[dropped], kind="stable")[:change]]] = True
            elif change < 0:
                kept_units = np.flatnonzero(part)
                weakest = np.argsort(group.importance[kept_units], kind="stable")[:-change]
                part[kept_units[weakest]] = False
        return mask

    def mask_from_counts(self, counts: Sequence[int]) -> np.ndarray:
        """Keep the ``counts[g]`` most important units of each group (clipped to the minimum,
        moved to the nearest count ``round_to`` allows)."""
        if len(counts) != len(self.groups):
            raise ValueError(f"expected {len(self.groups)} keep counts, got {len(counts)}")
        mask = np.zeros(self.num_units, dtype=bool)
        for group, count in zip(self.groups, counts):
            top = np.argsort(-group.importance, kind="stable")[:legal_count(group, count)]
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
                    **({"blocks": [{"name": name, "kept": bool(kept)} for name, kept in
                                   zip(g.members, mask[self.group_slice(g)])]}
                       if g.kind == "block" else {}),
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


def unit_scores(values, couplings, num_units: int) -> np.ndarray:
    """Each unit's score from per-entry scores of the parameters: for every weight (biases
    aside) whose dimension ``dim`` follows units, the sum of its ``values`` over each unit's
    slices, averaged over the weights the unit has slices in. With ``|w| ** p`` this is
    torch-pruning's ``GroupMagnitudeImportance(group_reduction="mean")``, with ``|w * grad|``
    its Taylor criterion, read off the real parameters for models torch-pruning cannot trace.

    ``values``: parameter name → non-negative tensor of its shape; ``couplings``:
    ``(parameter, dim, index → unit array)`` triples."""
    totals = np.zeros(num_units)
    layers = np.zeros(num_units)
    for param, dim, owners in couplings:
        if param.rpartition(".")[2].startswith("bias"):
            continue
        totals += sum_per_unit(values[param], dim, owners, num_units)
        layers += np.bincount(owners[owners >= 0], minlength=num_units) > 0
    return totals / np.maximum(layers, 1)


def sum_per_unit(value: torch.Tensor, dim: int, owners: np.ndarray, num_units: int
                 ) -> np.ndarray:
    """The entries of ``value`` summed over each unit's slices along ``dim`` (``owners``:
    index → unit, -1 for none): one sum per unit, 0 for a unit with no slice here."""
    value = value.detach().double()
    others = [d for d in range(value.dim()) if d != dim]
    per_index = (value.sum(dim=others) if others else value).cpu().numpy()
    owned = owners >= 0
    return np.bincount(owners[owned], weights=per_index[owned], minlength=num_units)


def _kept_of_total(owners: np.ndarray, group: Group, mask: np.ndarray) -> dict[str, int]:
    """How many of a parameter dimension's entries follow ``group``'s units, and how many of
    those ``mask`` keeps."""
    units = owners[(owners >= group.offset) & (owners < group.offset + group.size)]
    return {"kept": int(mask[units].sum()), "total": int(units.size)}


__all__ = [
    "Coupling",
    "Group",
    "GroupLayer",
    "NoPrunableLayerError",
    "PruningSpace",
    "UnsupportedLayerError",
    "sum_per_unit",
    "unit_scores",
]
