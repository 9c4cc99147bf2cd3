"""CIFAR-10 from tiny files written in the real python-batch format (nothing downloads)."""

import pickle

import numpy as np
import pytest
import torch

from evoprune.data import load_cifar10
from evoprune.data.cifar10 import FILES, FOLDER, crop_and_flip


def write_cifar(root, per_class=4, test_per_class=2, seed=0):
    """Five training batches, a test batch and batches.meta, as cifar-10-python.tar.gz holds
    them: pickled dicts with bytes keys, uint8 rows of 3,072 values (three 32 x 32 planes)."""
    rng = np.random.default_rng(seed)
    folder = root / FOLDER
    folder.mkdir(parents=True)

    def batch(count, label_of):
        labels = [label_of(i) for i in range(count)]
        data = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        data[:, :1024] = np.array(labels, dtype=np.uint8)[:, None] * 20  # red plane = class
        return {b"batch_label": b"x", b"labels": labels, b"data": data,
                b"filenames": [b"f"] * count}

    for i in range(1, 6):
        with open(folder / f"data_batch_{i}", "wb") as handle:
            pickle.dump(batch(10 * per_class, lambda j: j % 10), handle)
    with open(folder / "test_batch", "wb") as handle:
        pickle.dump(batch(10 * test_per_class, lambda j: j % 10), handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_cases_per_batch": 10000},
                    handle)
    return root


def test_the_python_batches_become_standardised_splits(tmp_path):
    root = write_cifar(tmp_path)
    data = load_cifar10(root=str(root), val_fraction=0.1, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (180, 20, 20)
    assert data.train.x.shape[1:] == (3, 32, 32) and data.input_shape == (3, 32, 32)
    assert sorted(torch.bincount(data.val.y).tolist()) == [2] * 10  # stratified
    # the red plane encodes the class: the reshape kept planes and rows in place
    red = data.test.x[:, 0].mean(dim=(1, 2))
    assert torch.all(red[1:][data.test.y[1:] > data.test.y[:-1]]
                     > red[:-1][data.test.y[1:] > data.test.y[:-1]])
    assert abs(float(data.train.x.mean())) < 0.05  # standardised on the training part
    assert data.train.augment is not None and data.val.augment is None
    same = load_cifar10(root=str(root / FOLDER), val_fraction=0.1, seed=0)  # the folder itself
    torch.testing.assert_close(same.train.x, data.train.x)


def test_subsets_are_stratified_and_say_their_size(tmp_path):
    root = write_cifar(tmp_path, per_class=6, test_per_class=4)
    data = load_cifar10(root=str(root), train_samples=100, test_samples=20, augment=False)
    assert len(data.train) + len(data.val) == 100 and len(data.test) == 20
    assert torch.bincount(data.test.y).tolist() == [2] * 10
    assert data.train.augment is None


@pytest.mark.parametrize("missing", ["test_batch", "data_batch_3"])
def test_missing_files_say_where_to_get_them_and_where_to_put_them(tmp_path, missing):
    root = write_cifar(tmp_path)
    (root / FOLDER / missing).unlink()
    with pytest.raises(ValueError, match=f"root={root} holds no CIFAR-10 python batches "
                                         f"\\(missing {missing}\\): download https://www.cs."
                                         "toronto.edu/~kriz/cifar-10-python.tar.gz and extract"):
        load_cifar10.check_arguments(root=str(root))
    assert len(FILES) == 7


def test_crop_and_flip_moves_pixels_without_changing_them(tmp_path):
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    generator = torch.Generator().manual_seed(0)
    out = crop_and_flip(x, generator, padding=2)
    assert out.shape == x.shape
    for image, original in zip(out, x):
        values = set(image[image != 0].tolist())
        assert values <= set(original.flatten().tolist())  # only shifted (and padded) pixels
    again = crop_and_flip(x, torch.Generator().manual_seed(0), padding=2)
    torch.testing.assert_close(out, again)  # the generator decides everything
    flipped = [crop_and_flip(x, torch.Generator().manual_seed(s), padding=0) for s in range(8)]
    assert any(torch.equal(f[0], x[0].flip(-1)) for f in flipped)
    assert any(torch.equal(f[0], x[0]) for f in flipped)
