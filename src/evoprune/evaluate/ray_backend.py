"""The ``ray`` evaluator backend: masks scored by Ray workers (actors).

Each worker receives the :class:`~evoprune.evaluate.scorer.MaskScorer` (the model, the
validation data and the BatchNorm calibration inputs) once, at construction, from one copy put
in Ray's object store, and then only ever receives masks. The evaluator keeps the memo cache and
counters and sends the masks it has not scored; they are split into contiguous chunks, one per
worker, and the accuracies come back in order.

Ray is imported here only, and only when the backend is used: ``import evoprune`` never needs it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from evoprune.infra.progress import console

INSTALL_HINT = 'pip install -e ".[ray]" (or pip install "ray>=2.9")'


def import_ray():
    """The ``ray`` module, or an error that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            f"backend=ray needs Ray, which is not installed; install it with "
            f"{INSTALL_HINT}, or use backend=serial"
        ) from err
    return ray


class ScorerWorker:
    """What each Ray actor runs: one scorer, limited to ``threads`` torch threads."""

    def __init__(self, scorer, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.scorer = scorer

    def ready(self) -> bool:
        return True

    def accuracies(self, masks: np.ndarray) -> list[float]:
        # a writable copy: Ray hands out read-only arrays
        return self.scorer.accuracies(list(np.array(masks)))


def split_contiguous(items: Sequence, parts: int) -> list[Sequence]:
    """``items`` in at most ``parts`` contiguous, non-empty chunks whose sizes differ by at
    most one (larger first)."""
    parts = min(parts, len(items))
    size, extra = divmod(len(items), parts) if parts else (0, 0)
    chunks, start = [], 0
    for part in range(parts):
        stop = start + size + (part < extra)
        chunks.append(items[start:stop])
        start = stop
    return chunks


def _cluster_address(ray, address: str | None) -> str:
    try:
        return ray.get_runtime_context().gcs_address
    except Exception:  # a Ray Client (ray://) session does not expose it
        return address or "unknown address"


class RayPool:
    """``workers`` Ray actors that each hold ``scorer``; joins or starts Ray as needed.

    Args:
        scorer: the mask scorer every worker gets a copy of.
        workers: number of actors.
        address: passed to ``ray.init``: null starts a local Ray (or joins the cluster that
            ``RAY_ADDRESS`` names, or one started with ``ray start`` on this machine, as
            ``ray.init()`` does); ``auto`` or an address joins that cluster. A Ray session
            already initialised in this process is used as is (and left running).
        threads: torch threads per actor; each actor reserves as many Ray CPUs.
    """

    def __init__(self, scorer, *, workers: int, address: str | None, threads: int) -> None:
        ray = import_ray()
        self._ray = ray
        self.started = False  # whether this pool called ray.init (and so shuts Ray down)
        self.actors: list = []
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
            self.started = True
        try:
            self.address = _cluster_address(ray, address)
            cpus = ray.cluster_resources().get("CPU", 0)
            if workers * threads > cpus:
                raise ValueError(
                    f"workers={workers} x worker_threads={threads} needs "
                    f"{workers * threads} CPUs, but the Ray cluster at {self.address} has "
                    f"{cpus:g}; lower workers or worker_threads"
                )
            shared = ray.put(scorer)  # one copy in the object store, read by every worker
            actor = ray.remote(num_cpus=threads)(ScorerWorker)
            self.actors = [actor.remote(shared, threads) for _ in range(workers)]
            ray.get([worker.ready.remote() for worker in self.actors])  # loaded, or fail here
        except BaseException:
            self.close()
            raise
        where = "Ray" if self.started else "the running Ray session"
        console.print(f"ray: {workers} evaluation workers ({threads} torch thread"
                      f"{'s' if threads > 1 else ''} each) on {where} at {self.address}")

    def accuracies(self, masks: Sequence[np.ndarray]) -> list[float]:
        """Accuracy of each mask, in order: contiguous chunks, one per worker."""
        if not masks:
            return []
        chunks = split_contiguous(np.stack(masks), len(self.actors))
        futures = [worker.accuracies.remote(chunk) for worker, chunk in zip(self.actors, chunks)]
        return [accuracy for part in self._ray.get(futures) for accuracy in part]

    def close(self) -> None:
        """Stop the actors, and Ray itself if this pool started it."""
        actors, self.actors = self.actors, []
        if not self._ray.is_initialized():
            return
        for worker in actors:
            self._ray.kill(worker)
        if self.started:
            self._ray.shutdown()
