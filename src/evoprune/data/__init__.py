"""Datasets as train/val/test splits: in memory (standardized tensors) or streamed from torch
Datasets."""

from evoprune.data.cifar10 import load_cifar10
from evoprune.data.datasets import DatasetSplit, from_datasets
from evoprune.data.digits import load_digits
from evoprune.data.image_folder import load_image_folder
from evoprune.data.mnist1d import load_mnist1d
from evoprune.data.splits import BadData, DataSplits, Samples, Split, check_data, make_splits
from evoprune.data.synthetic import load_synthetic
from evoprune.data.targets import load_diabetes, load_multilabel

__all__ = [
    "BadData",
    "DataSplits",
    "DatasetSplit",
    "Samples",
    "Split",
    "check_data",
    "from_datasets",
    "load_cifar10",
    "load_diabetes",
    "load_digits",
    "load_image_folder",
    "load_mnist1d",
    "load_multilabel",
    "load_synthetic",
    "make_splits",
]
