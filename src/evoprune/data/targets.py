"""Built-in data with float labels: regression (scikit-learn's bundled diabetes data) and
multi-label classification (scikit-learn's multi-label generator). Pair them with their task:
``data=diabetes task=regression``, ``data=multilabel task=multilabel``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from evoprune.data.splits import DataSplits, Split, _channel_stats, check_fraction, checked_by
from evoprune.infra.validators import check_int


def _check_fractions(*, val_fraction, test_fraction, seed, **_) -> None:
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)
    check_int("seed", seed)


def float_label_splits(x: np.ndarray, y: np.ndarray, *, val_fraction: float,
                       test_fraction: float, seed: int, name: str,
                       standardize_labels: bool) -> DataSplits:
    """Seeded random test, then validation, splits of ``(x, y)`` with float labels; inputs
    (and, for regression, targets) standardised with the training part's statistics."""
    order = np.random.default_rng(seed).permutation(len(x))
    held = max(1, int(round(len(x) * test_fraction)))
    rest = order[held:]
    carved = max(1, int(round(len(rest) * val_fraction)))
    parts = {"test": order[:held], "val": rest[:carved], "train": rest[carved:]}
    mean, std = _channel_stats(x[parts["train"]])
    y = y.astype(np.float64)
    if standardize_labels:
        y = (y - y[parts["train"]].mean(0)) / y[parts["train"]].std(0)
    splits = {part: Split(torch.from_numpy(((x[i] - mean) / std).astype(np.float32)),
                          torch.from_numpy(y[i].astype(np.float32)))
              for part, i in parts.items()}
    return DataSplits(**splits, num_classes=1 if y.ndim == 1 else int(y.shape[1]),
                      input_shape=tuple(x.shape[1:]), name=name)


@checked_by(_check_fractions)
def load_diabetes(*, val_fraction: float = 0.2, test_fraction: float = 0.2,
                  seed: int = 0) -> DataSplits:
    """scikit-learn's diabetes data (442 patients, 10 features; the target a measure of
    disease progression one year on) as regression splits: inputs ``(1, 10)``, one float
    target, standardised with the training part's mean and spread."""
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    x, y = sklearn_diabetes(return_X_y=True)
    return float_label_splits(x.reshape(-1, 1, 10), y, val_fraction=val_fraction,
                              test_fraction=test_fraction, seed=seed, name="diabetes",
                              standardize_labels=True)


def _check_multilabel(*, num_samples, num_labels, features, val_fraction, test_fraction,
                      seed) -> None:
    check_int("num_samples", num_samples, 50)
    check_int("num_labels", num_labels, 2)
    check_int("features", features, 2)
    _check_fractions(val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)


@checked_by(_check_multilabel)
def load_multilabel(*, num_samples: int = 2000, num_labels: int = 6, features: int = 40,
                    val_fraction: float = 0.2, test_fraction: float = 0.2,
                    seed: int = 0) -> DataSplits:
    """A multi-label problem from scikit-learn's generator (``make_multilabel_classification``:
    bag-of-words-like counts, on average two labels per sample, some none): inputs
    ``(1, features)``, ``num_labels`` 0/1 labels per sample."""
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(n_samples=num_samples, n_features=features,
                                          n_classes=num_labels, n_labels=2, random_state=seed)
    return float_label_splits(x.reshape(-1, 1, features).astype(np.float64), y,
                              val_fraction=val_fraction, test_fraction=test_fraction,
                              seed=seed, name="multilabel", standardize_labels=False)


__all__: Sequence[str] = ["float_label_splits", "load_diabetes", "load_multilabel"]
