"""Hydra callbacks: aggregate a multirun's results when it ends.

Registered by ``conf/experiment/compare.yaml``; add it to any sweep with::

    hydra:
      callbacks:
        aggregate:
          _target_: evoprune.config.callbacks.AggregateOnMultirunEnd
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
    """Write ``compare.csv``, ``compare.md`` and ``compare.png`` into the sweep dir: after every
    job (so the comparison is current while a long sweep runs, and a crashed job cannot stop
    the others from being aggregated) and once more, with the table, when the sweep ends."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        from evoprune.report.aggregate import aggregate

        num, sweep_dir = (OmegaConf.select(config, f"hydra.{key}")
                          for key in ("job.num", "sweep.dir"))
        if job_return.status == JobStatus.FAILED:
            # Hydra raises the first failure's error once the batch ends and then never calls
            # on_multirun_end: the files written after each job are the comparison
            log.warning(f"job {num} failed; it is listed under 'Missing runs' in "
                        f"{sweep_dir}/compare.md, and the other jobs are aggregated there")
        try:
            aggregate(Path(sweep_dir))
        except ValueError as err:  # no job has written results yet
            log.info(f"nothing to aggregate yet: {err}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        # imported here so that composing a config never pulls in matplotlib
        from evoprune.report.aggregate import aggregate
        from evoprune.report.aggregate.__main__ import report

        report(aggregate(Path(config.hydra.sweep.dir)))
