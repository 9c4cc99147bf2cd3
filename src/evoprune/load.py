"""``evoprune.load_pruned``: a completed run's pruned, fine-tuned model as an ordinary
``nn.Module``, rebuilt from its run directory (the files :mod:`evoprune.report.pruned_model`
writes and the run's resolved config in ``results.json``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
from torch import nn

from evoprune.config.targets import make_model
from evoprune.infra.checkpoint import load_checkpoint
from evoprune.infra.errors import UserError
from evoprune.pruning import make_space
from evoprune.pruning.compact import compact
from evoprune.report.pruned_model import WEIGHTS_FILE
from evoprune.report.results import RESULTS_FILE


class PrunedModelNotFound(UserError, ValueError):
    """A run directory that holds no pruned model of the method asked for."""


def load_pruned(run_dir: str | Path, method: str, *, model: nn.Module | None = None
                ) -> nn.Module:
    """The pruned, fine-tuned model of ``method`` from a completed run, in eval mode.

    Example::

        model = evoprune.load_pruned("outputs/2025-01-01/12-00-00", "ga")
        logits = model(x)  # any batch size

    The dense architecture is rebuilt from the run's ``model`` config; a run on a model given
    as an object (:func:`evoprune.prune`) has none: pass a model of the same architecture as
    ``model`` (its weights are not used, nor is it changed).

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
    if model is not None:
        dense = copy.deepcopy(model).cpu()
    elif "_target_" not in config["model"]:
        raise PrunedModelNotFound(
            f"the run in {run_dir} pruned a model given as an object ({config['model']}), so "
            f"its config cannot rebuild it: pass one of the same architecture, "
            f"load_pruned(run_dir, {method!r}, model=...)")
    else:
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
