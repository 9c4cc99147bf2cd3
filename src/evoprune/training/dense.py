"""The dense (unpruned) model: trained once per config and seed, and cached by a key that covers
everything that determines its weights."""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from evoprune.data.splits import DataSplits
from evoprune.infra.atomic import check_writable
from evoprune.infra.cache import load_entry, save_entry
from evoprune.infra.checkpoint import check_finite
from evoprune.training.train import SPARSITY_KEYS, TrainConfig, train_classifier


def cache_key(*parts: object) -> str:
    """Short stable hash (16 hex chars of sha256) of ``parts``, for cache file names.

    Parts are dumped as canonical JSON (dict keys sorted, non-JSON values via ``str``), so
    equal configs give equal keys across runs; the order of ``parts`` matters.
    """
    blob = json.dumps(list(parts), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def dense_cache_key(data: dict, model: dict, train: dict, seed: int, *,
                    device: torch.device | str, threads: int, task: dict | None = None) -> str:
    """The dense model's cache key: its data, model and training settings, the seed, and where
    it trains: the device type and, on a CPU, torch's thread count (both change the order of
    floating-point sums, hence the weights: a run on one thread must not reuse weights trained
    on two). A sparsity penalty left at 0 stays out of it; so does the ``task`` when it is
    classification (the loss every key before tasks was trained with)."""
    train = {k: v for k, v in train.items() if k not in SPARSITY_KEYS or v}
    place = {"device": torch.device(device).type}
    if place["device"] == "cpu":
        place["threads"] = threads
    if task and task.get("_target_") != "evoprune.tasks.classification":
        place["task"] = task
    return cache_key(data, model, train, seed, place)


def load_or_train_dense(
    model: nn.Module,
    data: DataSplits,
    cfg: TrainConfig,
    *,
    seed: int,
    cache_dir: str | Path,
    cache_key: str,
    progress: bool = True,
    penalty: Callable[[nn.Module], torch.Tensor] | None = None,
) -> tuple[nn.Module, bool]:
    """Load the dense model's weights from ``<cache_dir>/dense-<cache_key>.pt`` or train them.

    Returns ``(model, loaded_from_cache)``; ``model`` is the same object, in eval mode. The
    caller must make ``cache_key`` cover everything that determines the weights (model and
    data config, ``cfg``, ``seed``), e.g. with :func:`cache_key`. Only ``model.state_dict()``
    is stored, with a checksum (:mod:`evoprune.infra.cache`). An unreadable, damaged or
    mismatching entry triggers a warning and retraining (from the model's initial weights),
    and is then overwritten. Before training, ``cache_dir`` must prove writable: a run never
    trains for minutes only to fail writing the result.
    """
    if not cache_key or "/" in cache_key or "\\" in cache_key or cache_key in (".", ".."):
        raise ValueError(
            f"cache_key must be a non-empty name without path separators, got {cache_key!r}"
        )
    path = Path(cache_dir) / f"dense-{cache_key}.pt"
    if path.exists():
        # load_state_dict may copy some tensors before failing on others; keep the initial
        # weights so retraining after a bad checkpoint starts exactly as a fresh run would.
        initial = copy.deepcopy(model.state_dict())
        try:
            model.load_state_dict(load_entry(path))
            check_finite(model, f"cached dense model {path}")
        except Exception as err:  # noqa: BLE001 - any load failure (corrupt, wrong keys) -> retrain
            # torch's unpickling errors span many lines; the first one says enough
            reason = (str(err).strip().splitlines() or [""])[0][:200]
            warnings.warn(
                f"dense checkpoint {path} could not be loaded, so the model will be retrained "
                f"and the file overwritten ({type(err).__name__}: {reason})",
                RuntimeWarning,
                stacklevel=2,
            )
            model.load_state_dict(initial)
        else:
            model.eval()
            return model, True

    check_writable(path.parent, "cache_dir")
    # an interrupted training continues from its last epoch (the key fixes everything else)
    partial = Path(cache_dir) / f"dense-{cache_key}.epoch.pt"
    if partial.exists():
        warnings.warn(f"dense training continues from its last epoch checkpoint {partial}",
                      RuntimeWarning, stacklevel=2)
    train_classifier(model, data.train, cfg, seed=seed, description="dense", progress=progress,
                     checkpoint=partial, penalty=penalty, task=data.task)
    check_finite(model, f"the dense model after training (lr={cfg.lr}: try a lower one)")
    save_entry(path, model.state_dict())
    return model, False
