"""Data as torch Datasets: streamed splits that read the same batches an in-memory split does."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from evoprune.data import BadData, DatasetSplit, Split, from_datasets
from evoprune.data.datasets import as_data_splits
from evoprune.training.train import TrainConfig, accuracy, train_classifier


def tensors(n=96, shape=(2, 8), classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=generator)
    y = torch.randint(0, classes, (n,), generator=generator)
    return x, y


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))


def test_training_on_a_dataset_reaches_the_weights_training_in_memory_does():
    x, y = tensors()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.01)
    in_memory, streamed = small_model(), small_model()
    train_classifier(in_memory, Split(x, y), cfg, seed=3, progress=False)
    train_classifier(streamed, DatasetSplit(TensorDataset(x, y)), cfg, seed=3, progress=False)
    for a, b in zip(in_memory.parameters(), streamed.parameters()):
        assert torch.equal(a, b)
    assert accuracy(in_memory, Split(x, y), batch_size=10) == \
        accuracy(streamed, DatasetSplit(TensorDataset(x, y)), batch_size=10)


def test_head_inputs_and_in_memory_read_the_first_samples():
    x, y = tensors(n=20)
    split = DatasetSplit(TensorDataset(x, y))
    assert torch.equal(split.inputs(3), x[:3])
    assert len(split.head(5)) == 5 and split.head(50) is split
    whole = split.in_memory()
    assert torch.equal(whole.x, x) and torch.equal(whole.y, y)


def test_two_datasets_carve_validation_from_train_by_seed():
    x, y = tensors(n=100)
    train, test = TensorDataset(x, y), TensorDataset(*tensors(n=30, seed=1))
    data = from_datasets(train, test, seed=0, val_fraction=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 30)
    assert data.input_shape == (2, 8) and data.num_classes == 3  # read from the data
    again = from_datasets(train, test, seed=0, val_fraction=0.2)
    other = from_datasets(train, test, seed=1, val_fraction=0.2)
    assert data.val.dataset.indices == again.val.dataset.indices != other.val.dataset.indices
    assert not set(data.val.dataset.indices) & set(data.train.dataset.indices)


def test_three_dataloaders_are_taken_with_their_worker_counts():
    loaders = [DataLoader(TensorDataset(*tensors(n=40, seed=s)), batch_size=4) for s in range(3)]
    data = from_datasets(*loaders, num_classes=5)
    assert (len(data.train), len(data.val), len(data.test)) == (40, 40, 40)
    assert data.num_classes == 5 and data.train.workers == 0


@pytest.mark.parametrize("bad, message", [
    (7, "expected a torch Dataset"),
    ([(torch.zeros(3),)] * 4, r"must be \(input, label\) pairs"),
    ([(torch.zeros(3), "cat")] * 4, "a numeric label"),
    ([(torch.full((3,), float("nan")), 0)] * 4, "NaN/inf"),
])
def test_unusable_items_are_refused_with_what_was_expected(bad, message):
    with pytest.raises(BadData, match=message):
        from_datasets(bad, [(torch.zeros(3), 0)] * 4, source="data._target_=my.load")


def test_a_loader_returning_a_tuple_of_datasets_becomes_data_splits():
    x, y = tensors(n=60)
    data = as_data_splits((TensorDataset(x, y), TensorDataset(x[:10], y[:10])), "my.load",
                          seed=0)
    assert isinstance(data.val, DatasetSplit) and len(data.val) == 6
    with pytest.raises(BadData, match=r"expected \(train, test\) or \(train, val, test\)"):
        as_data_splits((TensorDataset(x, y),), "my.load", seed=0)
