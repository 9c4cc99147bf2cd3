"""A look at a model's pruning space before any training: each prunable group, its size, the
layers coupled to it and its share of the MACs, and the layers kept whole and why
(``python -m evoprune inspect``, ``evoprune.inspect``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rich.table import Table
from torch import nn

from evoprune.infra.errors import UserError
from evoprune.pruning.layers import KNOWN_TYPES, ROOT_TYPES
from evoprune.pruning.recurrent import RECURRENT_TYPES
from evoprune.pruning.space import PruningSpace


@dataclass(frozen=True)
class GroupRow:
    """One prunable group: ``macs_share`` is the share of the dense MACs that depends on its
    units (what dropping all of them would remove: a bound, as no mask keeps fewer than
    ``min_keep``)."""

    name: str
    kind: str
    units: int
    min_keep: int
    macs_share: float
    coupled: tuple[str, ...]  # the other layers whose weights follow the group's units
    step: int = 1  # kept counts are multiples of it, or the whole group (pruning.round_to)


@dataclass(frozen=True)
class KeptLayer:
    """A layer with parameters that no mask changes, and why."""

    name: str
    type: str
    reason: str


@dataclass(frozen=True)
class Inspection:
    """What :func:`inspect_space` found; ``str()`` is the table ``inspect`` prints."""

    model: str
    groups: tuple[GroupRow, ...]
    kept: tuple[KeptLayer, ...]
    dense_macs: int
    dense_params: int
    fixed_macs_share: float  # MACs no group reaches (layers kept whole, parameter-free products)

    def tables(self) -> list[Table | str]:
        """The groups' table, then the layers kept whole (a table, or a line saying none)."""
        groups = Table(title=f"{self.model}: {len(self.groups)} prunable groups, "
                             f"{sum(g.units for g in self.groups):,} units, "
                             f"{self.dense_macs:,} MACs, {self.dense_params:,} parameters",
                       title_justify="left")
        for column in ("group", "kind", "units", "min keep", "step", "MACs share"):
            groups.add_column(column, justify="left" if column in ("group", "kind") else "right")
        groups.add_column("coupled layers")
        for g in self.groups:
            groups.add_row(g.name, g.kind, f"{g.units:,}", f"{g.min_keep:,}", str(g.step),
                           f"{g.macs_share:.1%}", ", ".join(g.coupled) or "-")
        fixed = f"{self.fixed_macs_share:.1%} of the MACs depend on no group"
        if not self.kept:
            return [groups, f"kept whole: no layer with parameters; {fixed}"]
        kept = Table(title=f"kept whole ({fixed})", title_justify="left")
        for column in ("layer", "type", "why"):
            kept.add_column(column)
        for layer in self.kept:
            kept.add_row(layer.name, layer.type, layer.reason)
        return [groups, kept]

    def __str__(self) -> str:
        from rich.console import Console

        text = io.StringIO()
        console = Console(file=text, width=120)
        for table in self.tables():
            console.print(table)
        return text.getvalue()


def inspect_space(model: nn.Module, space: PruningSpace,
                  ignored_layers: Sequence[str] = ()) -> Inspection:
    """The groups of ``space`` (built on ``model``) and the layers it keeps whole."""
    full = space.full_mask()
    rows = []
    for group in space.groups:
        mask = full.copy()
        mask[space.group_slice(group)] = False
        share = 1 - space.macs(mask) / space.dense_macs
        coupled = tuple(name for name in dict.fromkeys(layer.name for layer in group.layers)
                        if name != group.name) if group.kind != "block" else group.members
        rows.append(GroupRow(group.name, group.kind, group.size, group.min_keep, share, coupled,
                             group.step))
    # a head group names its module and output projection; its q / k / v children too
    reached = {layer.name for g in space.groups for layer in g.layers}
    reached |= {name for site in space.sites.values() for name in site.projections}
    reached |= {member for g in space.groups for member in g.members}
    blocks = [name for g in space.groups if g.kind == "block" for name in g.members]
    # the last layer with units, in definition order: the one whose units are the outputs
    output_layer = [n for n, m in model.named_modules()
                    if isinstance(m, ROOT_TYPES + RECURRENT_TYPES)][-1]
    kept = []
    for name, module in model.named_modules():
        if not name or not any(True for _ in module.parameters(recurse=False)):
            continue
        if name in reached or any(name.startswith(block + ".") for block in blocks):
            continue
        kept.append(KeptLayer(name, type(module).__name__, space.kept_whole.get(name) or
                              _why_kept(name, module, output_layer, ignored_layers)))
    fixed = space.macs(np.zeros_like(full)) / space.dense_macs
    return Inspection(type(model).__name__, tuple(rows), tuple(kept), space.dense_macs,
                      space.dense_params, float(fixed))


class NotInspectable(UserError, ValueError):
    """A pruning space ``inspect`` cannot show (unstructured pruning has no groups)."""


def _why_kept(name: str, module: nn.Module, output_layer: str,
              ignored_layers: Sequence[str]) -> str:
    if name in ignored_layers:
        return "listed in pruning.ignored_layers"
    # a module of no known layer type, holding parameters of its own (a model's class token)
    if any(True for _ in module.parameters(recurse=False)) and not isinstance(module, KNOWN_TYPES):
        return "its own parameters (a position embedding, a class token) touch no pruned unit"
    if not isinstance(module, ROOT_TYPES + RECURRENT_TYPES):
        return "no prunable group's units reach it"
    if name == output_layer:
        return "the output layer: its units are the model's outputs"
    return "its units feed a layer kept whole (pruning.ignored_layers) or no other layer"


def inspect(model: nn.Module, example_input: torch.Tensor, **pruning) -> Inspection:
    """The pruning space of ``model`` as :class:`Inspection` (print it for the tables),
    before any training. ``example_input`` is a batch the model accepts; ``pruning`` takes
    the ``pruning`` config's settings (``min_keep``, ``ignored_layers``, ``granularity``,
    ...). A model evoprune cannot prune is refused with the reason (a ``UserError``)."""
    from evoprune.pruning import make_space

    if pruning.get("kind", "structured") != "structured":
        raise NotInspectable(f"inspect shows structured pruning spaces (groups of units), "
                             f"not pruning.kind={pruning['kind']}: every weight is its own "
                             "unit there; drop pruning=unstructured to inspect the groups")
    space = make_space(model, example_input, **pruning)
    return inspect_space(model, space, pruning.get("ignored_layers", ()))
