"""MNIST-1D, generated procedurally in memory (no download, nothing written to disk)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from evoprune.data.splits import (
    DataSplits,
    check_fixed_shape,
    check_fraction,
    checked_by,
    make_splits,
)

_MNIST1D_CLASSES = 10
_MNIST1D_LENGTH = 40


def _generate(num_samples: int, test_fraction: float, seed: int) -> dict:
    """Run mnist1d's generator without leaking its global-RNG seeding into the caller."""
    # Imported lazily: mnist1d pulls in matplotlib, which is slow to import and not needed
    # by anything else in evoprune.data.
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = num_samples
    args.train_split = 1.0 - test_fraction
    args.seed = seed
    # make_dataset calls random.seed / np.random.seed; restore the global state afterwards so
    # loading data doesn't silently change randomness elsewhere in the program.
    py_state = random.getstate()
    np_state = np.random.get_state()
    try:
        # Never get_dataset(): it downloads a pickle and writes it into the cwd.
        return make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def _check(*, num_samples, test_fraction, val_fraction, seed, num_classes, input_shape) -> None:
    check_fixed_shape("MNIST-1D", num_classes=num_classes, input_shape=input_shape,
                      classes=_MNIST1D_CLASSES, values=_MNIST1D_LENGTH, example=(1, 40))
    if int(num_samples) < 10 * _MNIST1D_CLASSES:
        raise ValueError(
            f"num_samples must be >= {10 * _MNIST1D_CLASSES} so every class has "
            f"train, val and test examples, got {num_samples}"
        )
    check_fraction("test_fraction", test_fraction)
    check_fraction("val_fraction", val_fraction)


@checked_by(_check)
def load_mnist1d(*, num_samples: int = 8000, test_fraction: float = 0.5,
                 val_fraction: float = 0.2, seed: int = 0, num_classes: int = 10,
                 input_shape: Sequence[int] = (1, 40)) -> DataSplits:
    """Generate MNIST-1D and split it into train/val/test.

    The last ``test_fraction`` of the generated (shuffled) samples is the test split, as in
    MNIST-1D's own split (which holds out 20 %); the validation split is carved from the rest.
    With the defaults: 3200 train, 800 val and 4000 test samples of shape (1, 40). The test
    split is large on purpose: the standard error of a test accuracy p is sqrt(p (1 - p) / n),
    0.34 points at p = 0.95 with 4000 samples (0.69 with MNIST-1D's 1000), small enough to
    tell pruning methods apart.

    Args:
        num_samples: total samples generated (rounded down to a multiple of 10 by mnist1d).
        test_fraction: fraction of them held out for the test split, in (0, 1).
        val_fraction: fraction of the training part held out for validation, in (0, 1).
        seed: seeds both generation and the validation split; same seed -> same data.
        num_classes: must be 10 (MNIST-1D has exactly 10 digit templates).
        input_shape: per-sample shape; any shape with 40 elements, e.g. (1, 40) or (40,).
    """
    shape = tuple(int(d) for d in input_shape)
    data = _generate(int(num_samples), float(test_fraction), int(seed))
    x = np.asarray(data["x"]).reshape(-1, *shape)
    x_test = np.asarray(data["x_test"]).reshape(-1, *shape)
    return make_splits(
        x,
        np.asarray(data["y"]),
        x_test,
        np.asarray(data["y_test"]),
        val_fraction=val_fraction,
        seed=seed,
        num_classes=num_classes,
        input_shape=shape,
        name="mnist1d",
    )
