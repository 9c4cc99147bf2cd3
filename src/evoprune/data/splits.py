"""Train/validation/test containers and the shared splitting + standardization logic."""

from __future__ import annotations

import abc
import functools
import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from evoprune.infra.device import BatchSource
from evoprune.infra.errors import UserError
from evoprune.infra.validators import check_number
from evoprune.tasks import CLASSIFICATION, Task

# Channels whose train std is below this are only centred, not scaled: dividing by a ~0 std would
# blow up any val/test value that differs from the constant train value.
_MIN_STD = 1e-6


class BadData(UserError, ValueError):
    """Data a loader returned (or was given) that evoprune cannot use: the message says what
    is wrong and what is expected."""


# One training or evaluation pass's batches: a function from index batches (tensors of sample
# positions) to (inputs, labels) batches on the device the reader was made for.
Reader = Callable[[Iterable[torch.Tensor]], Iterator[tuple[torch.Tensor, torch.Tensor]]]


class Samples(abc.ABC):
    """What training, fine-tuning, BatchNorm recalibration and scoring read a split through:
    :class:`Split` holds it in memory as two tensors (the fast path), and
    :class:`~evoprune.data.datasets.DatasetSplit` streams it from a torch ``Dataset``, so that
    memory follows the batch, not the dataset."""

    # applied to each training batch (inputs, generator) -> inputs, e.g. random crops and
    # flips; training uses it, evaluation never does
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def inputs(self, count: int | None = None) -> torch.Tensor:
        """The first ``count`` inputs (all with None) as one tensor."""

    @abc.abstractmethod
    def head(self, count: int | None = None) -> Samples:
        """The first ``count`` samples (all with None), augmented as this split is."""

    @abc.abstractmethod
    def reader(self, device: torch.device) -> Reader:
        """A function from index batches to ``(x, y)`` batches on ``device``."""

    @abc.abstractmethod
    def check(self, source: str, name: str, *, num_classes: int,
              input_shape: tuple[int, ...], task: Task = CLASSIFICATION) -> None:
        """Raise :class:`BadData` if this split breaks the data contract (its labels: the
        ``task``'s, for ``num_classes`` model outputs)."""

    @abc.abstractmethod
    def in_memory(self) -> Split:
        """This split as one in-memory :class:`Split` (read once if streamed)."""

    def batches(self, device: torch.device, batch_size: int):
        """Every sample once, in order, as ``(x, y)`` batches on ``device``."""
        return self.reader(device)(in_order(len(self), batch_size))


def in_order(count: int, batch_size: int) -> list[torch.Tensor]:
    """Index batches covering ``range(count)`` in order: an evaluation pass."""
    return list(torch.arange(count).split(batch_size))


@dataclass(frozen=True, eq=False)
class Split(Samples):
    """One labelled split held in memory: inputs ``x`` (float32, shape ``(N, *input_shape)``)
    and labels ``y``: class indices (int64, shape ``(N,)``), or float32 targets of shape
    ``(N,)`` or ``(N, outputs)`` (regression, multilabel; see :mod:`evoprune.tasks`).

    ``eq=False`` because element-wise tensor comparison has no single truth value.
    """

    x: torch.Tensor
    y: torch.Tensor
    # applied to each training batch (inputs, generator) -> inputs, e.g. CIFAR's random crops
    # and flips; training uses it, evaluation never does
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32:
            raise ValueError(f"Split.x must be float32, got {self.x.dtype}")
        if self.y.dtype not in (torch.int64, torch.float32):
            raise ValueError(f"Split.y must be int64 (class indices) or float32 (targets), "
                             f"got {self.y.dtype}")
        if self.y.ndim not in (1, 2):
            raise ValueError(f"Split.y must be 1-D or 2-D, got shape {tuple(self.y.shape)}")
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"Split.x and Split.y must have the same length, got {self.x.shape[0]} inputs "
                f"and {self.y.shape[0]} labels"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def inputs(self, count: int | None = None) -> torch.Tensor:
        """The first ``count`` inputs (all with None), as one tensor: example inputs for
        shape checks, BatchNorm calibration and latency timing."""
        return self.x[:count]

    def head(self, count: int | None = None) -> Split:
        """The first ``count`` samples (all with None), augmented as this split is."""
        if count is None or count >= len(self):
            return self
        return Split(self.x[:count], self.y[:count], self.augment)

    def in_memory(self) -> Split:
        return self

    def batches(self, device: torch.device, batch_size: int):
        # slices: views, with no copy when the split already lies on ``device``
        for start in range(0, len(self), batch_size):
            yield (self.x[start:start + batch_size].to(device),
                   self.y[start:start + batch_size].to(device))

    def to(self, device: torch.device) -> Split:
        """This split with its tensors on ``device``."""
        return Split(self.x.to(device), self.y.to(device), self.augment)

    def reader(self, device: torch.device) -> Reader:
        """A function from index batches to ``(x, y)`` batches on ``device``
        (:class:`~evoprune.infra.device.BatchSource`: on a GPU the split is copied there
        once if it fits)."""
        source = BatchSource(self.x, self.y, device)
        return lambda index_batches: (source(idx) for idx in index_batches)

    def check(self, source: str, name: str, *, num_classes: int,
              input_shape: tuple[int, ...], task: Task = CLASSIFICATION) -> None:
        if len(self) == 0:
            raise BadData(f"{source}: the {name} split is empty")
        if tuple(self.x.shape[1:]) != input_shape:
            raise BadData(f"{source}: {name} inputs have per-sample shape "
                          f"{list(self.x.shape[1:])}, but input_shape is {list(input_shape)}")
        if not bool(torch.isfinite(self.x).all()):
            raise BadData(f"{source}: {name} inputs hold NaN/inf values")
        task.check_labels(source, name, self.y, num_classes)


