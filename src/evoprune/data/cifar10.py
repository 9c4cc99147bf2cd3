"""CIFAR-10 from its standard python batches, read from disk; downloaded only when asked.

The files are the "CIFAR-10 python version" (``cifar-10-python.tar.gz``, extracted):
``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta`` in
``cifar-10-batches-py/`` under ``root`` (or in ``root`` itself). Each batch is a pickled dict
with ``b"data"`` (uint8, 10,000 × 3,072: the red, green and blue planes of a 32 × 32 image)
and ``b"labels"``. Like torchvision, this unpickles them: read only files you trust.

Validation is carved (stratified) from the 50,000 training images, all splits are standardised
per channel with the training part's statistics, and training batches are augmented with the
usual random crop (4 pixels of padding) and horizontal flip, as tensor ops on the batch's
device (:func:`crop_and_flip`).
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from evoprune.data.splits import (
    DataSplits,
    check_fixed_shape,
    check_fraction,
    checked_by,
    make_splits,
    stratified_holdout,
)
from evoprune.infra.validators import check_bool

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
FILES = (*TRAIN_FILES, "test_batch", "batches.meta")
SOURCE = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CLASSES = 10
_VALUES = 3 * 32 * 32


def batches_dir(root: str | Path) -> Path:
    """Where the batch files are: ``root/cifar-10-batches-py`` if it exists, else ``root``."""
    root = Path(root).expanduser()
    return root / FOLDER if (root / FOLDER).is_dir() else root


def missing_files(root: str | Path) -> list[str]:
    """The batch files not found under ``root``."""
    folder = batches_dir(root)
    return [name for name in FILES if not (folder / name).is_file()]


def _check(*, root, val_fraction, seed, num_classes, input_shape, train_samples, test_samples,
           augment, download) -> None:
    check_fixed_shape("cifar10", num_classes=num_classes, input_shape=input_shape,
                      classes=_CLASSES, values=_VALUES, example=(3, 32, 32))
    check_fraction("val_fraction", val_fraction)
    for name, value, most in (("train_samples", train_samples, 50_000),
                              ("test_samples", test_samples, 10_000)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 2 * _CLASSES <= value <= most):
            raise ValueError(f"{name} must be null (all) or an integer from {2 * _CLASSES} "
                             f"to {most}, got {value!r}")
    for name, value in (("augment", augment), ("download", download)):
        check_bool(name, value)
    missing = missing_files(root)
    if not missing:
        return
    if download:
        try:
            import torchvision  # noqa: F401
        except ImportError:
            raise ValueError("download=true fetches CIFAR-10 through torchvision, which is not "
                             f"installed; install it, or download {SOURCE} yourself and "
                             f"extract it under data.root={root}") from None
        return
    raise ValueError(
        f"root={root} holds no CIFAR-10 python batches (missing {', '.join(missing)}): download "
        f"{SOURCE} and extract it there (root/{FOLDER}/data_batch_1 ...), point data.root at "
        "the folder that holds them, or set data.download=true (needs torchvision)")


@checked_by(_check)
def load_cifar10(*, root: str = "~/.cache/evoprune/cifar10", val_fraction: float = 0.1,
                 seed: int = 0, num_classes: int = 10,
                 input_shape: Sequence[int] = (3, 32, 32), train_samples: int | None = None,
                 test_samples: int | None = None, augment: bool = True,
                 download: bool = False) -> DataSplits:
    """CIFAR-10 as standardised train/val/test splits.

    Args:
        root: the folder holding ``cifar-10-batches-py/`` (or the batch files themselves).
        val_fraction: share of the (used) training images carved out for validation.
        seed: seeds the validation split and the subsets; same seed, same splits.
        num_classes, input_shape: must be 10 and (3, 32, 32).
        train_samples, test_samples: a stratified subset of that many training / test images
            (null: all 50,000 / 10,000), for quick runs that say so.
        augment: random crops and horizontal flips on every training batch.
        download: fetch the batches through torchvision into ``root`` when they are missing.
    """
    if download and missing_files(root):
        import torchvision

        torchvision.datasets.CIFAR10(str(Path(root).expanduser()), train=True, download=True)
    folder = batches_dir(root)
    x, y = _read([folder / name for name in TRAIN_FILES])
    x_test, y_test = _read([folder / "test_batch"])
    if train_samples is not None and train_samples < len(y):
        _, x, _, y = stratified_holdout(x, y, fraction=train_samples / len(y), seed=seed,
                                        what="train_samples")
    if test_samples is not None and test_samples < len(y_test):
        _, x_test, _, y_test = stratified_holdout(x_test, y_test, fraction=test_samples
                                                  / len(y_test), seed=seed, what="test_samples")
    splits = make_splits(x, y, x_test, y_test, val_fraction=val_fraction, seed=seed,
                         num_classes=num_classes, input_shape=tuple(input_shape), name="cifar10")
    if not augment:
        return splits
    return dataclasses.replace(splits, train=dataclasses.replace(splits.train,
                                                                 augment=crop_and_flip))


def _read(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) in [0, 1] and labels of the batch files at ``paths``."""
    images, labels = [], []
    for path in paths:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images).astype(np.float32) / 255.0, np.concatenate(labels)


def crop_and_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Each image of a batch ``(N, C, H, W)`` cropped back to its size at a random offset
    from its zero-padded self (``padding`` pixels a side: zero is the channel mean after
    standardisation), and mirrored left-right with probability 1/2. The offsets are drawn
    from ``generator`` (on the CPU), the indexing runs on ``x``'s device."""
    n, channels, height, width = x.shape
    padded = F.pad(x, (padding,) * 4)
    shift = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = shift[0][:, None] + torch.arange(height, device=x.device)
    cols = shift[1][:, None] + torch.arange(width, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(channels, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
