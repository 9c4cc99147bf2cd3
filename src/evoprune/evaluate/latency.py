"""CPU latency of a model: median wall time of repeated forward passes."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from evoprune.infra.device import synchronize
from evoprune.infra.threads import torch_threads
from evoprune.infra.validators import check_int


@dataclass(frozen=True)
class LatencySettings:
    """How latency is measured (the ``latency`` config group): the median of ``repeats`` timed
    forward passes of ``batch_size`` samples, after ``warmup`` untimed ones, on ``threads``
    torch threads (None: the process's setting)."""

    batch_size: int = 64
    repeats: int = 30
    warmup: int = 5
    threads: int | None = 1

    def __post_init__(self) -> None:
        for name, low in (("batch_size", 1), ("repeats", 1), ("warmup", 0)):
            check_int(name, getattr(self, name), low)
        check_int("threads", self.threads, 1, optional=True)


@torch.inference_mode()
def measure_latency_ms(
    model: nn.Module, inputs: torch.Tensor, *, repeats: int = 30, warmup: int = 5,
    threads: int | None = None,
) -> float:
    """Median milliseconds of one forward pass of ``inputs`` (the median resists the outliers
    a shared machine produces; warm-up runs absorb allocator and dispatch first-call costs).

    ``threads`` sets torch's thread count while timing (restored afterwards). One thread is
    steadier on busy cores, where multi-threaded passes were seen to take many times longer.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"latency repeats must be >= 1 and warmup >= 0, got {repeats}, {warmup}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or null, got {threads}")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    inputs = inputs.to(device)
    with torch_threads(threads):
        model.eval()
        for _ in range(warmup):
            model(inputs)
        synchronize(device)
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(inputs)
            synchronize(device)  # a GPU returns before it has computed
            timings.append((time.perf_counter() - start) * 1e3)
    return statistics.median(timings)
