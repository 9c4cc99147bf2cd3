"""scikit-learn's bundled 8x8 handwritten digits (1797 samples, no download)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evoprune.data.splits import (
    DataSplits,
    check_fixed_shape,
    check_fraction,
    checked_by,
    make_splits_with_test,
)

_DIGITS_CLASSES = 10
_DIGITS_PIXELS = 64


def _check(*, val_fraction, test_fraction, seed, num_classes, input_shape) -> None:
    check_fixed_shape("digits", num_classes=num_classes, input_shape=input_shape,
                      classes=_DIGITS_CLASSES, values=_DIGITS_PIXELS, example=(1, 8, 8))
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)


@checked_by(_check)
def load_digits(*, val_fraction: float = 0.2, test_fraction: float = 0.2, seed: int = 0,
                num_classes: int = 10, input_shape: Sequence[int] = (1, 8, 8)) -> DataSplits:
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
    shape = tuple(int(d) for d in input_shape)
    from sklearn.datasets import load_digits as sklearn_digits  # slow to import: only here

    bunch = sklearn_digits()
    x = np.asarray(bunch.data, dtype=np.float64).reshape(-1, *shape)
    y = np.asarray(bunch.target, dtype=np.int64)
    return make_splits_with_test(
        x, y, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed,
        num_classes=num_classes, input_shape=shape, name="digits",
    )
