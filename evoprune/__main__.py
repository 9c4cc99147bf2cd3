"""``python -m evoprune [overrides]``: the Hydra entry point."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evoprune.config.checks import ConfigError
from evoprune.run import run

# conf/ sits at the top of the repository (a checkout or an editable install reads it there); a
# built package carries a copy inside it (setup.py)
_PACKAGED, _REPOSITORY = (Path(__file__).resolve().parent / "conf",
                          Path(__file__).resolve().parent.parent / "conf")
CONFIG_DIR = str(_PACKAGED if _PACKAGED.is_dir() else _REPOSITORY)
USAGE_ERROR = 2  # the exit status of a refused config


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Run one experiment; returns the searched method's validation accuracy after fine-tuning
    (the value a sweeper maximises), or None when no search ran."""
    try:
        results = run(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)  # a user's mistake: one line, no traceback
        sys.exit(USAGE_ERROR)
    searched = results["searched"]
    return results["methods"][searched]["val_acc"] if searched else None


if __name__ == "__main__":
    main()
