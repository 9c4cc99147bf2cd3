"""scikit-learn's bundled 8x8 handwritten digits (1797 samples, no download)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sklearn.datasets import load_digits as _sklearn_load_digits

from evoprune.data.splits import DataSplits, make_splits_with_test

_DIGITS_CLASSES = 10
_DIGITS_PIXELS = 64


def load_digits(
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    num_classes: int = 10,
    input_shape: Sequence[int] = (1, 8, 8),
) -> DataSplits:
    """Load the sklearn digits dataset as train/val/test splits.

    A stratified test split (``test_fraction`` of all samples) is held out first; the
    validation split (``val_fraction`` of the remainder) is then carved from what is left, so
    the test rows never appear in train or val.

    Args:
        val_fraction: fraction of the non-test samples used for validation, in (0, 1).
        test_fraction: fraction of all samples used for testing, in (0, 1).
        seed: seeds both splits; same seed -> same splits.
        num_classes: must be 10.
        input_shape: per-sample shape with 64 elements, e.g. (1, 8, 8) or (64,).
    """
    if num_classes != _DIGITS_CLASSES:
        raise ValueError(
            f"digits has exactly {_DIGITS_CLASSES} classes, got num_classes={num_classes}"
        )
    shape = tuple(int(d) for d in input_shape)
    if math.prod(shape) != _DIGITS_PIXELS:
        raise ValueError(
            f"digits samples have {_DIGITS_PIXELS} pixels, so input_shape must have "
            f"{_DIGITS_PIXELS} elements, e.g. (1, 8, 8); got {shape}"
        )

    bunch = _sklearn_load_digits()
    x = np.asarray(bunch.data, dtype=np.float64).reshape(-1, *shape)
    y = np.asarray(bunch.target, dtype=np.int64)
    return make_splits_with_test(
        x, y, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed,
        num_classes=num_classes, input_shape=shape, name="digits",
    )
