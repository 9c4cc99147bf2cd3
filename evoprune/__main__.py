"""``python -m evoprune [overrides]``: the Hydra entry point.

A mistake a user can make (a config value, their model, their files, a budget the model cannot
meet) ends the run with one line on stderr and exit status 2; Ctrl-C or SIGTERM ends it with one
line saying how to continue it (exit status 130). ``HYDRA_FULL_ERROR=1`` shows the traceback.
Programming errors keep theirs.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from evoprune.config.checks import ConfigError
from evoprune.finish.train import TrainingDiverged
from evoprune.infra.checkpoint import CheckpointError, NonFiniteWeights
from evoprune.pruning.budget import InfeasibleBudgetError
from evoprune.pruning.layers import UnsupportedLayerError
from evoprune.pruning.space import NoPrunableLayerError
from evoprune.run import ModelDoesNotFitData, run

# conf/ sits at the top of the repository (a checkout or an editable install reads it there); a
# built package carries a copy inside it (setup.py)
_PACKAGED, _REPOSITORY = (Path(__file__).resolve().parent / "conf",
                          Path(__file__).resolve().parent.parent / "conf")
CONFIG_DIR = str(_PACKAGED if _PACKAGED.is_dir() else _REPOSITORY)
USAGE_ERROR = 2  # the exit status of a refused config, model, file or budget
INTERRUPTED = 130  # as a shell reports a Ctrl-C
USER_ERRORS = (ConfigError, CheckpointError, InfeasibleBudgetError, NoPrunableLayerError,
               UnsupportedLayerError, ModelDoesNotFitData, TrainingDiverged, NonFiniteWeights)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the run like Ctrl-C: clean up, say how to go on


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one experiment; returns the searched method's validation accuracy after fine-tuning
    (the value a sweeper maximises), or None when no search ran."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = run(cfg, run_dir)
    except USER_ERRORS as err:
        # in a sweep the job fails and the others still run (Hydra reports it at the end)
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        print(f"error: {err}", file=sys.stderr)  # a user's mistake: no traceback
        sys.exit(USAGE_ERROR)
    except KeyboardInterrupt:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        overrides = [o for o in HydraConfig.get().overrides.task
                     if not o.startswith(("resume=", "hydra.run.dir="))]
        command = shlex.join(["python", "-m", "evoprune", *overrides, "resume=true",
                              f"hydra.run.dir={run_dir}"])
        print(f"\nstopped; the search resumes from its last checkpoint with: {command}",
              file=sys.stderr)
        sys.exit(INTERRUPTED)
    searched = results["searched"]
    return results["methods"][searched]["val_acc"] if searched else None


if __name__ == "__main__":
    main()
