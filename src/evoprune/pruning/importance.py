"""Per-unit importance scores for global rankings: magnitude, LAMP and first-order Taylor.

Every function returns a flat float64 array with one score per unit of a
:class:`~evoprune.pruning.space.PruningSpace` (mask order), higher = keep first, ready for
:func:`evoprune.pruning.budget.largest_prefix_mask`. LAMP and Taylor use torch-pruning's
criteria on the same coupled groups the space found (matched by root layer name), so a unit's
score covers every layer that unit touches. On a model torch-pruning cannot trace (one with
recurrent layers) the same criteria are read off the space's coupling table
(``PruningSpace.unit_scores``).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from evoprune.data import Samples
from evoprune.pruning.graph import dependency_graph
from evoprune.pruning.layers import ROOT_TYPES
from evoprune.pruning.recurrent import recurrent_modules
from evoprune.pruning.space import PruningSpace, sum_per_unit
from evoprune.pruning.sparsity import bn_scales, has_bn_scale, unit_norms
from evoprune.tasks import CLASSIFICATION, Task


def magnitude_scores(space: PruningSpace) -> np.ndarray:
    """The space's own group magnitudes (L1 or L2, ``pruning.importance_p``), flat."""
    return np.concatenate([group.importance for group in space.groups])


def normalise_by_group_mean(space: PruningSpace, scores: np.ndarray) -> np.ndarray:
    """Divide each group's scores by that group's mean score.

    Raw magnitudes (and Taylor scores) grow with a layer's fan-in and weight scale, so one
    global threshold on them would empty the layers with small weights. Dividing by the group
    mean makes every group's scores average 1: a unit is ranked by how it compares with its
    own layer, and the ranking inside a group is unchanged. A group whose scores are all zero
    stays at zero (nothing to compare).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (space.num_units,):
        raise ValueError(
            f"scores must have one entry per unit, shape ({space.num_units},), got {scores.shape}"
        )
    out = scores.copy()
    for group in space.groups:
        part = out[space.group_slice(group)]
        mean = part.mean()
        if mean > 0:
            part /= mean
    return out


OWN_KINDS = ("block", "head")  # groups evoprune builds itself: no torch-pruning group to score


def lamp_normalise(energies: np.ndarray) -> np.ndarray:
    """LAMP scores of one group from per-unit squared magnitudes (Lee et al., ICLR 2021).

    Sorting the energies ascending, unit ``i`` scores ``e_i / sum_{j >= i} e_j``: its share of
    what is left of the layer if every weaker unit were removed. Every layer's strongest unit
    scores 1, which makes scores comparable across layers without further normalisation. Ties
    are ordered by unit index, so equal energies get deterministic (increasing) scores.
    """
    energies = np.asarray(energies, dtype=np.float64)
    if energies.ndim != 1 or np.any(energies < 0) or not np.all(np.isfinite(energies)):
        raise ValueError(f"LAMP needs a 1-D array of finite energies >= 0, got {energies}")
    order = np.argsort(energies, kind="stable")
    ascending = energies[order]
    remaining = np.cumsum(ascending[::-1])[::-1]  # sum over j >= i in ascending order
    scores = np.zeros_like(energies)
    scores[order] = np.divide(ascending, remaining, out=np.zeros_like(ascending),
                              where=remaining > 0)
    return scores


def pruning_groups(model: nn.Module, space: PruningSpace) -> list[tp.Group | None] | None:
    """torch-pruning groups of all units of ``model``, one per space group, in space order
    (None for the groups torch-pruning has no notion of: whole blocks, attention heads); None
    for a model with recurrent layers, which torch-pruning cannot trace.

    ``model`` must have the architecture the space was built from; the graph is traced on it
    (torch-pruning puts it in eval mode), so pass a copy if that matters.
    """
    if recurrent_modules(model):
        return None
    names = {module: name for name, module in model.named_modules()}
    graph = dependency_graph(model, space.example_input)
    roots = {}
    for group in graph.get_all_groups(root_module_types=ROOT_TYPES):
        root = group[0].dep.target.module
        roots[names[root]] = (root, group[0].dep.handler)
    missing = [g.name for g in space.groups if g.name not in roots and g.kind not in OWN_KINDS]
    if missing:
        raise ValueError(
            f"the model has no prunable groups rooted at {missing}; it does not match the "
            f"pruning space (groups {[g.name for g in space.groups]})"
        )
    return [
        None if g.kind in OWN_KINDS else graph.get_pruning_group(*roots[g.name],
                                                                  list(range(g.size)))
        for g in space.groups
    ]


def _score_groups(importance: tp.importance.Importance, groups: list[tp.Group],
                  space: PruningSpace) -> list[np.ndarray | None]:
    """Apply a torch-pruning criterion to each group; ``None`` where it has nothing to score."""
    scored: list[np.ndarray | None] = []
    for group, unit_group in zip(groups, space.groups):
        value = None if group is None else importance(group)
        if value is None:  # no layer of a type the criterion knows
            scored.append(None)
            continue
        value = value.detach().cpu().numpy().astype(np.float64)
        if value.shape != (unit_group.size,) or not np.all(np.isfinite(value)):
            scored.append(None)
            continue
        scored.append(value)
    return scored


def lamp_scores(model: nn.Module, space: PruningSpace) -> np.ndarray:
    """Structured LAMP: torch-pruning's ``LAMPImportance(p=2, group_reduction="mean")`` per
    group (the mean over the group's layers of each unit's squared L2 norm, then LAMP).

    Where torch-pruning returns nothing usable for a group, LAMP is computed here from the
    space's magnitudes instead (energy = magnitude squared).
    """
    groups = pruning_groups(copy.deepcopy(model), space)
    if groups is None:
        energy = space.unit_scores({name: p ** 2 for name, p in model.named_parameters()})
        return np.concatenate([lamp_normalise(energy[space.group_slice(group)])
                               for group in space.groups])
    scored = _score_groups(tp.importance.LAMPImportance(p=2, group_reduction="mean"), groups,
                           space)
    return np.concatenate([
        value if value is not None else lamp_normalise(group.importance ** 2)
        for value, group in zip(scored, space.groups)
    ])


def taylor_scores(
    model: nn.Module,
    space: PruningSpace,
    train: Samples,
    *,
    batches: int = 4,
    batch_size: int = 128,
    task: Task = CLASSIFICATION,
) -> np.ndarray:
    """First-order Taylor importance ``sum |w * dL/dw|`` per unit (torch-pruning's
    ``GroupTaylorImportance``), averaged over ``batches`` batches of the first
    ``batches * batch_size`` training samples (fixed, unshuffled: deterministic).

    Each batch is scored from its own gradient of the ``task``'s loss (cross-entropy), as
    Molchanov et al. (CVPR 2019) average per-minibatch importance: summing the gradients first
    would let them cancel, since at a minimum of the training loss their mean is ~0 and what
    remains is noise (on a converged CNN1d / MNIST-1D that ranking was worse than random).
    Scores are raw (not normalised); :func:`batch_gradients` says what is left untouched.
    """
    work = copy.deepcopy(model)
    groups = pruning_groups(work, space)  # before the backward passes: tracing runs a forward
    importance = tp.importance.GroupTaylorImportance(normalizer=None)
    # torch-pruning knows no whole blocks or heads: theirs come off the coupling table
    own = any(group.kind in OWN_KINDS for group in space.groups)
    total = np.zeros(space.num_units)
    used = 0
    for graded in batch_gradients(work, train, batches=batches, batch_size=batch_size,
                                  task=task, copy_model=False):
        used += 1
        saliency = {name: (p * p.grad).abs() for name, p in graded.named_parameters()}
        if groups is None:
            total += space.unit_scores(saliency)
            continue
        scored = _score_groups(importance, groups, space)
        table = space.unit_scores(saliency) if own else None
        total += np.concatenate([
            value if value is not None
            else table[space.group_slice(group)] if group.kind in OWN_KINDS
            else np.zeros(group.size)
            for value, group in zip(scored, space.groups)
        ])
    return total / used


def gate_scores(
    model: nn.Module,
    space: PruningSpace,
    train: Samples,
    *,
    batches: int = 4,
    batch_size: int = 128,
    task: Task = CLASSIFICATION,
) -> np.ndarray:
    """Head importance as Michel et al. (NeurIPS 2019) define it: ``|dL/dξ_u|`` for a gate
    ``ξ_u = 1`` on each unit's output, averaged over batches as :func:`taylor_scores` does.

    A gate on a unit's output scales what every layer reading the unit sees, so its gradient
    is the sum over the readers' weight slices of ``w * dL/dw`` (an attention head: the
    output projection's columns of the head), taken before the absolute value: a head whose
    removal would raise the loss and one whose removal would lower it are told apart from
    one that does nothing, as a sum of absolute values cannot. Raw scores (Michel et al.
    normalise them per layer: :func:`rms_normalise_by_group`).
    """
    readers = {(c.param, c.dim): c.units for c in space.couplings}
    sides = [(layer.param, layer.dim) for group in space.groups for layer in group.layers
             if layer.side == "in"]
    total = np.zeros(space.num_units)
    used = 0
    for work in batch_gradients(model, train, batches=batches, batch_size=batch_size,
                                task=task):
        used += 1
        params = dict(work.named_parameters())
        gate = np.zeros(space.num_units)
        for param, dim in dict.fromkeys(sides):
            gate += sum_per_unit(params[param] * params[param].grad, dim,
                                 readers[(param, dim)], space.num_units)
        total += np.abs(gate)
    return total / used


def rms_normalise_by_group(space: PruningSpace, scores: np.ndarray) -> np.ndarray:
    """Divide each group's scores by their root mean square (a group of zeros stays zero).

    Michel et al. divide each layer's head scores by their L2 norm; among layers with as many
    heads that ranks heads exactly as this does (the two differ by the constant √heads). Across
    groups of different sizes, the L2 norm would shrink every unit of a large group (128 MLP
    neurons against 4 heads: measured, a global ranking then cut every MLP to its minimum
    first); the root mean square puts every group on one footing, as the group mean does for
    ``taylor``."""
    out = np.asarray(scores, dtype=np.float64).copy()
    for group in space.groups:
        part = out[space.group_slice(group)]
        rms = float(np.sqrt(np.mean(part ** 2))) if part.size else 0.0
        if rms > 0:
            part /= rms
    return out


def batch_gradients(model: nn.Module, train: Samples, *, batches: int, batch_size: int,
                    task: Task, copy_model: bool = True):
    """Yield a copy of ``model`` (``copy_model=False``: ``model`` itself) holding the gradient
    of the ``task``'s loss on each of ``batches`` batches of the first ``batches * batch_size``
    training samples in turn (fixed, unshuffled: deterministic; a parameter the loss does not
    reach gets a zero gradient).

    The copy is in eval mode, so ``model``'s parameters, gradients, BatchNorm statistics and
    mode are untouched; eval mode also makes the gradients those of the model as it is
    evaluated (frozen BatchNorm statistics)."""
    if batches < 1 or batch_size < 1:
        raise ValueError(f"importance needs batches >= 1 and batch_size >= 1, got {batches} "
                         f"and {batch_size}")
    if len(train) == 0:
        raise ValueError("gradient importance needs training samples, got an empty split")
    work = copy.deepcopy(model) if copy_model else model
    work.eval()
    params = list(work.parameters())
    for param in params:
        param.requires_grad_(True)
    device = params[0].device
    for x, y in train.head(batches * batch_size).batches(device, batch_size):
        for param in params:
            param.grad = None  # one batch's gradient at a time (deepcopy also copied any)
        with torch.enable_grad():
            task.loss(work(x), y).backward()
        for param in params:
            if param.grad is None:  # a parameter the loss does not reach: no first-order effect
                param.grad = torch.zeros_like(param)
        yield work


def slimming_scores(model: nn.Module, space: PruningSpace) -> np.ndarray:
    """Network slimming's ranking (Liu et al., ICCV 2017): each unit's BatchNorm scale
    ``|gamma|`` (:func:`~evoprune.pruning.sparsity.bn_scales`), compared globally as the paper
    does.

    A unit with no BatchNorm scale is ranked by its L2 norm (what ``train.group_lasso``
    shrinks) divided by its group's mean norm and multiplied by the mean scale of the units
    that have one (1 if none has): inside its group the ranking is by norm, and across groups
    it sits on the scales' footing rather than on the raw weight scale of its layer.
    """
    scaled = has_bn_scale(space, model)
    scores = np.where(scaled, bn_scales(space, model), 0.0)
    if scaled.all():
        return scores
    footing = scores[scaled].mean() if scaled.any() else 1.0
    norms = normalise_by_group_mean(space, np.where(scaled, 0.0, unit_norms(space, model)))
    return np.where(scaled, scores, norms * footing)


__all__ = [
    "batch_gradients",
    "gate_scores",
    "rms_normalise_by_group",
    "lamp_normalise",
    "lamp_scores",
    "magnitude_scores",
    "normalise_by_group_mean",
    "pruning_groups",
    "slimming_scores",
    "taylor_scores",
]
