"""Unstructured (weight-level) pruning: each conv/linear layer keeps its largest-magnitude weights.

A policy here is one integer per layer, the number of weights that layer keeps; the kept weights
are always that layer's largest by magnitude in the dense model. Per-layer and global magnitude
pruning, and any per-layer sparsity a search chooses, are all such policies, so one small
array describes a mask over every weight of the model.

Cost rule: a layer's MACs count as its dense MACs × its weight density (kept / total weights),
the usual accounting for sparse kernels. Nothing is physically removed, so measured latency
does not shrink: dense kernels still run.

The class mirrors :class:`~evoprune.pruning.space.PruningSpace` where searches and baselines
touch it (``groups``, ``check``, ``mask_from_counts``, ``mask_from_ratios``, ``macs``,
``params``, ``describe``), with one "group" per layer whose units are its weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from evoprune.infra.validators import check_number
from evoprune.pruning.attention import attention_macs, attention_sites, trace_attention
from evoprune.pruning.layers import check_layer_names
from evoprune.pruning.macs import check_dense_macs, count_params, trace_layers


@dataclass(frozen=True)
class WeightLayer:
    """One prunable weight tensor, seen as a group of ``size`` weights."""

    name: str  # the layer (a recurrent layer's weights: the parameter)
    kind: str  # always "weight"
    size: int  # number of weights
    min_keep: int
    dense_macs: int
    param: str  # the weight's parameter name
    step: int = 1  # any count of weights may be kept


class UnstructuredSpace:
    """Weight-level pruning space of a model.

    Args:
        model: the dense model (not modified).
        example_input: a batch the model accepts (to count MACs).
        min_density: fraction of each layer's weights every policy keeps.
        ignored_layers: layer names left dense.
    """

    kind = "unstructured"

    def __init__(
        self,
        model: nn.Module,
        example_input: torch.Tensor,
        *,
        min_density: float = 0.01,
        ignored_layers: Sequence[str] = (),
    ) -> None:
        self.check_settings(min_density=min_density, ignored_layers=ignored_layers)
        names = {name for name, _ in model.named_modules()}
        unknown = sorted(set(ignored_layers) - names)
        if unknown:
            raise ValueError(f"ignored_layers names unknown layers {unknown}")
        self.min_keep_fraction = min_density
        self.example_input = example_input
        every = trace_layers(model, example_input)
        sites = attention_sites(model, example_input)
        attention = attention_macs(sites, trace_attention(model, example_input, sites), every)
        # attention's products have no weights: a fixed cost here
        fixed_macs = check_dense_macs(model, example_input, every, attention) + sum(
            products for _, products in attention.values())
        traces = _by_weight([t for t in every if t.name not in ignored_layers])
        if not traces:
            raise ValueError(f"{type(model).__name__} has no conv, linear or recurrent layer to "
                             "prune")
        weights = {_layer_name(t): model.get_parameter(t.param).detach() for t in traces}
        self.groups = tuple(
            WeightLayer(_layer_name(t), "weight", weights[_layer_name(t)].numel(),
                        max(1, int(np.ceil(min_density * weights[_layer_name(t)].numel()))),
                        t.macs, t.param)
            for t in traces
        )
        # rank of each weight within its layer by magnitude (0 = largest): keeping k weights
        # means keeping ranks < k, so a policy turns into weight masks with one comparison
        self.ranks = {
            name: torch.argsort(torch.argsort(w.abs().flatten(), descending=True, stable=True))
            .view_as(w)
            for name, w in weights.items()
        }
        self.magnitudes = {name: w.abs().flatten().numpy() for name, w in weights.items()}
        self.num_units = len(self.groups)
        self._sizes = np.array([g.size for g in self.groups], dtype=np.int64)
        self._macs = np.array([g.dense_macs for g in self.groups], dtype=np.float64)
        self._other_params = count_params(model) - int(self._sizes.sum())
        self._untouched_macs = sum(t.macs for t in every) + fixed_macs - int(self._macs.sum())
        self.dense_macs = int(self._macs.sum()) + self._untouched_macs
        self.dense_params = count_params(model)

    # --------------------------------------------------------------- policies
    @staticmethod
    def check_settings(*, min_density: float, ignored_layers: Sequence[str]) -> None:
        """Refuse settings out of range, before any model is at hand (every setting given:
        the defaults are the constructor's)."""
        check_number("min_density", min_density, low=0, low_open=True, high=1)
        check_layer_names(ignored_layers)

    block_names: tuple[str, ...] = ()  # weights only: no whole blocks to remove

    def removed_blocks(self, policy: np.ndarray) -> list[str]:
        """None: a weight policy removes no block (the structured space's counterpart)."""
        return []

    def full_mask(self) -> np.ndarray:
        return self._sizes.copy()

    def keep_counts(self, policy: np.ndarray) -> np.ndarray:
        return np.asarray(policy, dtype=np.int64)

    def check(self, policy: np.ndarray) -> np.ndarray:
        """Return ``policy`` as int64 after checking its length and per-layer bounds."""
        policy = np.asarray(policy)
        if policy.shape != (self.num_units,):
            raise ValueError(
                f"an unstructured policy has one kept-weight count per layer, shape "
                f"({self.num_units},); got {policy.shape}"
            )
        policy = policy.astype(np.int64)
        for layer, kept in zip(self.groups, policy):
            if not layer.min_keep <= kept <= layer.size:
                raise ValueError(
                    f"layer '{layer.name}' keeps {kept} weights; allowed {layer.min_keep}.."
                    f"{layer.size} (min_density={self.min_keep_fraction})"
                )
        return policy

    def mask_from_counts(self, counts: Sequence[int]) -> np.ndarray:
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != (self.num_units,):
            raise ValueError(f"expected {self.num_units} keep counts, got {len(counts)}")
        return np.clip(counts, [g.min_keep for g in self.groups], self._sizes)

    def mask_from_ratios(self, ratios: Sequence[float]) -> np.ndarray:
        """Per-layer densities → kept-weight counts (largest weights kept)."""
        return self.mask_from_counts(np.round(np.asarray(ratios, dtype=float) * self._sizes))

    def mask_from_threshold(self, threshold: float) -> np.ndarray:
        """Keep every weight with magnitude ≥ ``threshold`` (global magnitude pruning)."""
        counts = [int((self.magnitudes[g.name] >= threshold).sum()) for g in self.groups]
        return self.mask_from_counts(counts)

    # ------------------------------------------------------------------ costs
    def macs(self, policies: np.ndarray) -> np.ndarray | int:
        """Density-weighted MACs per sample (rounded down to whole MACs)."""
        batch = np.atleast_2d(np.asarray(policies, dtype=np.int64))
        total = (self._macs * batch / self._sizes).sum(axis=1) + self._untouched_macs
        total = np.floor(total + 1e-9).astype(np.int64)
        return int(total[0]) if np.ndim(policies) == 1 else total

    def params(self, policies: np.ndarray) -> np.ndarray | int:
        """Non-zero parameters: kept weights plus every other parameter."""
        batch = np.atleast_2d(np.asarray(policies, dtype=np.int64))
        total = batch.sum(axis=1) + self._other_params
        return int(total[0]) if np.ndim(policies) == 1 else total

    def macs_ratio(self, policies: np.ndarray) -> np.ndarray | float:
        return self.macs(policies) / self.dense_macs

    # ---------------------------------------------------------------- masking
    def weight_masks(self, policy: np.ndarray) -> dict[str, torch.Tensor]:
        """Boolean keep-mask of each pruned weight tensor, keyed by parameter name."""
        policy = self.check(policy)
        return {g.param: self.ranks[g.name] < int(k) for g, k in zip(self.groups, policy)}

    def describe(self, policy: np.ndarray) -> dict:
        policy = self.check(policy)
        return {
            "kind": self.kind,
            "cost_rule": "layer MACs x weight density",
            "layers": [
                {"name": g.name, "size": g.size, "kept": int(k), "density": int(k) / g.size}
                for g, k in zip(self.groups, policy)
            ],
        }

    def from_description(self, description: dict) -> np.ndarray:
        found = [(layer["name"], layer["size"]) for layer in description.get("layers", [])]
        expected = [(g.name, g.size) for g in self.groups]
        if description.get("kind") != self.kind or found != expected:
            raise ValueError(f"policy layers {found} do not match this model's layers {expected}")
        return self.check([layer["kept"] for layer in description["layers"]])

    def key(self, policy: np.ndarray) -> bytes:
        return np.asarray(policy, dtype=np.int64).tobytes()


def _by_weight(traces: list) -> list:
    """One trace per weight, its MACs summed over the calls that use it (a layer called twice,
    an attention's packed query, key and value blocks)."""
    merged: dict[str, object] = {}
    for trace in traces:
        seen = merged.get(trace.param)
        merged[trace.param] = trace if seen is None else replace(
            seen, macs=seen.macs + trace.macs, rows=None)
    return list(merged.values())


def _layer_name(trace) -> str:
    """A layer's name, or for one of a recurrent layer's several weights, the weight's."""
    return trace.name if trace.weight == "weight" else trace.param


def global_threshold_policy(space: UnstructuredSpace, budget: float) -> np.ndarray:
    """Global magnitude pruning: the lowest magnitude threshold (across all layers) whose
    policy meets the budget, i.e. the most weights one global threshold can keep."""
    from evoprune.pruning.budget import check_budget  # budget.py imports nothing from here

    check_budget(space, budget)
    values = np.unique(np.concatenate(list(space.magnitudes.values())))
    low, high = 0, len(values) - 1  # thresholds by index: a higher index keeps fewer weights
    if space.macs_ratio(space.mask_from_threshold(values[0])) <= budget:
        return space.mask_from_threshold(values[0])
    while high - low > 1:  # invariant: values[low] too costly, values[high] within budget
        middle = (low + high) // 2
        if space.macs_ratio(space.mask_from_threshold(values[middle])) <= budget:
            high = middle
        else:
            low = middle
    return space.mask_from_threshold(values[high])
