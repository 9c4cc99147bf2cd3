"""Crash-safe checkpoints of a run's search, and the check that a resumed run is the same run.

A run directory holds ``checkpoint/config.json`` (the resolved config, written when the run
starts) and ``checkpoint/search.pt`` (the searcher's state, rewritten atomically after every
generation or every few RL episodes). ``resume=true`` in the same directory continues from
``search.pt``: the search driver restores the strategy, every RNG and the evaluator's memo, so
the resumed run ends exactly where an uninterrupted run would.

Checkpoints hold only tensors and plain Python values and load with
``torch.load(weights_only=True)``: nothing a user points the tool at is ever unpickled.
"""

from __future__ import annotations

import json
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evoprune.infra.atomic import save_torch_atomic, write_atomic
from evoprune.infra.errors import UserError
from evoprune.infra.progress import console
from evoprune.infra.run_dir import clear_outputs
from evoprune.infra.validators import check_int

CHECKPOINT_DIR = "checkpoint"
CONFIG_FILE = "config.json"
SEARCH_FILE = "search.pt"
FORMAT = 2  # 2: the search driver's layout (strategy state beside history, best, RNGs)
# keys of the resolved config (and everything below them) that do not change what a run
# computes: where the dense cache lives, display and tracking, and where masks are scored
NOT_COMPARED = ("resume", "progress", "logger", "cache_dir", "evaluator.backend",
                "evaluator.workers", "evaluator.ray_address", "evaluator.worker_threads")


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, unreadable, or from a different run."""


class NonFiniteWeights(UserError, ValueError):
    """A model whose parameters or buffers hold NaN or infinite values."""


def check_finite(model: torch.nn.Module, source: str) -> None:
    """Refuse a model with a NaN or infinite value in any parameter or buffer, naming it: such
    a model scores every candidate at chance, so a search on it would be blind."""
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise NonFiniteWeights(f"{source}: {name} holds {bad} NaN/inf value(s) of "
                                   f"{tensor.numel()}; a pruning search needs finite weights")


class SearchCheckpoint:
    """Where a searcher saves its state, how often, and what it resumes from.

    Args:
        path: the state file (``<run dir>/checkpoint/search.pt``).
        every: generations (GA, NSGA-II) between saves; 0 saves nothing.
        every_episodes: RL episodes between saves; 0 saves nothing.
        resume: ``load`` returns the saved state (None until one exists); otherwise always None.
    """

    def __init__(self, path: str | Path, *, every: int = 1, every_episodes: int = 25,
                 resume: bool = False) -> None:
        for name, value in (("every", every), ("every_episodes", every_episodes)):
            check_int(name, value, 0)
        self.path = Path(path)
        self.every, self.every_episodes, self.resume = every, every_episodes, resume

    def due(self, generation: int, *, last: bool = False) -> bool:
        """Whether to save after ``generation`` (always after the last one), by ``every``.
        (RL counts ``every_episodes`` itself: it can only save between rollouts.)"""
        return self.every > 0 and (last or (generation + 1) % self.every == 0)

    def save(self, searcher: str, state: dict[str, Any]) -> None:
        payload = {"format": FORMAT, "searcher": searcher, "state": state}
        save_torch_atomic(self.path, payload)

    def load(self, searcher: str) -> dict[str, Any] | None:
        """The state saved by ``searcher``, or None when not resuming or nothing is saved yet."""
        if not self.resume or not self.path.exists():
            return None
        payload = load_checkpoint(self.path)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CheckpointError(
                f"{self.path} is not an evoprune search checkpoint (format {FORMAT}); delete it "
                "or run without resume=true"
            )
        if payload.get("searcher") != searcher:
            raise CheckpointError(
                f"{self.path} holds a '{payload.get('searcher')}' search, not '{searcher}'"
            )
        return payload["state"]


def load_checkpoint(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)``, with one clear error for anything it refuses
    (truncated or corrupt files, and pickles of arbitrary objects, which are never executed)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's own advice (weights_only=False) is unsafe
        raise CheckpointError(
            f"cannot load checkpoint {path}: it is corrupt or holds more than tensors and plain "
            "values (a pickled object, such as a whole model), which evoprune refuses to unpickle"
        ) from err
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"cannot load checkpoint {path}: it is corrupt or holds more than tensors and plain "
            f"values, which evoprune refuses to unpickle ({type(err).__name__}: {reason})"
        ) from err


def existing_weights(path: str | Path) -> Path:
    """The user's weights file, or FileNotFoundError naming it and what it should hold."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights={path}: no such file (expected a state_dict saved "
                                "with torch.save(model.state_dict(), path))")
    return path


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load a user's trained weights (a ``state_dict`` file) into ``model``, refusing anything
    else: whole pickled models, corrupt files, and state dicts of another architecture. A state
    dict written by ``torch.nn.utils.prune`` (``<name>_orig`` and ``<name>_mask``) loads with
    its masks applied, as ``prune.remove`` would leave it."""
    path = existing_weights(path)
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"weights={path} is not a state_dict (a mapping of parameter names to tensors); "
            "save one with torch.save(model.state_dict(), path)"
        )
    try:
        model.load_state_dict(merged_state_dict(state))
    except RuntimeError as err:
        raise CheckpointError(
            f"weights={path} does not fit {type(model).__name__}: "
            + " ".join(str(err).split())[:400]
        ) from err
    check_finite(model, f"weights={path}")


def merged_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A plain state dict from one written by ``torch.nn.utils.prune``: each ``<name>_orig``
    times its ``<name>_mask`` becomes ``<name>`` (what ``prune.remove`` leaves); a state dict
    without such pairs comes back as it is."""
    merged = {}
    for key, value in state.items():
        if key.endswith("_mask") and f"{key[:-5]}_orig" in state:
            continue
        if key.endswith("_orig") and f"{key[:-5]}_mask" in state:
            merged[key[:-5]] = value * state[f"{key[:-5]}_mask"]
        else:
            merged[key] = value
    return merged


