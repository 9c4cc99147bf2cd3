"""The finish step every method goes through: compact the mask, score it raw, fine-tune it
with the same budget as every other method, and measure test accuracy, cost and latency."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoprune.data import DataSplits
from evoprune.evaluate.batchnorm import batchnorm_layers, cumulative_statistics
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.latency import LatencySettings, measure_latency_ms
from evoprune.finish.records import DenseRow, MethodRow
from evoprune.pruning.compact import compact
from evoprune.pruning.macs import count_params, measured_macs
from evoprune.pruning.masking import MaskHold
from evoprune.pruning.pruned import Pruned
from evoprune.pruning.space import PruningSpace
from evoprune.training.distill import DistillConfig
from evoprune.training.train import TrainConfig, score, train_classifier


@dataclass
class FinishedMethod:
    """One method's pruned model and its row in ``results.json``."""

    model: nn.Module
    row: MethodRow


def finish(name: str, pruned: Pruned, *, dense: nn.Module, space: PruningSpace,
           evaluator: Evaluator, data: DataSplits, finetune: TrainConfig, seed: int,
           latency: LatencySettings, distill: DistillConfig | None = None,
           progress: bool = True, checkpoint: Path | None = None) -> FinishedMethod:
    """Fine-tune (unless the method did) and measure one method's answer; ``checkpoint``:
    where the fine-tuning keeps its epoch checkpoint (:func:`train_classifier`)."""
    if pruned.model is None:
        finished = finish_mask(name, pruned.mask, dense=dense, space=space, evaluator=evaluator,
                               data=data, finetune=finetune, seed=seed, latency=latency,
                               distill=distill, progress=progress, checkpoint=checkpoint)
    else:  # no honest before-fine-tuning accuracy: the method never stopped training
        finished = measure_finished(name, pruned.mask, pruned.model, space=space, data=data,
                                    latency=latency, test_acc_before_finetune=None,
                                    val_acc_before_finetune=None,
                                    batch_size=evaluator.batch_size)
    finished.row.update(pruned.figures)
    return finished


def finish_mask(
    name: str,
    mask: np.ndarray,
    *,
    dense: nn.Module,
    space: PruningSpace,
    evaluator: Evaluator,
    data: DataSplits,
    finetune: TrainConfig,
    seed: int,
    latency: LatencySettings,
    distill: DistillConfig | None = None,
    progress: bool = True,
    checkpoint: Path | None = None,
) -> FinishedMethod:
    """Compact ``mask``, fine-tune it (mask fixed: removed units stay removed) and measure it.

    ``test_acc_before_finetune`` is the compacted model as the search scored it: with the
    evaluator's BatchNorm recalibration, if any. With ``distill``, fine-tuning distils from
    ``dense`` (the teacher, never modified), the same for every method.
    """
    mask = space.check(mask)
    [objectives] = evaluator.evaluate([mask])
    model, hold = pruned_for_finetuning(dense, space, mask, evaluator.calibration_batches)
    if space.kind == "structured":
        # fail before fine-tuning
        _check_cost_matches(name, model, space, mask, data.test.inputs(1))
    before = score(model, data.test, task=data.task, batch_size=evaluator.batch_size)
    train_classifier(
        model, data.train, finetune, seed=seed, description=f"fine-tune {name}",
        progress=progress, teacher=dense if distill is not None else None, distill=distill,
        after_step=hold, checkpoint=checkpoint, task=data.task,
    )
    return measure_finished(
        name, mask, model, space=space, data=data, latency=latency,
        test_acc_before_finetune=before, val_acc_before_finetune=objectives.val_acc,
        batch_size=evaluator.batch_size,
    )


def pruned_for_finetuning(dense: nn.Module, space: PruningSpace, mask: np.ndarray,
                          calibration_batches: list[torch.Tensor]
                          ) -> tuple[nn.Module, MaskHold | None]:
    """The model of ``mask`` as the search scored it, ready to fine-tune: compacted
    (structured), or a copy with the pruned weights zeroed (unstructured: then also the
    :class:`MaskHold` that keeps them zero after each step), BatchNorm statistics re-estimated
    on ``calibration_batches`` as the evaluator does. ``dense`` is not modified."""
    hold = None
    if space.kind == "unstructured":  # nothing to remove: zero the weights, keep them zero
        model = copy.deepcopy(dense)
        hold = MaskHold(model, space, mask)
        hold()
    else:
        model = compact(dense, space, mask)
    if calibration_batches:
        _recalibrate(model, calibration_batches)
    return model, hold


def measure_finished(
    name: str,
    mask: np.ndarray,
    model: nn.Module,
    *,
    space: PruningSpace,
    data: DataSplits,
    latency: LatencySettings,
    test_acc_before_finetune: float | None,
    val_acc_before_finetune: float | None,
    batch_size: int = 1024,
) -> FinishedMethod:
    """The row of a compacted, already fine-tuned ``model`` of ``mask``.

    :func:`finish_mask` ends here; a method that fine-tunes while it prunes (gradual magnitude
    pruning) comes straight here, with ``None`` for accuracies it has no honest value for.
    """
    mask = space.check(mask)
    if space.kind == "structured":  # unstructured models keep dense shapes: nothing to count
        _check_cost_matches(name, model, space, mask, data.test.inputs(1))
    macs = int(space.macs(mask))
    row: MethodRow = {
        "val_acc": score(model, data.val, task=data.task, batch_size=batch_size),
        "test_acc": score(model, data.test, task=data.task, batch_size=batch_size),
        "test_acc_before_finetune": test_acc_before_finetune,
        "val_acc_before_finetune": val_acc_before_finetune,
        "macs": macs,
        "macs_ratio": macs / space.dense_macs,
        "params": int(space.params(mask)),
        "latency_ms": measure_latency_ms(
            model, data.test.inputs(latency.batch_size), repeats=latency.repeats,
            warmup=latency.warmup, threads=latency.threads,
            runtime=latency.runtime, device=latency.device,
        ),
        "kept_per_group": {g.name: int(k) for g, k in zip(space.groups, space.keep_counts(mask))},
    }
    return FinishedMethod(model=model, row=row)


def dense_row(model: nn.Module, space: PruningSpace, data: DataSplits,
              latency: LatencySettings, batch_size: int = 1024) -> DenseRow:
    """The dense model's row: scores (read in batches of ``batch_size``), cost, latency."""
    return {
        "val_acc": score(model, data.val, task=data.task, batch_size=batch_size),
        "test_acc": score(model, data.test, task=data.task, batch_size=batch_size),
        "macs": space.dense_macs,
        "params": count_params(model),
        "latency_ms": measure_latency_ms(
            model, data.test.inputs(latency.batch_size), repeats=latency.repeats,
            warmup=latency.warmup, threads=latency.threads,
            runtime=latency.runtime, device=latency.device,
        ),
    }


def _check_cost_matches(name, model, space, mask, sample) -> None:
    """The analytic count that guided the search must be the compacted model's real count."""
    counted, analytic = measured_macs(model, sample)[0], space.macs(mask)
    if counted != analytic or count_params(model) != space.params(mask):
        raise RuntimeError(
            f"{name}: compacted model has {counted} MACs / {count_params(model)} params, the "
            f"analytic count says {analytic} / {space.params(mask)}; please report this model"
        )


@torch.no_grad()
def _recalibrate(model: nn.Module, batches: list[torch.Tensor]) -> None:
    """Same statistics the evaluator used for this mask: equal-weight average over the batches."""
    norms = batchnorm_layers(model)
    for module in norms:
        module.reset_running_stats()
    with cumulative_statistics(norms):
        for x in batches:
            model(x)
