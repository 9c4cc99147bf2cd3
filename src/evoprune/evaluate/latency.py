"""Latency of a model: median wall time of repeated forward passes, in torch or in ONNX
Runtime, on the CPU or a GPU."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from evoprune.evaluate.runtime import (
    OnnxSession,
    check_runtime,
    exported_program,
    onnx_bytes,
)
from evoprune.infra.device import DEVICES, synchronize
from evoprune.infra.threads import torch_threads
from evoprune.infra.validators import check_int

# how a latency cost reads each candidate: timed after compaction, or a per-layer table's sum
ESTIMATES = ("measured", "table")


@dataclass(frozen=True)
class LatencySettings:
    """How latency is measured (the ``latency`` config group): the median of ``repeats`` timed
    forward passes of ``batch_size`` samples, after ``warmup`` untimed ones, on ``threads``
    threads (None: the process's setting), in ``runtime`` (``torch`` or ``onnxruntime``: the
    model exported to ONNX, run by ONNX Runtime), on ``device`` (None: where the model is,
    the run's ``device``; ``cpu`` or ``cuda`` to time elsewhere)."""

    batch_size: int = 64
    repeats: int = 30
    warmup: int = 5
    threads: int | None = 1
    runtime: str = "torch"
    device: str | None = None
    estimate: str = "measured"  # a latency cost's candidates: measured | table (LatencyTable)
    grid: int = 8  # table: at most this many widths per layer dimension

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 1), ("repeats", 1), ("warmup", 0)):
            check_int(name, getattr(self, name), low)
        check_int("threads", self.threads, 1, optional=True)
        check_runtime(self.runtime)
        if self.estimate not in ESTIMATES:
            raise ValueError(f"estimate must be one of {list(ESTIMATES)}, got {self.estimate!r}")
        check_int("grid", self.grid, 2)
        if self.estimate == "table" and self.runtime != "torch":
            raise ValueError(f"estimate=table times each layer alone in torch: use runtime=torch "
                             f"with it, or estimate=measured with runtime={self.runtime}")
        if self.device is not None and self.device not in DEVICES[1:]:
            raise ValueError(f"device must be null (the run's device) or one of "
                             f"{list(DEVICES[1:])}, got {self.device!r}")


@torch.inference_mode()
def measure_latency_ms(
    model: nn.Module, inputs: torch.Tensor, *, repeats: int = 30, warmup: int = 5,
    threads: int | None = None, runtime: str = "torch", device: str | None = None,
) -> float:
    """Median milliseconds of one forward pass of ``inputs`` (the median resists the outliers
    a shared machine produces; warm-up runs absorb allocator and dispatch first-call costs).

    ``threads`` sets torch's thread count while timing (restored afterwards), or ONNX
    Runtime's intra-op threads. One thread is steadier on busy cores, where multi-threaded
    passes were seen to take many times longer. ``runtime="onnxruntime"`` exports the model
    to ONNX first (untimed). ``device`` (None: the model's) moves a copy of the model there;
    GPU timings wait for the device before each clock read.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"latency repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or null, got {threads}")
    check_runtime(runtime)
    at = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device is not None and torch.device(device) != at:
        at = torch.device(device)
        model = copy.deepcopy(model).to(at)
    model.eval()
    if runtime == "onnxruntime":
        example = inputs if len(inputs) >= 2 else inputs.expand(2, *inputs.shape[1:])
        session = OnnxSession(onnx_bytes(exported_program(model, example)), threads=threads,
                              device=at)
        return _median_ms(lambda: session(inputs), warmup, repeats, lambda: None)
    inputs = inputs.to(at)
    with torch_threads(threads):
        return _median_ms(lambda: model(inputs), warmup, repeats, lambda: synchronize(at))


def _median_ms(call: Callable[[], object], warmup: int, repeats: int,
               wait: Callable[[], None]) -> float:
    for _ in range(warmup):
        call()
    wait()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        wait()  # a GPU returns before it has computed
        timings.append((time.perf_counter() - start) * 1e3)
    return statistics.median(timings)
