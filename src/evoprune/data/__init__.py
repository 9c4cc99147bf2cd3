"""Datasets as standardized train/val/test splits."""

from evoprune.data.cifar10 import load_cifar10
from evoprune.data.digits import load_digits
from evoprune.data.mnist1d import load_mnist1d
from evoprune.data.splits import BadData, DataSplits, Split, check_data, make_splits
from evoprune.data.synthetic import load_synthetic

__all__ = [
    "BadData",
    "DataSplits",
    "Split",
    "check_data",
    "load_cifar10",
    "load_digits",
    "load_mnist1d",
    "load_synthetic",
    "make_splits",
]
