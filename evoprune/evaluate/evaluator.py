"""The evaluator: validation accuracy, MACs and parameters of a batch of masks.

It holds the dense model's parameters and the validation data once, scores each mask through
``torch.func.functional_call`` with masked parameters (no model copies), and memoises results by
mask, so the identical candidates that elitism and crossover produce are scored once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from evoprune.data import Split
from evoprune.pruning.masking import make_masker
from evoprune.pruning.space import PruningSpace

_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass(frozen=True)
class Objectives:
    """What the search knows about one candidate (validation split only)."""

    val_acc: float
    macs: int
    params: int
    macs_ratio: float


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
    ) -> None:
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
            objectives = Objectives(
                val_acc=self._accuracy(mask),
                macs=int(mask_macs),
                params=int(mask_params),
                macs_ratio=float(mask_macs) / self.space.dense_macs,
            )
            if self.cache is not None:
                self.cache[key] = objectives
            results.append(objectives)
        return results

    def state_dict(self) -> dict:
        """The memo and counters, in checkpointable form (plain values only)."""
        cache = self.cache or {}
        return {"keys": list(cache), "objectives": [asdict(o) for o in cache.values()],
                "evaluations": self.evaluations, "requests": self.requests}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved: a resumed search sees the same cache hits."""
        if self.cache is not None:
            self.cache = {key: Objectives(**values)
                          for key, values in zip(state["keys"], state["objectives"])}
        self.evaluations, self.requests = state["evaluations"], state["requests"]

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
