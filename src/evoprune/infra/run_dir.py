"""A run directory's life: cleared of an earlier run's outputs when a fresh run starts in it,
and removed again when the run is refused before it wrote anything (so no empty run dir is left
to look like a missing run). Whether it can be written at all is checked before Hydra creates
it (``config.callbacks.CheckOutputDir``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from evoprune.infra.atomic import write_failed

# what a run writes into its dir (report, search, sensitivity): a fresh run in a used dir
# removes these first, so an interrupted run never leaves the previous run's results beside
# its own config. Hydra's records (.hydra/, <job>.log) and tracker folders (wandb/) stay.
OUTPUTS = ("results.json", "mask_*.json", "model_*.pt2", "model_*.onnx", "weights_*.pt",
           "prune_*.pt",
           "pareto.json", "pareto.png", "sensitivity.json", "sensitivity.png", "search_history.csv",
           "convergence.png", "checkpoint/search.pt", "checkpoint/finetune-*.pt")
# what Hydra writes before the run starts: a dir holding nothing else was never used
HYDRA_RECORDS = (".hydra", "__main__.log")


def clear_outputs(run_dir: str | Path) -> list[Path]:
    """Remove an earlier run's outputs from ``run_dir``; returns what was removed."""
    run_dir = Path(run_dir)
    removed = sorted(path for pattern in OUTPUTS for path in run_dir.glob(pattern)
                     if path.is_file())
    for path in removed:
        try:
            path.unlink()
        except OSError as err:
            raise write_failed(path, err, f"cannot remove {path}, an earlier run's output") \
                from err
    return removed


def discard_if_unused(run_dir: str | Path) -> bool:
    """Remove ``run_dir`` if it holds only Hydra's records; True if it was removed."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or any(p.name not in HYDRA_RECORDS for p in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return not run_dir.exists()
