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
def main(cfg: DictConfig) -> float | None:
    """Run one experiment; returns the searched method's validation accuracy after fine-tuning
    (the value a sweeper maximises), or None when no search ran."""
    results = run(cfg, Path(HydraConfig.get().runtime.output_dir))
    searched = results["searched"]
    return results["methods"][searched]["val_acc"] if searched else None


if __name__ == "__main__":
    main()
