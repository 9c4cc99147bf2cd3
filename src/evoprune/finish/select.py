"""Two-stage selection: the search's cheap score ranks every candidate; a brief fine-tune
re-ranks its few best (NetAdapt's short-term fine-tune as the proxy), since the mask that keeps
the most accuracy untouched is not always the one that recovers best."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from evoprune.data.splits import Samples
from evoprune.finish.measure import pruned_for_finetuning
from evoprune.infra.validators import check_int
from evoprune.pruning.space import PruningSpace
from evoprune.search.base import Scored
from evoprune.tasks import CLASSIFICATION, Task
from evoprune.training.train import TrainConfig, score, train_classifier


@dataclass(frozen=True)
class Selection:
    """Which finalist won (its rank by the search's score, 0 = the best) and every
    finalist's validation accuracy after the brief fine-tune."""

    chosen: int
    accuracies: list[float]


def check_selection(finalists: int, epochs: int, samples: int | None) -> None:
    """Refuse selection settings out of range (before any work)."""
    check_int("finalists", finalists, 1)
    check_int("epochs", epochs, 1)
    check_samples(samples)


def check_samples(samples: int | None) -> None:
    """Refuse a brief fine-tune's sample count that is not an integer >= 1 or None (all)."""
    check_int("samples", samples, 1, optional=True)


def first_samples(train: Samples, samples: int | None) -> Samples:
    """The first ``samples`` of ``train`` (all of it with None): a brief fine-tune's data."""
    return train.head(samples)


def select_by_finetuning(finalists: Sequence[Scored], *, dense: nn.Module, space: PruningSpace,
                         calibration_batches: list[torch.Tensor], train: Samples, val: Samples,
                         recipe: TrainConfig, seed: int, samples: int | None = None,
                         progress: bool = False, task: Task = CLASSIFICATION,
                         batch_size: int = 1024) -> Selection:
    """Fine-tune each finalist briefly (``recipe`` on the first ``samples`` training samples,
    every finalist from the same seed) and pick the most accurate on ``val``; ties go to the
    better search score."""
    subset = first_samples(train, samples)
    accuracies = [
        accuracy_after_finetuning(dense, space, finalist.mask, calibration_batches, subset, val,
                                  recipe, seed=seed, progress=progress,
                                  description=f"select {rank + 1}/{len(finalists)}", task=task,
                                  batch_size=batch_size)
        for rank, finalist in enumerate(finalists)]
    return Selection(max(range(len(accuracies)), key=lambda i: (accuracies[i], -i)), accuracies)


def accuracy_after_finetuning(dense: nn.Module, space: PruningSpace, mask: np.ndarray,
                              calibration_batches: list[torch.Tensor], train: Samples, val: Samples,
                              recipe: TrainConfig, *, seed: int, progress: bool = False,
                              description: str = "fine-tune",
                              task: Task = CLASSIFICATION, batch_size: int = 1024) -> float:
    """The ``task``'s score on ``val`` of ``mask``'s model (as the search scored it) after
    ``recipe`` on ``train``: the brief fine-tune that re-ranks finalists, or the full one as
    the oracle."""
    model, hold = pruned_for_finetuning(dense, space, mask, calibration_batches)
    train_classifier(model, train, recipe, seed=seed, progress=progress,
                     description=description, after_step=hold, task=task)
    return score(model, val, task=task, batch_size=batch_size)
