"""Hydra callbacks: aggregate a multirun's results when it ends.

Registered by ``conf/experiment/compare.yaml``; add it to any sweep with::

    hydra:
      callbacks:
        aggregate:
          _target_: evoprune.hydra_callbacks.AggregateOnMultirunEnd
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class AggregateOnMultirunEnd(Callback):
    """Write ``compare.csv``, ``compare.md`` and ``compare.png`` into the sweep dir."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        # Hydra's sweepers stop with the first failed job's error once its batch ends, and then
        # never call on_multirun_end: say how to aggregate what did finish.
        if job_return.status == JobStatus.FAILED:
            num, sweep_dir = (OmegaConf.select(config, f"hydra.{key}")
                              for key in ("job.num", "sweep.dir"))
            log.warning(f"job {num} failed (Hydra raises its error when the sweep ends); "
                        f"aggregate the jobs that finished with: "
                        f"python -m evoprune.aggregate {sweep_dir}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        # imported here so that composing a config never pulls in matplotlib
        from evoprune.aggregate import aggregate
        from evoprune.aggregate.__main__ import report

        report(aggregate(Path(config.hydra.sweep.dir)))