def start_run(run_dir: Path, config: dict, *, resume: bool) -> Path:
    """Record ``config`` for a new run, or check that a resumed run has the same config.

    Returns the search state file. Resuming needs ``config.json`` from the first attempt;
    a config that differs (outside ``NOT_COMPARED``) is refused with the differences listed.
    A fresh run first removes the outputs an earlier run left in ``run_dir``.
    """
    folder = Path(run_dir) / CHECKPOINT_DIR
    snapshot = folder / CONFIG_FILE
    if resume:
        if not snapshot.exists():
            raise CheckpointError(
                f"resume=true but {folder} holds no checkpoint: resume a run in the directory it "
                "ran in (hydra.run.dir=<that dir>), or drop resume=true to start afresh"
            )
        try:
            saved = json.loads(snapshot.read_text())
        except (OSError, ValueError) as err:
            raise CheckpointError(f"cannot read {snapshot}: {err}") from err
        differences = config_differences(saved, config)
        if differences:
            raise CheckpointError(
                "resume=true refused: the config differs from the run being resumed "
                f"({snapshot}):\n" + "\n".join(differences)
                + "\nresume with the first attempt's values, or start a new run without "
                "resume=true"
            )
    else:
        # a new run in a used directory: the earlier run's results must not stand beside the
        # new config, nor its search state be resumed with it
        removed = clear_outputs(run_dir)
        if removed:
            console.print(f"fresh run in {run_dir}: removed {len(removed)} output(s) of the "
                          "run that was there before", highlight=False)
        write_atomic(snapshot, lambda tmp: tmp.write_text(json.dumps(config, indent=1)))
    return folder / SEARCH_FILE


def config_differences(saved: dict, current: dict) -> list[str]:
    """``key: saved -> current`` for every dotted key whose value differs."""
    before, after = _flatten(saved), _flatten(current)
    lines = []
    for key in sorted(set(before) | set(after)):
        if any(key == skip or key.startswith(skip + ".") for skip in NOT_COMPARED):
            continue
        old, new = before.get(key, "<absent>"), after.get(key, "<absent>")
        if old != new:
            lines.append(f"  {key}: {old!r} -> {new!r}")
    return lines


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        items: dict[str, Any] = {}
        for key, value in tree.items():
            items.update(_flatten(value, f"{prefix}{key}."))
        return items if items else {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): tree}


def rng_state() -> dict[str, Any]:
    """Python's, NumPy's and torch's global RNG states, in checkpointable form."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
