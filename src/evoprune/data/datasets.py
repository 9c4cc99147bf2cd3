"""Data as torch ``Dataset`` s: splits streamed batch by batch, so that memory follows the
batch, not the dataset.

A data target may return ``(train, val, test)`` or ``(train, test)`` Datasets (or
DataLoaders) instead of a :class:`~evoprune.data.splits.DataSplits`; :func:`from_datasets`
turns them into one whose splits are :class:`DatasetSplit` s, reading the input shape from the
first sample and the class count from the data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from evoprune.data.splits import (
    BadData,
    DataSplits,
    Reader,
    Samples,
    Split,
    check_data,
    check_fraction,
)
from evoprune.infra.validators import check_int
from evoprune.tasks import CLASSIFICATION, Task

DEFAULT_VAL_FRACTION = 0.1


@dataclass(frozen=True, eq=False)
class DatasetSplit(Samples):
    """One labelled split read from a map-style torch ``Dataset`` whose items are
    ``(input, label)`` pairs: an input tensor (or array) of the per-sample shape, a class index.

    Batches are read through a ``DataLoader`` over the same index batches an in-memory
    :class:`~evoprune.data.splits.Split` would be cut into, so a seed gives the same batches
    either way. ``workers`` is the loader's ``num_workers`` (0: read in the calling process).
    ``augment`` is applied to each training batch, as for a ``Split``: put random
    augmentation here rather than in the Dataset, so that validation carved from the training
    set is never augmented and every random draw follows the run's seed.
    """

    dataset: Dataset
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    workers: int = 0

    def __post_init__(self) -> None:
        check_int("workers", self.workers, 0)

    def __len__(self) -> int:
        return len(self.dataset)

    def inputs(self, count: int | None = None) -> torch.Tensor:
        count = len(self) if count is None else min(count, len(self))
        return collate([self.dataset[i] for i in range(count)])[0]

    def head(self, count: int | None = None) -> DatasetSplit:
        if count is None or count >= len(self):
            return self
        return DatasetSplit(Subset(self.dataset, range(count)), self.augment, self.workers)

    def in_memory(self) -> Split:
        inputs, labels = zip(*self.batches(torch.device("cpu"), 1024))
        return Split(torch.cat(inputs), torch.cat(labels), self.augment)

    def reader(self, device: torch.device) -> Reader:
        pin = device.type == "cuda"

        def read(index_batches):
            batches = [batch.tolist() for batch in index_batches]
            loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=self.workers,
                                collate_fn=collate, pin_memory=pin)
            for x, y in loader:
                yield x.to(device, non_blocking=pin), y.to(device, non_blocking=pin)

        return read

    def check(self, source: str, name: str, *, num_classes: int,
              input_shape: tuple[int, ...], task: Task = CLASSIFICATION) -> None:
        """The first sample only: a whole pass would read the dataset once more."""
        if len(self) == 0:
            raise BadData(f"{source}: the {name} split is empty")
        x, y = first_sample(source, name, self.dataset)
        if tuple(x.shape[1:]) != tuple(input_shape):
            raise BadData(f"{source}: {name} inputs have per-sample shape "
                          f"{list(x.shape[1:])}, but input_shape is {list(input_shape)}")
        task.check_labels(source, name, y, num_classes)


def collate(items: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input, label)`` items as one float32 input batch and one label batch: int64 for
    integer labels (class indices), float32 for float ones (targets, multi-hot vectors)."""
    inputs = torch.stack([_tensor(x, torch.float32) for x, _ in items])
    labels = torch.stack([_tensor(y) for _, y in items])
    if labels.is_floating_point():
        return inputs, labels.float()
    if labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"labels must be integers or floats, got {labels.dtype}")
    return inputs, labels.long()


def _tensor(value, dtype: torch.dtype | None = None) -> torch.Tensor:
    if torch.is_tensor(value):
        return value.to(dtype) if dtype is not None else value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"expected numbers, got {type(value).__name__} ({array.dtype})")
    return torch.as_tensor(array, dtype=dtype)


