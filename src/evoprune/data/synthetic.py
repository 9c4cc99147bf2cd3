"""Small, quickly learnable Gaussian-cluster data for tests and smoke runs."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evoprune.data.splits import DataSplits, check_fraction, checked_by, make_splits_with_test


def _check(*, num_samples, num_classes, input_shape, val_fraction, test_fraction, seed,
           noise) -> None:
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(f"input_shape must be non-empty with positive sizes, got {shape}")
    if not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise}")
    # Stratified test and val splits each need >= 2 samples per class; 5 per class leaves a
    # little room for small fractions.
    min_samples = 5 * int(num_classes)
    if int(num_samples) < min_samples:
        raise ValueError(
            f"num_samples must be >= {min_samples} (5 per class) for "
            f"num_classes={num_classes}, got {num_samples}"
        )
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)


@checked_by(_check)
def load_synthetic(*, num_samples: int = 600, num_classes: int = 4,
                   input_shape: Sequence[int] = (1, 32), val_fraction: float = 0.2,
                   test_fraction: float = 0.2, seed: int = 0, noise: float = 1.0) -> DataSplits:
    """Generate Gaussian class clusters and split them into train/val/test.

    Each class has a random mean (standard normal per input element, drawn from a
    ``numpy.random.Generator`` seeded with ``seed``); samples are that mean plus isotropic
    Gaussian noise of std ``noise``. With the defaults the classes are far apart relative to
    the noise, so a small net learns them to well above chance in a few epochs. Classes are
    balanced (sizes differ by at most one).

    Args:
        num_samples: total number of samples, split into test, val and train.
        num_classes: number of clusters/classes, >= 2.
        input_shape: per-sample shape, e.g. (1, 32) for CNN1d or (32,) for an MLP.
        val_fraction: fraction of the non-test samples used for validation, in (0, 1).
        test_fraction: fraction of all samples used for testing, in (0, 1).
        seed: seeds generation and both splits; same seed -> same data.
        noise: std of the per-element Gaussian noise, >= 0.
    """
    shape = tuple(int(d) for d in input_shape)
    rng = np.random.default_rng(seed)
    dim = math.prod(shape)
    means = rng.standard_normal((num_classes, dim))
    # Balanced labels in random order.
    y = rng.permutation(np.arange(num_samples) % num_classes).astype(np.int64)
    x = means[y] + noise * rng.standard_normal((num_samples, dim))
    x = x.reshape(-1, *shape)

    return make_splits_with_test(
        x, y, test_fraction=test_fraction, val_fraction=val_fraction, seed=seed,
        num_classes=num_classes, input_shape=shape, name="synthetic",
    )