@dataclass(frozen=True, eq=False)
class DataSplits:
    """A dataset split into train / val / test, plus the metadata models need to be built."""

    train: Samples
    val: Samples
    test: Samples
    num_classes: int  # the model's output width: classes, regression targets or labels
    input_shape: tuple[int, ...]
    name: str
    task: Task = CLASSIFICATION  # what the labels are, the loss and the score


def check_data(data: object, source: str) -> DataSplits:
    """``data`` if it keeps the data contract, else :class:`BadData` saying what breaks it.

    The contract (docs: guides/own-model-and-data): a :class:`DataSplits` of three non-empty
    splits (``x`` float32 of shape ``(N, *input_shape)``; labels as ``data.task`` reads them:
    for classification int64 of shape ``(N,)`` in ``[0, num_classes)`` and ``num_classes >=
    2``, for other tasks float32 targets whose width is ``num_classes``; docs:
    guides/tasks), ``input_shape`` the per-sample shape, and a ``name``. :func:`make_splits`
    builds a classification one from arrays.
    """
    if not isinstance(data, DataSplits):
        raise BadData(f"{source} returned {type(data).__name__}, not evoprune.data.DataSplits "
                      "nor a tuple of torch Datasets, (train, test) or (train, val, test); "
                      "build DataSplits from arrays with evoprune.data.make_splits(x, y, "
                      "x_test, y_test, val_fraction=..., seed=..., num_classes=..., "
                      "input_shape=..., name=...)")
    shape = tuple(data.input_shape)
    for name in ("train", "val", "test"):  # first: labels of another task say which task
        split = getattr(data, name)
        if not isinstance(split, Samples):
            raise BadData(f"{source}: {name} is {type(split).__name__}, not a Split(x, y) or "
                          "a DatasetSplit")
        split.check(source, name, num_classes=data.num_classes, input_shape=shape,
                    task=data.task)
    fewest = 2 if data.task.labels == "class" else 1
    if isinstance(data.num_classes, bool) or not isinstance(data.num_classes, int) \
            or data.num_classes < fewest:
        raise BadData(f"{source}: num_classes (the model's outputs) must be an integer >= "
                      f"{fewest} for task={data.task.name}, got {data.num_classes!r}")
    return data


