"""Validation accuracy of masks: the only code that runs the model during a search.

One :class:`MaskScorer` serves both evaluator backends: the serial one calls it in-process, the
Ray one ships a copy to each worker (it pickles as its constructor arguments).
"""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from evoprune.data.splits import Samples, Split
from evoprune.evaluate.batched import PopulationScorer
from evoprune.evaluate.batchnorm import batchnorm_layers, cumulative_statistics
from evoprune.infra.threads import torch_threads
from evoprune.pruning.blocks import blocks_removed, outside
from evoprune.pruning.masking import make_masker
from evoprune.pruning.slicing import ParameterSlicer
from evoprune.tasks import CLASSIFICATION, Task

if TYPE_CHECKING:  # kept out of Ray workers' imports (the data loaders pull in scikit-learn)
    from evoprune.pruning.space import PruningSpace

# how a mask's network is run: kept slices only (the compacted model's arithmetic), or the
# dense arithmetic with dropped units zeroed, one mask or a chunk of masks (vmapped) per
# forward pass; auto slices whenever the model allows it
MODES = ("auto", "sliced", "masked", "batched")


class MaskScorer:
    """Validation accuracy of masks: the only code that runs the model during search.

    Args:
        model: the trained dense model (not modified; put in eval mode).
        space: its pruning space.
        val: the validation split the accuracy is measured on: an in-memory ``Split`` is
            moved to the model's device once; a ``DatasetSplit`` is streamed batch by batch
            for every mask (read into memory once for ``batched``).
        calibration_batches: inputs to re-estimate BatchNorm statistics of each masked model
            on (empty: keep the dense statistics).
        batch_size: evaluation batch size.
        mode: ``sliced`` runs each mask with only its kept slices of the parameters (and
            BatchNorm statistics), so it costs what the compacted model costs; ``masked`` runs
            the dense arithmetic with the dropped units zeroed (the reference path, and the only
            one for unstructured policies and for models whose forward pass fixes a width);
            ``auto`` slices when the model passes the slicer's check, else masks;
            ``batched`` runs the masked arithmetic for ``batch_candidates`` masks per forward pass,
            under ``torch.func.vmap`` (``evaluate/batched.py``; meant for a GPU). All give
            the same outputs up to float rounding.
        batch_candidates: masks per forward pass (``batched`` only).
        task: what the score is (top-1 accuracy by default; :mod:`evoprune.tasks`).

    Everything runs on the model's device; the data is moved there once. On CPU, a batch of
    masks is scored by as many Python threads as torch has intra-op threads, each running whole
    candidates on one core (small convolutions scale poorly across cores; independent
    candidates scale well). Each scoring thread runs its own parameter-free (meta-device)
    replica of the model, since ``functional_call`` swaps tensors into the module it calls. One
    caller at a time: ``accuracies`` holds a lock.

    It pickles as its constructor arguments, so a Ray worker rebuilds it from the model and
    the data alone.
    """

    def __init__(
        self,
        model: nn.Module,
        space: PruningSpace,
        val: Samples,
        calibration_batches: Sequence[torch.Tensor] = (),
        batch_size: int = 1024,
        mode: str = "auto",
        batch_candidates: int = 8,
        task: Task = CLASSIFICATION,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
        self.model = model.eval()
        self.space = space
        device = next(model.parameters()).device
        if mode == "batched":
            val = val.in_memory()
        self.val = val.to(device) if isinstance(val, Split) else val
        self.device = device
        self.calibration_batches = [x.to(device) for x in calibration_batches]
        self.batch_size = batch_size
        self.mode = mode
        self.batch_candidates = batch_candidates
        self.task = task
        self.masker = make_masker(model, space)
        self.slicer = None
        if mode != "masked" and space.kind == "structured":
            slicer = ParameterSlicer(model, space, self.val.inputs(4).to(device))
            if slicer.supported:
                self.slicer = slicer
            elif mode == "auto":  # said, never silent: masked scoring is slower
                warnings.warn(
                    f"{type(model).__name__} cannot run with sliced parameters (a grouped "
                    "convolution, a recurrent layer, an attention module's head count, or a "
                    "forward pass that fixes a layer width): candidates are scored with masked "
                    "parameters, at dense cost",
                    RuntimeWarning, stacklevel=2)
            elif mode == "sliced":
                raise ValueError(
                    f"mode=sliced: {type(model).__name__} cannot run with sliced "
                    "parameters (a grouped convolution, a recurrent layer, or a forward pass "
                    "that fixes a layer width); use mode=auto or masked"
                )
        elif mode == "sliced":
            raise ValueError("mode=sliced needs a structured pruning space; use auto or masked")
        self.bn_modules = batchnorm_layers(model)
        self.buffers = dict(model.named_buffers())
        self.population = None
        if mode == "batched":
            self.population = PopulationScorer(
                model, space, self.masker, self.val.x, self.val.y,
                self.calibration_batches, batch_size, batch_candidates, task)
            self._check_batched()
        self.parallel = device.type == "cpu"
        self._local = threading.local()
        self._owner = threading.get_ident()  # the thread that calls the model itself
        self._template: nn.Module | None = None  # replicas are copied from it, never from model
        self._lock = threading.Lock()
        self._template_lock = threading.Lock()
        self._workers = 0
        self._pool: ThreadPoolExecutor | None = None  # kept: its threads keep their replicas

    def __reduce__(self):
        # slices are cloned so that they do not drag their whole source tensor along
        val = Split(self.val.x.clone(), self.val.y.clone()) if isinstance(self.val, Split) \
            else self.val
        return (MaskScorer, (self.model, self.space, val,
                             [x.clone() for x in self.calibration_batches], self.batch_size,
                             self.mode, self.batch_candidates, self.task))

    def accuracies(self, masks: Sequence[np.ndarray]) -> list[float]:
        """Validation accuracy of each mask, in order."""
        with self._lock:
            if self.population is not None:
                return self.population.accuracies(masks)
            workers = min(len(masks), torch.get_num_threads()) if self.parallel else 1
            if workers <= 1:
                return [self.accuracy(mask) for mask in masks]
            if self._pool is None or self._workers < workers:
                self.close()
                self._pool = ThreadPoolExecutor(workers, thread_name_prefix="evoprune-scorer")
                self._workers = workers
            with torch_threads(1):
                futures = [self._pool.submit(self.accuracy, mask) for mask in masks]
                wait(futures)  # all finished before the thread count is restored
            return [future.result() for future in futures]

    def _check_batched(self) -> None:
        """Refuse mode=batched for a model that vmap cannot run, or runs differently: its
        outputs under two masks must equal the masked path's."""
        # the dense network and half of every group's units (blocks kept: one network)
        half = self.space.mask_from_ratios(
            [1.0 if group.kind == "block" else 0.5 for group in self.space.groups])
        masks = [self.space.full_mask(), half]
        x = self.val.inputs(4)
        reason = None
        try:
            batched = self.population.outputs(masks, x)
        except Exception as error:  # vmap has no batching rule for some operators
            reason = f"torch.func.vmap cannot run it ({type(error).__name__}: " \
                     f"{str(error).splitlines()[0]})"
        else:
            with torch.inference_mode():
                one_by_one = torch.stack([
                    functional_call(self.model, {**self.masker(mask), **self.buffers}, (x,))
                    for mask in masks])
            # loose enough for a GPU's TF32 convolutions, far tighter than a wrong network
            scale = float(one_by_one.abs().max().clamp(min=1.0))
            if float((batched - one_by_one).abs().max()) > 1e-2 * scale:
                reason = "its vmapped outputs differ from one mask at a time"
        if reason is not None:
            raise ValueError(f"mode=batched: {type(self.model).__name__} cannot score masks "
                             f"in batches: {reason}; use mode=auto or masked")

    def close(self) -> None:
        """Stop the scoring threads (they are started again when needed)."""
        pool, self._pool, self._workers = self._pool, None, 0
        if pool is not None:
            pool.shutdown()

    def _replica(self) -> tuple[nn.Module, list[nn.Module]]:
        """This thread's module to call and its BatchNorm layers (the model itself in the
        thread that built the scorer; elsewhere a copy without tensors of its own)."""
        replica = getattr(self._local, "replica", None)
        if replica is None:
            if threading.get_ident() == self._owner:
                replica = (self.model, self.bn_modules)
            else:
                with self._template_lock:
                    if self._template is None:  # one full copy, once; then meta copies of it
                        self._template = copy.deepcopy(self.model).to("meta")
                model = copy.deepcopy(self._template)
                replica = (model, batchnorm_layers(model))
            self._local.replica = replica
        return replica

    @torch.inference_mode()
    def accuracy(self, mask: np.ndarray) -> float:
        if self.slicer is not None:
            params, buffers = self.slicer(mask)
        else:
            params, buffers = self.masker(mask), self.buffers
        model, bn_modules = self._replica()
        removed = self.space.removed_blocks(mask)
        params, buffers = outside(params, removed), outside(buffers, removed)
        with blocks_removed(model, removed):  # this thread's replica: no other caller sees it
            if self.calibration_batches:
                buffers = self._recalibrated_buffers(model, bn_modules, params, buffers)
            state = {**params, **buffers}
            outputs, labels = [], []
            for x, y in self.val.batches(self.device, self.batch_size):
                outputs.append(functional_call(model, state, (x,)).float())
                labels.append(y)
        return self.task.score(torch.cat(outputs), torch.cat(labels))

    def _recalibrated_buffers(self, model: nn.Module, bn_modules: list[nn.Module],
                              params: dict[str, torch.Tensor],
                              buffers: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Fresh BatchNorm statistics of the pruned model: a cumulative average over the
        calibration batches, written into copies (the given buffers stay untouched)."""
        buffers = {name: value.clone() for name, value in buffers.items()}
        for name, value in buffers.items():
            if name.endswith(("running_mean", "num_batches_tracked")):
                value.zero_()
            elif name.endswith("running_var"):
                value.fill_(1.0)
        with cumulative_statistics(bn_modules):
            for x in self.calibration_batches:
                functional_call(model, {**params, **buffers}, (x,))
        return buffers


def check_mode_runs(model: nn.Module, space: PruningSpace, x: torch.Tensor, mode: str,
                    batch_candidates: int = 8) -> None:
    """Refuse ``mode`` (sliced, batched) for a model it cannot run: the checks a scorer makes
    when built, on a few inputs, so that they can run before the model is trained."""
    if mode in ("sliced", "batched"):
        MaskScorer(model, space, Split(x, torch.zeros(len(x), dtype=torch.long, device=x.device)),
                   mode=mode, batch_candidates=batch_candidates)
