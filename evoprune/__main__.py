"""``python -m evoprune [overrides]``: the Hydra entry point."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from evoprune.run import run

# conf/ sits at the top of the repository (an editable install keeps it beside the package)
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    """Run one experiment; returns the searched model's validation accuracy (for sweepers)."""
    results = run(cfg, Path(HydraConfig.get().runtime.output_dir))
    return results["methods"][results["searched"]]["val_acc"]


if __name__ == "__main__":
    main()
