"""The evaluator: validation accuracy, MACs and parameters of a batch of masks.

It holds the dense model's parameters and the validation data once, scores each mask through
``torch.func.functional_call`` with the mask's kept slices of the parameters (or, where the model
does not allow slicing, masked ones: no model copies either way), and memoises results by mask,
so the identical candidates that elitism and crossover produce are scored once.

The accuracy of a mask is computed by one :class:`~evoprune.evaluate.scorer.MaskScorer`. The
``serial`` backend runs it in this process; the ``ray`` backend (``ray_backend.py``) gives a copy
to each Ray worker and sends them the masks the cache does not hold, so both backends return the
same numbers. With ``cost="latency"`` the evaluator also compacts and times each new mask here,
in the driver (timings on busy workers would not compare).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from evoprune.evaluate.batchnorm import batchnorm_layers
from evoprune.evaluate.latency import LatencySettings, measure_latency_ms
from evoprune.evaluate.latency_table import LatencyTable
from evoprune.evaluate.scorer import MODES, MaskScorer
from evoprune.infra.validators import check_bool, check_int
from evoprune.tasks import CLASSIFICATION, Task

if TYPE_CHECKING:  # kept out of Ray workers' imports (the data loaders pull in scikit-learn)
    from evoprune.data import Samples
    from evoprune.pruning.space import PruningSpace

BACKENDS = ("serial", "ray")
# what a search's budget limits (``evaluator.cost``): analytic MACs, or measured CPU latency
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


def check_settings(
    *, bn_recalibration_batches: int, calibration_batch_size: int, val_samples: int | None,
    batch_size: int, cache: bool, mode: str, batch_candidates: int, backend: str, workers: int,
    ray_address: str | None, worker_threads: int, cost: str,
) -> None:
    """Refuse evaluator settings out of range, naming the value and what is allowed (before
    any model or data is at hand). Every setting is given: the defaults are the evaluator's
    own (and the config's)."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {sorted(COSTS)}, got {cost!r}")
    for key, value, low in (("bn_recalibration_batches", bn_recalibration_batches, 0),
                            ("calibration_batch_size", calibration_batch_size, 1),
                            ("batch_size", batch_size, 1), ("workers", workers, 1),
                            ("batch_candidates", batch_candidates, 1),
                            ("worker_threads", worker_threads, 1)):
        check_int(key, value, low)
    check_int("val_samples", val_samples, 1, optional=True)
    check_bool("cache", cache)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    if ray_address is not None and (not isinstance(ray_address, str) or not ray_address.strip()):
        raise ValueError(
            "ray_address must be null (start a local Ray), 'auto' (join the cluster "
            "started on this machine with `ray start`) or an address such as host:6379 or "
            f"ray://host:10001, got {ray_address!r}"
        )


class Evaluator:
    """Scores masks of one model on the validation split.

    Args:
        model: the trained dense model (not modified).
        space: the model's pruning space.
        val: validation split; ``val_samples`` takes its first N samples (all by default).
        calibration: training data for BatchNorm recalibration.
        bn_recalibration_batches: before scoring a mask, re-estimate BatchNorm statistics of the
            masked model on this many calibration batches (0 = use the dense statistics; the
            default, 2, is the config's, and needs ``calibration`` for a model with BatchNorm).
            Pruning shifts the statistics later layers see; recalibrating makes the validation
            accuracy of a mask a much better predictor of its fine-tuned accuracy.
        cache: memoise results by mask.
        mode: ``auto``, ``sliced``, ``masked`` or ``batched``: how each mask's network is
            run (see :class:`~evoprune.evaluate.scorer.MaskScorer`); auto runs the kept slices
            only, at the compacted model's cost, whenever the model allows it; batched runs
            ``batch_candidates`` masks per vmapped forward pass at dense cost each (for GPUs).
        batch_candidates: masks per forward pass with ``mode="batched"``.
        backend: ``serial`` (score masks in this process) or ``ray`` (on Ray workers, which
            each hold the model and data once; the cache and counters stay here).
        workers: Ray workers (``ray`` only).
        ray_address: null: start a local Ray (unless ``RAY_ADDRESS`` or a cluster started with
            ``ray start`` on this machine says otherwise, as for ``ray.init()``); ``auto`` or an
            address: join that cluster (``ray`` only; a Ray session already initialised in this
            process is used as is, and left running).
        worker_threads: torch threads of each Ray worker (``ray`` only).
        cost: ``macs`` (the cost ratio is the MACs ratio) or ``latency``: each new mask is also
            compacted and timed on CPU (the median of ``latency.repeats`` forward passes of the
            first ``latency.batch_size`` validation samples, after ``latency.warmup``, on
            ``latency.threads``, in ``latency.runtime``), or with ``latency.estimate=table``
            read off a per-layer table timed here once; its cost ratio is its latency over
            the dense model's, measured the same way at construction. Structured pruning
            only: unstructured masks remove nothing.

    With ``backend="ray"``, call :meth:`close` (or use the evaluator as a context manager) to
    stop the workers, and the Ray session if the evaluator started it.
    """

    def __init__(
        self,
        model: nn.Module,
        space: PruningSpace,
        val: Samples,
        *,
        calibration: Samples | None = None,
        bn_recalibration_batches: int = 2,
        calibration_batch_size: int = 256,
        val_samples: int | None = None,
        batch_size: int = 1024,
        cache: bool = True,
        backend: str = "serial",
        workers: int = 2,
        ray_address: str | None = None,
        worker_threads: int = 1,
        cost: str = "macs",
        latency: LatencySettings | None = None,
        mode: str = "auto",
        batch_candidates: int = 8,
        task: Task = CLASSIFICATION,
    ) -> None:
        check_settings(bn_recalibration_batches=bn_recalibration_batches,
                       calibration_batch_size=calibration_batch_size, val_samples=val_samples,
                       batch_size=batch_size, cache=cache, mode=mode,
                       batch_candidates=batch_candidates, backend=backend,
                       workers=workers, ray_address=ray_address, worker_threads=worker_threads,
                       cost=cost)
        if cost == "latency" and space.kind != "structured":
            raise ValueError(
                f"cost=latency needs a structured pruning space: {space.kind} pruning removes "
                "nothing, so every mask runs at dense latency"
            )
        has_norms = bool(batchnorm_layers(model))
        if bn_recalibration_batches and has_norms and calibration is None:
            raise ValueError(
                f"the model has BatchNorm layers and bn_recalibration_batches="
                f"{bn_recalibration_batches}: pass calibration=<the training split> to "
                "re-estimate their statistics per mask (as python -m evoprune does), or "
                "bn_recalibration_batches=0 to score with the dense statistics")
        self.model = model.eval()
        self.space = space
        device = next(model.parameters()).device
        with torch.no_grad():
            self.num_classes = int(model(val.inputs(1).to(device)).shape[-1])  # output width
        self.task = task
        self.batch_size = batch_size  # every evaluation pass of a run reads batches this size
        # the score of a model that ignores its input (None: the task cannot say): where the
        # Pareto front's hypervolume is measured from
        self.chance = (1.0 / self.num_classes if task.labels == "class" else
                       task.chance(val.head(val_samples).in_memory().y, self.num_classes))
        if self.chance is None:  # a custom metric: the dense model against shuffled labels
            self.chance = _shuffled_score(model, val.head(val_samples), task, batch_size)
        self.calibration_batches: list[torch.Tensor] = []
        if bn_recalibration_batches and has_norms:
            # a fixed slice of training data: every mask is recalibrated on the same inputs
            size = min(calibration_batch_size * bn_recalibration_batches, len(calibration))
            inputs = calibration.inputs(size)
            self.calibration_batches = list(inputs.split(calibration_batch_size))
        self.scorer = MaskScorer(model, space, val.head(val_samples), self.calibration_batches,
                                 batch_size, mode, batch_candidates, task)
        self.backend = backend
        self.cache: dict[bytes, Objectives] | None = {} if cache else None
        self.evaluations = 0  # masks actually run through the model
        self.requests = 0  # masks asked for, cache hits included
        self._pool = None
        self._closed = False
        self.cost = cost
        self.latency = latency or LatencySettings()
        self.latency_inputs = val.inputs(self.latency.batch_size).to(
            next(model.parameters()).device)
        self.table = None  # latency.estimate=table: every candidate read off it
        if cost == "latency" and self.latency.estimate == "table":
            self.table = LatencyTable(model, space, self.latency_inputs, self.latency,
                                      self.latency.grid)
        # the dense model timed exactly as every candidate is
        self.dense_latency_ms = self._latency(space.full_mask()) if cost == "latency" else None
        if backend == "ray":  # last: nothing after it can fail and leave the workers running
            from evoprune.evaluate.ray_backend import RayPool

            self._pool = RayPool(self.scorer, workers=workers, address=ray_address,
                                 threads=worker_threads)

    @property
    def cache_hits(self) -> int:
        return self.requests - self.evaluations

    def evaluate(self, masks: Sequence[np.ndarray]) -> list[Objectives]:
        """Objectives of each mask, in order."""
        if self._closed:
            raise RuntimeError(f"this evaluator ({self.backend} backend) is closed")
        checked = [self.space.check(mask) for mask in masks]  # masks or unstructured policies
        keys = [self.space.key(mask) for mask in checked]
        # each slot holds a known result (a cache hit) or the position of its mask in `todo`
        slots: list[Objectives | int] = []
        todo: list[int] = []
        pending: dict[bytes, int] = {}  # a mask repeated within the batch is scored once
        for index, key in enumerate(keys):
            if self.cache is not None:
                if key in self.cache:
                    slots.append(self.cache[key])
                    continue
                if key in pending:
                    slots.append(pending[key])
                    continue
                pending[key] = len(todo)
            slots.append(len(todo))
            todo.append(index)
        scored: list[Objectives] = []
        if todo:
            stacked = np.stack([checked[index] for index in todo])
            macs, params = self.space.macs(stacked), self.space.params(stacked)
            accuracies = self._accuracies([checked[index] for index in todo])
            latencies = ([self._latency(checked[index]) for index in todo]
                         if self.cost == "latency" else [None] * len(todo))
            scored = [
                Objectives(val_acc=accuracy, macs=int(mask_macs), params=int(mask_params),
                           macs_ratio=float(mask_macs) / self.space.dense_macs,
                           latency_ms=latency_ms,
                           cost_ratio=(None if latency_ms is None
                                       else latency_ms / self.dense_latency_ms))
                for accuracy, mask_macs, mask_params, latency_ms
                in zip(accuracies, macs, params, latencies)
            ]
            if self.cache is not None:
                self.cache.update((keys[index], result) for index, result in zip(todo, scored))
        self.evaluations += len(todo)
        self.requests += len(checked)
        return [slot if isinstance(slot, Objectives) else scored[slot] for slot in slots]

    def state_dict(self) -> dict:
        """The memo and counters, in checkpointable form (plain values only)."""
        cache = self.cache or {}
        return {"keys": list(cache), "objectives": [asdict(o) for o in cache.values()],
                "evaluations": self.evaluations, "requests": self.requests,
                "dense_latency_ms": self.dense_latency_ms,
                "latency_table": None if self.table is None else self.table.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved: a resumed search sees the same cache hits."""
        if self.cache is not None:
            self.cache = {key: Objectives(**values)
                          for key, values in zip(state["keys"], state["objectives"])}
        self.evaluations, self.requests = state["evaluations"], state["requests"]
        if self.cost == "latency":  # restored cost ratios are relative to the first timing
            self.dense_latency_ms = state["dense_latency_ms"]
        if self.table is not None and state.get("latency_table"):
            self.table.load_state_dict(state["latency_table"])

    def _latency(self, mask: np.ndarray) -> float:
        """Median milliseconds of the compacted model (units removed, not just zeroed), or the
        table's prediction of them."""
        if self.table is not None:
            return self.table.predict(mask)
        from evoprune.pruning.compact import compact  # torch-pruning: only for latency costs

        return measure_latency_ms(
            compact(self.model, self.space, mask), self.latency_inputs,
            repeats=self.latency.repeats, warmup=self.latency.warmup, threads=self.latency.threads,
            runtime=self.latency.runtime, device=self.latency.device,
        )

    def _accuracies(self, masks: list[np.ndarray]) -> list[float]:
        if self._pool is not None:
            return self._pool.accuracies(masks)
        return self.scorer.accuracies(masks)

    def close(self) -> None:
        """Stop the scoring threads, the Ray workers, and the Ray session if this evaluator
        started it. A serial evaluator stays usable (its threads start again when needed); a
        Ray one is closed for good."""
        self.scorer.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            self._closed = True
            pool.close()

    def __enter__(self) -> Evaluator:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


@torch.inference_mode()
def _shuffled_score(model: nn.Module, val: Samples, task: Task, batch_size: int) -> float:
    """The score of the dense model's outputs against the labels in a fixed random order: what
    a model that ignores its input scores, for a metric nothing else is known about."""
    device = next(model.parameters()).device
    outputs, labels = zip(*((model(x).float(), y) for x, y in val.batches(device, batch_size)))
    labels = torch.cat(labels)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    return task.score(torch.cat(outputs), labels[order.to(labels.device)])
