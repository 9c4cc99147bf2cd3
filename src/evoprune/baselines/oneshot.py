"""One-shot baselines: masks computed at the budget from a ranking of units, no search.

Each is a function ``(BaselineContext) -> mask``, registered in
:mod:`evoprune.baselines.registry`; the run finishes its mask exactly like a searched one (same
fine-tuning, same measurements).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn.utils import prune

from evoprune.pruning.budget import check_budget, largest_prefix_mask, uniform_mask
from evoprune.pruning.importance import (
    gate_scores,
    lamp_scores,
    magnitude_scores,
    normalise_by_group_mean,
    rms_normalise_by_group,
    slimming_scores,
    taylor_scores,
)
from evoprune.pruning.unstructured import global_threshold_policy
from evoprune.pruning.widths import legal_count

if TYPE_CHECKING:  # the registry defines the context and imports this module
    from evoprune.baselines.registry import BaselineContext


def uniform_magnitude(context: BaselineContext) -> np.ndarray:
    """Same keep-ratio in every group, channels ranked by group magnitude (L1 or L2, set by
    ``pruning.importance_p``), the largest ratio whose MACs fit the budget."""
    return uniform_mask(context.space, context.budget)


def global_magnitude_scores(context: BaselineContext) -> np.ndarray:
    """Group magnitude divided by its group's mean: raw magnitudes grow with a layer's fan-in
    and weight scale, so one global threshold on them would empty whole layers."""
    return normalise_by_group_mean(context.space, magnitude_scores(context.space))


def lamp_ranking_scores(context: BaselineContext) -> np.ndarray:
    """Structured LAMP scores (torch-pruning's ``LAMPImportance``). LAMP is layer-adaptive by
    construction (every layer's best unit scores 1), so they are not normalised again."""
    return lamp_scores(context.model, context.space)


def taylor_ranking_scores(context: BaselineContext) -> np.ndarray:
    """First-order Taylor importance (torch-pruning's ``GroupTaylorImportance`` on a copy of
    the model), averaged over 4 batches of the first 512 training samples, divided by its
    group's mean."""
    return normalise_by_group_mean(
        context.space, taylor_scores(context.model, context.space, context.data.train,
                      task=context.data.task)
    )


def head_importance_scores(context: BaselineContext) -> np.ndarray:
    """Michel et al.'s head importance (the gradient of the loss with respect to a gate on
    each head's output, on 4 batches of the first 512 training samples), for every unit
    (heads, MLP neurons, channels), normalised per group as the paper does per layer (by the
    root mean square: :func:`~evoprune.pruning.importance.rms_normalise_by_group`)."""
    return rms_normalise_by_group(context.space, gate_scores(
        context.model, context.space, context.data.train, task=context.data.task))


def random_scores(context: BaselineContext) -> np.ndarray:
    """Uniform random scores from a generator seeded by ``context.seed`` (same seed, same
    scores): the floor every criterion must beat."""
    return np.random.default_rng(context.seed).random(context.space.num_units)


def slimming_ranking_scores(context: BaselineContext) -> np.ndarray:
    """Network slimming's scores: BatchNorm scales, compared globally (units without one by
    their group-normalised L2 norm on the same footing)."""
    return slimming_scores(context.model, context.space)


# The prefix baselines differ only in how they rank units: each keeps the largest prefix of
# its ranking that fits the budget (``largest_prefix_mask``), so tests and reports can check a
# mask against the ranking that produced it.
RANKINGS: dict[str, Callable[[BaselineContext], np.ndarray]] = {
    "global_magnitude": global_magnitude_scores,
    "lamp": lamp_ranking_scores,
    "taylor": taylor_ranking_scores,
    "head_importance": head_importance_scores,
    "random": random_scores,
    "slimming": slimming_ranking_scores,
}


def global_magnitude(context: BaselineContext) -> np.ndarray:
    """One global ranking of all units by group-mean-normalised magnitude, kept in decreasing
    order while the MACs fit the budget; each group's minimum is kept regardless."""
    return largest_prefix_mask(context.space, global_magnitude_scores(context), context.budget)


def lamp(context: BaselineContext) -> np.ndarray:
    """LAMP (Lee et al., ICLR 2021) made structured: one global ranking to the budget."""
    return largest_prefix_mask(context.space, lamp_ranking_scores(context), context.budget)


def taylor(context: BaselineContext) -> np.ndarray:
    """First-order Taylor importance (Molchanov et al., CVPR 2019), normalised per group,
    one global ranking to the budget. Never touches ``context.model``."""
    return largest_prefix_mask(context.space, taylor_ranking_scores(context), context.budget)


def head_importance(context: BaselineContext) -> np.ndarray:
    """Gradient-based head importance (Michel et al., NeurIPS 2019), normalised per group, one
    global ranking of heads and the other units to the budget, in one shot (the paper removes
    heads by it in steps; it reports most heads removable at test time)."""
    return largest_prefix_mask(context.space, head_importance_scores(context), context.budget)


def head_importance_refusal(space) -> str | None:
    """Why head_importance has nothing of its own to rank in ``space``'s model, or None."""
    if any(group.kind == "head" for group in space.groups):
        return None
    return "it ranks attention heads, and the model has none (taylor ranks other units)"


def slimming(context: BaselineContext) -> np.ndarray:
    """Network slimming (Liu et al., ICCV 2017): one global ranking of BatchNorm scales, kept
    in decreasing order while the MACs fit the budget. Its point is a dense model trained
    with ``train.l1_bn`` (and ``train.group_lasso`` for units without BatchNorm)."""
    return largest_prefix_mask(context.space, slimming_ranking_scores(context), context.budget)


def random(context: BaselineContext) -> np.ndarray:
    """A random global ranking of units, kept in order to the budget with each group's
    minimum. Same seed, same mask."""
    return largest_prefix_mask(context.space, random_scores(context), context.budget)


def block_magnitude(context: BaselineContext) -> np.ndarray:
    """Depth pruning by magnitude: whole residual blocks go, weakest first by the mean
    magnitude of their weights (the depth group's importance), until the MACs fit the budget,
    every channel kept. Where removing every block is not enough (granularity=both), the
    channels then shrink uniformly by magnitude until they fit."""
    space, budget = context.space, context.budget
    check_budget(space, budget)
    depth = next(g for g in space.groups if g.kind == "block")
    mask = space.full_mask()
    for unit in np.argsort(depth.importance, kind="stable"):
        if space.macs_ratio(mask) <= budget:
            return mask
        mask[depth.offset + unit] = False
    if space.macs_ratio(mask) <= budget:
        return mask
    return uniform_mask(space, budget, at=lambda ratio: space.mask_from_ratios(
        [0.0 if g.kind == "block" else ratio for g in space.groups]))


def global_weight_magnitude(context: BaselineContext) -> np.ndarray:
    """Unstructured: one magnitude threshold across all layers' weights, the loosest that fits."""
    return global_threshold_policy(context.space, context.budget)


def torch_prune(context: BaselineContext) -> np.ndarray:
    """PyTorch's own structured pruning, ``torch.nn.utils.prune.ln_structured`` (n=1, dim=0):
    each group's root layer loses the output channels with the smallest L1 norms of its own
    weight, the same share in every layer, the smallest share whose MACs fit the budget. Unlike
    ``uniform_magnitude`` it ranks by the root layer alone, not the whole coupled group."""
    space = context.space
    reason = torch_prune_refusal(space)
    if reason:
        raise ValueError(f"torch_prune cannot prune this model: {reason}")
    weights = [None if group.kind == "block" else  # whole blocks: all kept (channels only)
               context.model.get_submodule(group.name).weight.detach().cpu()
               for group in space.groups]
    chosen: dict[tuple[int, int], np.ndarray] = {}

    def kept_rows(index: int, keep: int) -> np.ndarray:
        if weights[index] is None:
            return np.arange(space.groups[index].size)
        if (index, keep) not in chosen:  # run PyTorch's method on a throwaway holder
            holder = torch.nn.Module()
            holder.weight = torch.nn.Parameter(weights[index].clone())
            prune.ln_structured(holder, "weight", amount=space.groups[index].size - keep, n=1,
                                dim=0)
            chosen[(index, keep)] = np.flatnonzero(
                holder.weight_mask.flatten(1).any(dim=1).numpy())
        return chosen[(index, keep)]

    def at(ratio: float) -> np.ndarray:
        mask = np.zeros(space.num_units, dtype=bool)
        for index, group in enumerate(space.groups):
            keep = legal_count(group, round(ratio * group.size))
            mask[group.offset + kept_rows(index, keep)] = True
        return mask

    return uniform_mask(space, context.budget, at=at)


def torch_prune_refusal(space) -> str | None:
    """Why torch_prune cannot prune ``space``'s model, or None."""
    odd = [g.name for g in space.groups if g.kind not in ("channel", "neuron", "block")]
    return (f"it prunes conv and linear output channels, and groups {odd} are recurrent "
            "units or attention heads" if odd else None)
