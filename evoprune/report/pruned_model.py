"""A method's pruned model as an ordinary ``nn.Module``: saved when a run reports, rebuilt from
the run directory by :func:`load_pruned`.

``weights_<method>.pt`` holds only tensors and plain values (the fine-tuned state_dict, the mask,
the input shape and class count), so it loads with ``weights_only=True``. The architecture is
not pickled: it is rebuilt from the run's resolved config in ``results.json`` (the dense model,
its pruning space, and the mask removing the same units the run removed), so the module is the
same kind of module the run fine-tuned: ``.eval()``, ``.train()`` and any batch size work,
unlike the exported ``model_<method>.pt2`` program.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from evoprune.config.targets import make_model
from evoprune.infra.atomic import save_torch_atomic
from evoprune.infra.checkpoint import load_checkpoint
from evoprune.pruning import make_space
from evoprune.pruning.compact import compact
from evoprune.report.results import RESULTS_FILE

WEIGHTS_FILE = "weights_{method}.pt"
FORMAT = 1


class PrunedModelNotFound(ValueError):
    """A run directory that holds no pruned model of the method asked for."""


def save_pruned_weights(path: Path, model: nn.Module, mask: np.ndarray,
                        input_shape: Sequence[int], num_classes: int) -> None:
    """Write what :func:`load_pruned` needs beside the run's config: ``model``'s state_dict, the
    ``mask`` it was pruned with, and the data's sample shape and class count (to build and
    trace the dense model)."""
    save_torch_atomic(path, {"format": FORMAT, "state_dict": {
                          name: value.cpu() for name, value in model.state_dict().items()},
                             "mask": torch.as_tensor(np.asarray(mask)),
                             "input_shape": [int(d) for d in input_shape],
                             "num_classes": int(num_classes)})


def load_pruned(run_dir: str | Path, method: str) -> nn.Module:
    """The pruned, fine-tuned model of ``method`` from a completed run, in eval mode.

    Example::

        model = evoprune.load_pruned("outputs/2025-01-01/12-00-00", "ga")
        logits = model(x)  # any batch size

    Raises :class:`PrunedModelNotFound` (a ``ValueError``) when ``run_dir`` holds no completed
    run, or no model of ``method``.
    """
    run_dir = Path(run_dir)
    config = _run_config(run_dir, method)
    weights = run_dir / WEIGHTS_FILE.format(method=method)
    if not weights.is_file():
        raise PrunedModelNotFound(
            f"{run_dir} has no {weights.name}: the run was reported before pruned weights were "
            f"saved; its model_{method}.pt2 loads with torch.export.load(path).module()"
        )
    saved = load_checkpoint(weights)
    # the dense weights are replaced below: their random initialisation must not move the
    # caller's random streams
    with torch.random.fork_rng(devices=[]):
        dense = make_model(config["model"], saved["input_shape"], saved["num_classes"])
    sample = torch.zeros(2, *saved["input_shape"])
    space = make_space(dense, sample, **config["pruning"])
    mask = saved["mask"].numpy()
    # structured pruning removed the units; unstructured pruning keeps dense shapes (and zeros)
    model = compact(dense, space, mask) if space.kind == "structured" else dense
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def _run_config(run_dir: Path, method: str) -> dict:
    """The resolved config of the completed run in ``run_dir``, which reported ``method``."""
    results_file = run_dir / RESULTS_FILE
    if not results_file.is_file():
        saved = sorted(p.stem.removeprefix("weights_") for p in run_dir.glob("weights_*.pt"))
        raise PrunedModelNotFound(
            f"{run_dir} holds no {RESULTS_FILE}, so no completed run: cannot load method "
            f"'{method}' (methods with saved weights there: {saved or 'none'})"
        )
    results = json.loads(results_file.read_text())
    methods = sorted(results.get("methods", {}))
    if method not in methods:
        raise PrunedModelNotFound(
            f"the run in {run_dir} has no method '{method}'; its methods are {methods}"
        )
    return results["config"]