def _check_inputs(
    x: np.ndarray,
    y: np.ndarray,
    *,
    split: str,
    num_classes: int,
    input_shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one (x, y) pair and return it as (float64 array, int64 array)."""
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError(f"{split} inputs are empty (shape {x.shape}); need at least one sample")
    if tuple(x.shape[1:]) != input_shape:
        raise ValueError(
            f"{split} inputs have per-sample shape {tuple(x.shape[1:])}, "
            f"but input_shape is {input_shape}"
        )
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{split} labels must be 1-D with one label per input: got labels of shape {y.shape} "
            f"for {x.shape[0]} inputs"
        )
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{split} inputs must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"{split} inputs contain {bad} NaN/inf value(s); clean the data first")
    if not np.issubdtype(y.dtype, np.integer):
        # Float labels are accepted only when they hold exact integers (e.g. 3.0).
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)):
            raise ValueError(f"{split} labels must be finite integers, got dtype {y.dtype}")
        if not np.all(y == np.round(y)):
            raise ValueError(f"{split} labels must be integers, got non-integer values")
    y = y.astype(np.int64)
    out_of_range = (y < 0) | (y >= num_classes)
    if out_of_range.any():
        raise ValueError(
            f"{split} labels must be in [0, {num_classes}) for num_classes={num_classes}; "
            f"found {int(out_of_range.sum())} outside it (min {int(y.min())}, max {int(y.max())})"
        )
    return x, y


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean/std, channel = first per-sample axis; reduce over all other axes.

    For a 1-D ``input_shape`` such as ``(64,)`` every feature is its own channel.
    """
    axes = (0,) + tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return mean, np.where(std < _MIN_STD, 1.0, std)


def _to_split(x: np.ndarray, y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Split:
    x_std = ((x - mean) / std).astype(np.float32)
    return Split(x=torch.from_numpy(x_std), y=torch.from_numpy(y.astype(np.int64)))


def checked_by(check: Callable[..., object]):
    """Decorate a data loader so that ``check`` runs on its keyword arguments (every one, with
    the loader's defaults filled in) before the loader does any work, and is available as
    ``loader.check_arguments(**kwargs)``: a run calls it to refuse bad values before any data
    is generated or read."""

    def decorate(loader):
        signature = inspect.signature(loader)

        def check_arguments(**kwargs) -> None:
            bound = signature.bind(**kwargs)
            bound.apply_defaults()
            check(**bound.arguments)

        @functools.wraps(loader)
        def load(**kwargs):
            check_arguments(**kwargs)
            return loader(**kwargs)

        load.check_arguments = check_arguments
        return load

    return decorate


def check_fixed_shape(dataset: str, *, num_classes: int, input_shape: Sequence[int],
                      classes: int, values: int, example: tuple[int, ...]) -> None:
    """A dataset whose class count and values per sample are fixed: ``num_classes`` must be
    ``classes``, and ``input_shape`` any shape of ``values`` elements (e.g. ``example``)."""
    if num_classes != classes:
        raise ValueError(f"{dataset} has exactly {classes} classes, got num_classes={num_classes}")
    shape = tuple(int(d) for d in input_shape)
    if math.prod(shape) != values:
        raise ValueError(f"{dataset} samples have {values} values, so input_shape must have "
                         f"{values} elements, e.g. {example}; got {shape}")


def check_fraction(name: str, value: float) -> None:
    """A split fraction must lie in the open interval (0, 1)."""
    check_number(name, value, low=0, low_open=True, high=1, high_open=True)


def make_splits(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    val_fraction: float,
    seed: int,
    num_classes: int,
    input_shape: Sequence[int],
    name: str,
) -> DataSplits:
    """Build standardized train/val/test splits.

    The validation split is carved (stratified, seeded) from ``(x, y)`` only, so the test split
    ``(x_test, y_test)`` is never seen during training or model selection.

    All three splits are standardized per channel with mean/std computed on the *train part
    only* (after carving out validation): using val/test statistics would leak information
    about held-out data into the inputs the model trains on.

    Raises:
        ValueError: on a ``val_fraction`` outside (0, 1), NaN/inf inputs, a per-sample shape
            different from ``input_shape``, labels outside ``[0, num_classes)``, or too few
            samples per class to stratify.
    """
    check_fraction("val_fraction", val_fraction)
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    input_shape = tuple(int(d) for d in input_shape)
    if not input_shape or any(d <= 0 for d in input_shape):
        raise ValueError(f"input_shape must be non-empty with positive sizes, got {input_shape}")

    x, y = _check_inputs(x, y, split="train", num_classes=num_classes, input_shape=input_shape)
    x_test, y_test = _check_inputs(
        x_test, y_test, split="test", num_classes=num_classes, input_shape=input_shape
    )

    try:
        x_tr, x_val, y_tr, y_val = _train_test_split(
            x, y, test_size=val_fraction, random_state=seed, stratify=y
        )
    except ValueError as err:
        # sklearn's message ("least populated class ...") doesn't say which knob to turn.
        raise ValueError(
            f"cannot carve a stratified validation split with val_fraction={val_fraction} from "
            f"{len(y)} training samples of {name!r}: {err}. Use more samples or another "
            f"val_fraction."
        ) from err

    mean, std = _channel_stats(x_tr)
    return DataSplits(
        train=_to_split(x_tr, y_tr, mean, std),
        val=_to_split(x_val, y_val, mean, std),
        test=_to_split(x_test, y_test, mean, std),
        num_classes=int(num_classes),
        input_shape=input_shape,
        name=name,
    )


def stratified_holdout(
    x: np.ndarray, y: np.ndarray, *, fraction: float, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(x, y)`` into (x_rest, x_held, y_rest, y_held), stratified and seeded.

    Used by loaders that have no predefined test split; ``what`` names the held-out part in
    error messages (e.g. ``"test_fraction"``).
    """
    check_fraction(what, fraction)
    try:
        return _train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y)
    except ValueError as err:
        raise ValueError(
            f"cannot hold out a stratified split with {what}={fraction} from {len(y)} samples: "
            f"{err}"
        ) from err


def make_splits_with_test(
    x: np.ndarray, y: np.ndarray, *, test_fraction: float, val_fraction: float, seed: int,
    num_classes: int, input_shape: tuple[int, ...], name: str,
) -> DataSplits:
    """For data with no predefined test split: hold out a stratified test split, then carve
    validation from the rest with :func:`make_splits`."""
    x_rest, x_test, y_rest, y_test = stratified_holdout(
        x, y, fraction=test_fraction, seed=seed, what="test_fraction"
    )
    return make_splits(
        x_rest, y_rest, x_test, y_test, val_fraction=val_fraction, seed=seed,
        num_classes=num_classes, input_shape=input_shape, name=name,
    )


def _train_test_split(*args, **kwargs):
    # scikit-learn takes seconds to import: only when data is split, not when a config is checked
    from sklearn.model_selection import train_test_split

    return train_test_split(*args, **kwargs)
