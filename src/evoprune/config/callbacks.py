"""Hydra callbacks: the output dir checked before Hydra writes into it, and a multirun's results
aggregated when it ends.

``CheckOutputDir`` is registered by ``conf/config.yaml``. ``AggregateOnMultirunEnd`` by
``conf/experiment/compare.yaml``; add it to any sweep with::

    hydra:
      callbacks:
        aggregate:
          _target_: evoprune.config.callbacks.AggregateOnMultirunEnd
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class CheckOutputDir(Callback):
    """Refuse an output dir that cannot be written (a file in its path, no permission, a
    read-only or full disk) in one line, exit status 2, before Hydra tries to create it:
    Hydra's own failure is a traceback."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _check_writable(config.hydra.sweep.dir, "hydra.sweep.dir")


def _check_writable(folder: str, key: str) -> None:
    from evoprune.infra.atomic import WriteFailed, check_writable

    try:
        check_writable(folder, key)
    except WriteFailed as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)  # evoprune.__main__.USAGE_ERROR


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