def first_sample(source: str, name: str, dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The first item of ``dataset`` as a batch of one, or :class:`BadData` saying why it is
    not an ``(input, label)`` pair evoprune can use."""
    item = dataset[0]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise BadData(f"{source}: {name} items must be (input, label) pairs, got "
                      f"{type(item).__name__}" + (f" of length {len(item)}"
                                                   if isinstance(item, (tuple, list)) else ""))
    x, y = item
    try:
        batch = collate([item])
    except (TypeError, ValueError, RuntimeError) as error:
        raise BadData(f"{source}: {name} items must hold a numeric input (a tensor or array) "
                      f"and a numeric label (a class index, or float targets), got "
                      f"{type(x).__name__} and {type(y).__name__}: {error}") from error
    if not bool(torch.isfinite(batch[0]).all()):
        raise BadData(f"{source}: the first {name} input holds NaN/inf values")
    return batch


def as_dataset(data: object, role: str, source: str) -> tuple[Dataset, int]:
    """``data`` (a Dataset, or a DataLoader over one) as a Dataset and the worker count to
    read it with."""
    if isinstance(data, DataLoader):
        return data.dataset, data.num_workers
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise BadData(f"{source}: the {role} data is {type(data).__name__}; expected a torch "
                      "Dataset (with __getitem__ and __len__), a DataLoader over one, or "
                      "evoprune.data.DataSplits")
    return data, 0


def seeded_holdout(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Positions ``(kept, held)`` of ``count`` samples, ``fraction`` of them (at least one)
    held out in an order drawn from ``seed``: the unstratified hold-out of streamed data, whose
    labels are not read ahead."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(int(seed))).tolist()
    held = max(1, math.floor(count * fraction))
    return order[held:], order[:held]


def output_count(train: Dataset, task: Task = CLASSIFICATION) -> int:
    """The model's output width the labels call for: for classification, the training
    Dataset's ``classes`` when it has them (as torchvision's and evoprune's image folders do),
    else one more than its largest label (a pass over the training set: give ``num_classes``
    to skip it); for other tasks, the width of the first label."""
    first = collate([train[0]])[1]  # a batch of one
    if not task.counts_classes(first):  # targets or multi-hot vectors: their width
        return task.outputs_for(first, None)
    classes = getattr(train, "classes", None)
    if classes is not None:
        return len(classes)
    return 1 + max(int(collate([train[i]])[1][0]) for i in range(len(train)))


def from_datasets(*datasets: object, seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION,
                  num_classes: int | None = None, input_shape: Sequence[int] | None = None,
                  augment: Callable | None = None, name: str = "datasets",
                  source: str = "data", task: Task = CLASSIFICATION) -> DataSplits:
    """``(train, val, test)`` or ``(train, test)`` Datasets or DataLoaders as
    :class:`~evoprune.data.splits.DataSplits` of :class:`DatasetSplit` s.

    With two, validation is a seeded random ``val_fraction`` of ``train`` (``Subset`` s; never
    augmented). The input shape is the first training sample's, the class count
    :func:`output_count`'s, unless given. ``augment`` applies to training batches only. Inputs
    are used as they come: standardise them in the Dataset. ``task`` says what the labels are
    (:mod:`evoprune.tasks`; classification by default).
    """
    if len(datasets) not in (2, 3):
        raise BadData(f"{source} returned {len(datasets)} datasets; expected (train, test) "
                      "or (train, val, test)")
    roles = ("train", "val", "test") if len(datasets) == 3 else ("train", "test")
    read = [as_dataset(data, role, source) for data, role in zip(datasets, roles)]
    for (dataset, _), role in zip(read, roles):
        if len(dataset) == 0:
            raise BadData(f"{source}: the {role} dataset is empty")
    workers = read[0][1]
    first_inputs = first_sample(source, "train", read[0][0])[0]  # refuses a bad item first
    if input_shape is None:
        input_shape = tuple(first_inputs.shape[1:])
    if num_classes is None:
        num_classes = output_count(read[0][0], task)
    if len(read) == 2:
        check_fraction("val_fraction", val_fraction)
        train = read[0][0]
        kept, held = seeded_holdout(len(train), val_fraction, seed)
        if not kept:
            raise BadData(f"{source}: cannot carve a validation split with val_fraction="
                          f"{val_fraction} from {len(train)} training samples")
        read = [(Subset(train, kept), workers), (Subset(train, held), workers), read[1]]
    (train, _), (val, val_workers), (test, test_workers) = read
    return check_data(DataSplits(
        train=DatasetSplit(train, augment, workers), val=DatasetSplit(val, None, val_workers),
        test=DatasetSplit(test, None, test_workers), num_classes=int(num_classes),
        input_shape=tuple(int(d) for d in input_shape), name=name, task=task), source)


def as_data_splits(data: object, source: str, *, seed: int,
                   task: Task = CLASSIFICATION) -> DataSplits:
    """What a data target returned, checked against the data contract for ``task``:
    ``DataSplits`` (given the task), a tuple of Datasets or DataLoaders through
    :func:`from_datasets`."""
    if isinstance(data, (tuple, list)):
        return from_datasets(*data, seed=seed, source=source, task=task)
    if isinstance(data, DataSplits):
        data = dataclasses.replace(data, task=task)
    return check_data(data, source)
