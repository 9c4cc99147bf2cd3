"""The evaluator: validation accuracy, MACs and parameters of a batch of masks (and, with
``cost="latency"``, the measured CPU latency of each compacted mask).

It holds the dense model's parameters and the validation data once, scores each mask through
``torch.func.functional_call`` with masked parameters (no model copies), and memoises results by
mask, so the identical candidates that elitism and crossover produce are scored once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from evoprune.data import Split
from evoprune.latency import LatencySettings, measure_latency_ms
from evoprune.pruning.compact import compact
from evoprune.pruning.masking import make_masker
from evoprune.pruning.space import PruningSpace

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)

# what a search's budget limits (``fitness.cost``): analytic MACs, or measured CPU latency
COSTS = ("macs", "latency")


@dataclass(frozen=True)
class Objectives:
    """What the search knows about one candidate (validation split only).

    ``cost_ratio`` is what the budget limits and what searches compare to it: ``macs_ratio``
    by default, ``latency_ms / dense latency`` when the evaluator measures latency
    (``latency_ms`` is None otherwise).
    """

    val_acc: float
    macs: int
    params: int
    macs_ratio: float
    latency_ms: float | None = None
    cost_ratio: float | None = None  # None: the MACs ratio

    def __post_init__(self) -> None:
        if self.cost_ratio is None:
            object.__setattr__(self, "cost_ratio", self.macs_ratio)


class Evaluator:
    """Scores masks of one model on the validation split.

    Args:
        model: the trained dense model (not modified).
        space: the model's pruning space.
        val: validation split; ``val_samples`` takes its first N samples (all by default).
        calibration: training data for BatchNorm recalibration.
        bn_recalibration_batches: before scoring a mask, re-estimate BatchNorm statistics of the
            masked model on this many calibration batches (0 = use the dense statistics).
            Pruning shifts the statistics later layers see; recalibrating makes the validation
            accuracy of a mask a much better predictor of its fine-tuned accuracy.
        cache: memoise results by mask.
        cost: ``macs`` (the cost ratio is the MACs ratio) or ``latency``: each mask is also
            compacted and timed on CPU (``latency``: the median of ``repeats`` forward passes of
            the first ``batch_size`` validation samples, after ``warmup``, on ``threads``), and
            its cost ratio
            is its latency over the dense model's, measured the same way at construction.
            Structured pruning only: unstructured masks remove nothing.
    """

    def __init__(
        self,
        model: nn.Module,
        space: PruningSpace,
        val: Split,
        *,
        calibration: Split | None = None,
        bn_recalibration_batches: int = 0,
        calibration_batch_size: int = 256,
        val_samples: int | None = None,
        batch_size: int = 1024,
        cache: bool = True,
        cost: str = "macs",
        latency: LatencySettings | None = None,
    ) -> None:
        if cost not in COSTS:
            raise ValueError(f"fitness.cost must be one of {sorted(COSTS)}, got {cost!r}")
        if cost == "latency" and space.kind != "structured":
            raise ValueError(
                f"fitness.cost=latency needs pruning=structured: pruning={space.kind} removes "
                "nothing, so every mask runs at dense latency; use fitness.cost=macs"
            )
        if bn_recalibration_batches < 0:
            raise ValueError(
                f"evaluator.bn_recalibration_batches must be >= 0, got {bn_recalibration_batches}"
            )
        if bn_recalibration_batches and calibration is None:
            raise ValueError("BatchNorm recalibration needs calibration data")
        if val_samples is not None and val_samples < 1:
            raise ValueError(f"evaluator.val_samples must be >= 1 or null, got {val_samples}")
        self.model = model.eval()
        self.space = space
        self.masker = make_masker(model, space)
        self.x_val, self.y_val = val.x[:val_samples], val.y[:val_samples]
        self.batch_size = batch_size
        self.bn_modules = [m for m in model.modules() if isinstance(m, _BN_TYPES)]
        self.calibration_batches: list[torch.Tensor] = []
        if bn_recalibration_batches and self.bn_modules:
            # a fixed slice of training data: every mask is recalibrated on the same inputs
            size = min(calibration_batch_size * bn_recalibration_batches, len(calibration))
            inputs = calibration.x[:size]
            self.calibration_batches = list(inputs.split(calibration_batch_size))
        self.buffers = dict(model.named_buffers())
        self.cache: dict[bytes, Objectives] | None = {} if cache else None
        self.evaluations = 0  # masks actually run through the model
        self.requests = 0  # masks asked for, cache hits included
        self.cost = cost
        self.latency = latency or LatencySettings()
        self.latency_inputs = val.x[: self.latency.batch_size]
        # the dense model timed exactly as every candidate is
        self.dense_latency_ms = self._latency(space.full_mask()) if cost == "latency" else None

    @property
    def cache_hits(self) -> int:
        return self.requests - self.evaluations

    def evaluate(self, masks: Sequence[np.ndarray]) -> list[Objectives]:
        """Objectives of each mask, in order."""
        checked = [self.space.check(mask) for mask in masks]  # masks or unstructured policies
        macs = self.space.macs(np.stack(checked)) if checked else []
        params = self.space.params(np.stack(checked)) if checked else []
        results = []
        for mask, mask_macs, mask_params in zip(checked, macs, params):
            self.requests += 1
            key = self.space.key(mask)
            if self.cache is not None and key in self.cache:
                results.append(self.cache[key])
                continue
            self.evaluations += 1
            latency_ms = self._latency(mask) if self.cost == "latency" else None
            objectives = Objectives(
                val_acc=self._accuracy(mask),
                macs=int(mask_macs),
                params=int(mask_params),
                macs_ratio=float(mask_macs) / self.space.dense_macs,
                latency_ms=latency_ms,
                cost_ratio=None if latency_ms is None else latency_ms / self.dense_latency_ms,
            )
            if self.cache is not None:
                self.cache[key] = objectives
            results.append(objectives)
        return results

    def _latency(self, mask: np.ndarray) -> float:
        """Median milliseconds of the compacted model (units removed, not just zeroed)."""
        return measure_latency_ms(
            compact(self.model, self.space, mask), self.latency_inputs,
            repeats=self.latency.repeats, warmup=self.latency.warmup, threads=self.latency.threads,
        )

    @torch.inference_mode()
    def _accuracy(self, mask: np.ndarray) -> float:
        params = self.masker(mask)
        buffers = self._recalibrated_buffers(params) if self.calibration_batches else self.buffers
        state = {**params, **buffers}
        correct = 0
        for x, y in zip(self.x_val.split(self.batch_size), self.y_val.split(self.batch_size)):
            correct += int((functional_call(self.model, state, (x,)).argmax(1) == y).sum())
        return correct / len(self.y_val)

    def _recalibrated_buffers(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fresh BatchNorm statistics of the masked model: a cumulative average over the
        calibration batches, written into copies (the dense buffers stay untouched)."""
        buffers = {name: value.clone() for name, value in self.buffers.items()}
        for name, value in buffers.items():
            if name.endswith(("running_mean", "num_batches_tracked")):
                value.zero_()
            elif name.endswith("running_var"):
                value.fill_(1.0)
        with _batchnorm_in_cumulative_train_mode(self.bn_modules):
            for x in self.calibration_batches:
                functional_call(self.model, {**params, **buffers}, (x,))
        return buffers


@contextlib.contextmanager
def _batchnorm_in_cumulative_train_mode(modules: list[nn.Module]) -> Iterator[None]:
    """BatchNorm layers update running statistics as an equal-weight average, then restore."""
    saved = [(m, m.training, m.momentum) for m in modules]
    try:
        for module in modules:
            module.train()
            module.momentum = None
        yield
    finally:
        for module, training, momentum in saved:
            module.train(training)
            module.momentum = momentum
