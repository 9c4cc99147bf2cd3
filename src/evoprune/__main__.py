"""``python -m evoprune [overrides]``: the Hydra entry point.

A mistake a user can make (a config value, their model, their files, a budget the model cannot
meet, a run dir or disk they cannot write to) ends the run with one line on stderr and exit
status 2; Ctrl-C or SIGTERM ends it with one line saying how to continue it (exit status 130).
``HYDRA_FULL_ERROR=1`` shows the traceback. ``python -m evoprune inspect <overrides>`` prints
the run's prunable groups instead of running it. Programming errors keep theirs. What the console
shows (progress bars aside), warnings and that last line included, is also in the run's log
(``<run dir>/__main__.log``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import sys
import warnings
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from evoprune.config.errors import ConfigError
from evoprune.config.keys import CONFIG_DIR, check_renamed
from evoprune.infra import progress  # the module, not its console: submitit pickles main
from evoprune.infra.errors import UserError
from evoprune.infra.run_dir import discard_if_unused
from evoprune.run import run

USAGE_ERROR = 2  # the exit status of a refused config, model, file or budget
INTERRUPTED = 130  # as a shell reports a Ctrl-C


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the run like Ctrl-C: clean up, say how to go on


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one experiment; returns the searched method's validation accuracy after fine-tuning
    (the value a sweeper maximises), or None when no search ran."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    signal.signal(signal.SIGTERM, _interrupt)
    log = _log_file()
    logged = progress.console.copied_to(log) if log else contextlib.nullcontext()
    with logged, _warnings_to_console():
        try:
            results = run(cfg, run_dir)
        except UserError as err:
            # in a sweep the job fails and the others still run (Hydra reports it at the end)
            if (os.environ.get("HYDRA_FULL_ERROR") == "1"
                    or HydraConfig.get().mode == RunMode.MULTIRUN):
                raise
            _last_line(f"error: {err}", log)  # a user's mistake: no traceback
            discard_if_unused(run_dir)  # refused before it wrote anything: leave no empty dir
            sys.exit(USAGE_ERROR)
        except KeyboardInterrupt:
            if HydraConfig.get().mode == RunMode.MULTIRUN:
                raise
            overrides = [o for o in HydraConfig.get().overrides.task
                         if not o.startswith(("resume=", "hydra.run.dir="))]
            command = shlex.join(["python", "-m", "evoprune", *overrides, "resume=true",
                                  f"hydra.run.dir={run_dir}"])
            _last_line(f"\nstopped; the search resumes from its last checkpoint with: {command}",
                       log)
            sys.exit(INTERRUPTED)
    searched = results["searched"]
    return results["methods"][searched]["val_acc"] if searched else None


def _log_file() -> Path | None:
    """The log Hydra keeps for this job (None when its job logging is off)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None


def _last_line(text: str, log: Path | None) -> None:
    """The run's last words: on stderr, and in the log."""
    print(text, file=sys.stderr)
    if log is not None:
        with contextlib.suppress(OSError):  # the failure may be the disk itself
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(text.lstrip("\n") + "\n")


@contextlib.contextmanager
def _warnings_to_console():
    """Warnings as one console line each (so also in the log), not Python's two-line form."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        progress.console.print(f"[yellow]warning ({category.__name__}): {message}[/yellow]",
                               highlight=False)

    previous, warnings.showwarning = warnings.showwarning, show
    try:
        yield
    finally:
        warnings.showwarning = previous


def inspect_command(overrides: list[str]) -> None:
    """``python -m evoprune inspect <overrides>``: the run's pruning space, before training."""
    from evoprune.api import inspect_run

    try:
        inspection = inspect_run(overrides)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    for table in inspection.tables():
        progress.console.print(table, highlight=False)


if __name__ == "__main__":
    if sys.argv[1:2] == ["inspect"]:
        inspect_command(sys.argv[2:])
        sys.exit(0)
    try:  # before Hydra, which would call a moved key unknown
        check_renamed(sys.argv[1:])
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    main()
