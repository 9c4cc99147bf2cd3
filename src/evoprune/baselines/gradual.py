"""Gradual magnitude pruning (AGP, Zhu & Gupta 2017): a baseline that prunes in small steps
and fine-tunes between them, instead of pruning once at the budget and fine-tuning after.

Unlike the one-shot baselines it cannot be a mask function: its mask depends on the weights
that fine-tuning produces along the way, so it returns the mask *and* its fine-tuned model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import torch_pruning as tp
from torch import nn

from evoprune.data import DataSplits
from evoprune.infra.validators import check_int
from evoprune.pruning.budget import check_budget, uniform_mask
from evoprune.pruning.compact import compact
from evoprune.pruning.importance import pruning_groups
from evoprune.pruning.masking import MaskHold
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.widths import legal_count
from evoprune.training.distill import DistillConfig
from evoprune.training.train import TrainConfig, train_classifier


@dataclass
class GradualResult:
    """What :func:`gradual_magnitude` produced.

    ``model`` is compacted (dropped units physically removed), fine-tuned and in eval mode;
    ``history`` has one entry per pruning step (targets, costs, kept units, epochs, loss).
    """

    mask: np.ndarray
    model: nn.Module
    history: list[dict]


def agp_schedule(budget: float, steps: int) -> list[float]:
    """MACs-ratio target after each pruning step ``t = 1..steps``.

    Zhu & Gupta's cubic schedule ``budget + (1 - budget) * (1 - t / steps) ** 3``: it prunes
    fast while many redundant units remain and slowly near the budget; the last target is the
    budget. Their schedule is in sparsity; here it is applied to the MACs ratio, because the
    budget is a MACs budget.
    """
    check_steps(steps)
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must be a fraction of dense MACs in (0, 1], got {budget}")
    return [budget + (1.0 - budget) * (1.0 - t / steps) ** 3 for t in range(1, steps + 1)]


def epoch_split(epochs: int, steps: int) -> list[int]:
    """Fine-tuning epochs after each pruning step: ``epochs // steps`` each, the remainder after
    the last step (so the final, smallest model gets the most recovery). Sums to ``epochs``."""
    check_steps(steps)
    share, remainder = divmod(epochs, steps)
    return [share] * (steps - 1) + [share + remainder]


def gradual_magnitude(
    dense: nn.Module,
    space: PruningSpace,
    data: DataSplits,
    *,
    budget: float,
    finetune: TrainConfig,
    seed: int,
    steps: int = 5,
    importance_p: int = 1,
    distill: DistillConfig | None = None,
    progress: bool = True,
) -> GradualResult:
    """Prune ``dense`` to ``budget`` (fraction of dense MACs) in ``steps`` magnitude steps.

    Step ``t`` recomputes each unit's group magnitude (torch-pruning's, L1 or L2 by
    ``importance_p``, as the space's own) on the *current* weights, keeps the largest uniform
    keep-ratio whose MACs fit :func:`agp_schedule`'s target among the units still kept (removed
    units never return), zeroes the removed units, then fine-tunes for its share of
    ``finetune.epochs`` (:func:`epoch_split`) with the removed units held at zero after every
    optimizer step. Every share is a full ``train_classifier`` run (its own cosine schedule,
    shuffling seed ``seed + t - 1``), distilling from ``dense`` when ``distill`` is set. Total
    fine-tuning equals ``finetune.epochs``, the same as every one-shot method gets.

    The last target is the budget, so the final mask fits it like
    :func:`~evoprune.pruning.budget.uniform_mask`'s does. ``dense`` is not modified. Only
    training data is used.
    """
    if not isinstance(space, PruningSpace):  # it removes units; weight sparsity has none
        raise ValueError(f"gradual magnitude pruning needs a structured pruning space, got "
                         f"{getattr(space, 'kind', type(space).__name__)}")
    schedule = agp_schedule(budget, steps)
    check_budget(space, budget)
    if importance_p not in (1, 2):
        raise ValueError(f"importance_p must be 1 (L1) or 2 (L2), got {importance_p!r}")
    work = copy.deepcopy(dense).eval()
    scorer = _CurrentMagnitude(work, space, importance_p)
    mask, history = space.full_mask(), []
    for t, (target, epochs) in enumerate(zip(schedule, epoch_split(finetune.epochs, steps)), 1):
        mask = _uniform_subset_mask(space, scorer(), mask, target)
        hold = MaskHold(work, space, mask)
        hold()
        losses = []
        if epochs:
            losses = train_classifier(
                work, data.train, replace(finetune, epochs=epochs), seed=seed + t - 1,
                description=f"AGP step {t}/{steps}", progress=progress,
                teacher=dense if distill is not None else None, distill=distill, after_step=hold,
                task=data.task,
            )
        history.append({
            "step": t,
            "target_macs_ratio": target,
            "macs_ratio": float(space.macs_ratio(mask)),
            "kept_per_group": {g.name: int(k) for g, k in zip(space.groups,
                                                                 space.keep_counts(mask))},
            "epochs": epochs,
            "train_loss": losses[-1]["loss"] if losses else None,
        })
    if space.macs_ratio(mask) > budget:  # the last target is the budget; guard the invariant
        raise RuntimeError(f"AGP ended at {space.macs_ratio(mask):.4f} of dense MACs, above the "
                           f"budget {budget}; please report this model")
    return GradualResult(mask=space.check(mask), model=compact(work, space, mask).eval(),
                         history=history)


class _CurrentMagnitude:
    """Per-group unit magnitudes of a model's current weights, as the space computes them at
    construction. The dependency graph is traced once: it reads the weights when called, and
    the training updates them in place."""

    def __init__(self, model: nn.Module, space: PruningSpace, importance_p: int) -> None:
        model.eval()  # tracing runs a forward pass: BatchNorm statistics must not move
        self._model, self._space, self._p = model, space, importance_p
        self._groups = pruning_groups(model, space)
        self._importance = tp.importance.GroupMagnitudeImportance(
            p=importance_p, group_reduction="mean", normalizer=None
        )

    def __call__(self) -> list[np.ndarray]:
        if self._groups is None:  # a model torch-pruning cannot trace: the coupling table
            scores = self._space.unit_scores({name: p.abs() ** self._p
                                              for name, p in self._model.named_parameters()})
            return [scores[self._space.group_slice(g)] for g in self._space.groups]
        return [self._importance(g).detach().cpu().numpy().astype(np.float64)
                if g is not None else group.importance  # whole blocks: kept (channels only)
                for g, group in zip(self._groups, self._space.groups)]


def _uniform_subset_mask(
    space: PruningSpace, importance: list[np.ndarray], current: np.ndarray, target: float
) -> np.ndarray:
    """The largest uniform keep-ratio mask within ``current`` whose MACs ratio fits ``target``.

    Each group keeps its ``round(ratio * size)`` (at least ``min_keep``, at most what it keeps
    now) highest-magnitude units among those ``current`` keeps. Masks grow with the ratio, so
    MACs do too and a bisection finds the largest ratio (as in ``uniform_mask``).
    """
    kept_now = space.keep_counts(current)
    # rank each group's units once: currently kept units first, by magnitude, ties by index
    orders = [
        np.lexsort((-imp, ~current[space.group_slice(g)]))
        for g, imp in zip(space.groups, importance)
    ]

    def at(ratio: float) -> np.ndarray:
        mask = np.zeros(space.num_units, dtype=bool)
        for group, order, now in zip(space.groups, orders, kept_now):
            count = min(legal_count(group, round(ratio * group.size)), int(now))
            mask[group.offset + order[:count]] = True
        return mask

    return uniform_mask(space, target, at=at)


def check_steps(steps: object) -> None:
    check_int("steps", steps, 1)
