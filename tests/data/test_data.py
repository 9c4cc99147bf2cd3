"""Behaviour of the dataset loaders and make_splits."""

import numpy as np
import pytest
import torch

from evoprune.data import DataSplits, Split, load_digits, load_mnist1d, load_synthetic, make_splits


def _rows(split: Split) -> set[bytes]:
    """Each input row as bytes, to test that splits share no samples."""
    return {row.numpy().tobytes() for row in split.x}


def _assert_same(a: DataSplits, b: DataSplits) -> None:
    for name in ("train", "val", "test"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert torch.equal(sa.x, sb.x) and torch.equal(sa.y, sb.y), name


def _toy(n: int = 100, num_classes: int = 2, shape: tuple[int, ...] = (1, 4)):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *shape))
    y = np.arange(n) % num_classes
    return x, y


def test_synthetic_sizes_dtypes_and_metadata():
    data = load_synthetic(num_samples=600, num_classes=4, input_shape=(1, 32))
    assert (len(data.train), len(data.val), len(data.test)) == (384, 96, 120)
    assert data.num_classes == 4 and data.input_shape == (1, 32) and data.name == "synthetic"
    assert tuple(data.train.x.shape) == (384, 1, 32)
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    # Stratified: every class appears in every split, in nearly equal numbers.
    for split in (data.train, data.val, data.test):
        counts = torch.bincount(split.y, minlength=4)
        assert counts.min() >= counts.max() - 1


def test_synthetic_and_digits_splits_do_not_overlap():
    for data in (load_synthetic(), load_digits()):
        train, val, test = _rows(data.train), _rows(data.val), _rows(data.test)
        assert not train & val and not train & test and not val & test, data.name


def test_digits_sizes():
    data = load_digits(val_fraction=0.2, test_fraction=0.2)
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert len(data.test) == 360  # 20% of 1797, rounded up by sklearn
    assert len(data.val) == 288  # 20% of the remaining 1437
    assert tuple(data.test.x.shape[1:]) == (1, 8, 8) and data.num_classes == 10


def test_train_split_is_standardized_with_train_statistics():
    data = load_digits()
    assert abs(data.train.x.mean().item()) < 1e-4
    assert abs(data.train.x.std().item() - 1.0) < 1e-3
    # Val/test use the train statistics, so they are only approximately standardized.
    assert abs(data.test.x.mean().item()) < 0.2


def test_val_carved_from_train_only_and_test_untouched():
    x, y = _toy(100)
    x_test, y_test = _toy(30)
    x_test = x_test + 100.0  # recognisable rows
    data = make_splits(
        x,
        y,
        x_test,
        y_test,
        val_fraction=0.25,
        seed=0,
        num_classes=2,
        input_shape=(1, 4),
        name="toy",
    )
    assert (len(data.train), len(data.val), len(data.test)) == (75, 25, 30)
    assert torch.equal(data.test.y, torch.as_tensor(y_test))
    # Test rows (shifted by +100) are far from everything in train/val after standardization.
    assert data.test.x.min() > data.train.x.max() and data.test.x.min() > data.val.x.max()


def test_loaders_deterministic_given_seed():
    _assert_same(load_synthetic(seed=3), load_synthetic(seed=3))
    _assert_same(load_digits(seed=3), load_digits(seed=3))
    assert not torch.equal(load_synthetic(seed=3).train.x, load_synthetic(seed=4).train.x)
    assert not torch.equal(load_digits(seed=3).train.y, load_digits(seed=4).train.y)


def test_mnist1d_sizes_shape_and_determinism():
    state = np.random.get_state()
    a = load_mnist1d(num_samples=500, seed=1)
    # mnist1d seeds numpy's global RNG internally; the loader must restore it.
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert (len(a.train), len(a.val), len(a.test)) == (200, 50, 250)
    assert tuple(a.train.x.shape[1:]) == (1, 40) and a.num_classes == 10
    _assert_same(a, load_mnist1d(num_samples=500, seed=1))
    b = load_mnist1d(num_samples=500, test_fraction=0.2, seed=1)
    assert (len(b.train), len(b.val), len(b.test)) == (320, 80, 100)


def test_mnist1d_default_test_split_separates_methods():
    """At least 4000 test samples: a standard error under 0.4 points near 95 % accuracy."""
    from evoprune.config.targets import make_data
    from tests.helpers import compose_config

    config = compose_config(["data=mnist1d"]).data
    data = make_data({k: v for k, v in config.items()}, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (3200, 800, 4000)
    assert (0.95 * 0.05 / len(data.test)) ** 0.5 < 0.004


def test_nan_input_names_split_and_count():
    x, y = _toy()
    x_test, y_test = _toy(20)
    x_test[0, 0, 0] = np.nan
    x_test[1, 0, 2] = np.inf
    with pytest.raises(ValueError, match=r"test inputs contain 2 NaN/inf"):
        make_splits(
            x,
            y,
            x_test,
            y_test,
            val_fraction=0.2,
            seed=0,
            num_classes=2,
            input_shape=(1, 4),
            name="toy",
        )


def test_wrong_shape_shows_both_shapes():
    x, y = _toy(shape=(1, 5))
    with pytest.raises(ValueError, match=r"\(1, 5\).*\(1, 4\)"):
        make_splits(
            x, y, x, y, val_fraction=0.2, seed=0, num_classes=2, input_shape=(1, 4), name="toy"
        )


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5])
def test_bad_val_fraction(bad):
    x, y = _toy()
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \(0, 1\)"):
        make_splits(
            x, y, x, y, val_fraction=bad, seed=0, num_classes=2, input_shape=(1, 4), name="toy"
        )
    with pytest.raises(ValueError, match="val_fraction"):
        load_synthetic(val_fraction=bad)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=bad)


def test_labels_out_of_range():
    x, y = _toy()
    y = y.copy()
    y[3] = 5
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        make_splits(
            x, y, x, y % 2, val_fraction=0.2, seed=0, num_classes=2, input_shape=(1, 4), name="toy"
        )


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="num_classes"):
        load_mnist1d(num_classes=5)
    with pytest.raises(ValueError, match="40 elements"):
        load_mnist1d(input_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="64 elements"):
        load_digits(input_shape=(1, 40))
    with pytest.raises(ValueError, match="noise"):
        load_synthetic(noise=-1.0)


def test_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        Split(x=torch.zeros(3, 2), y=torch.zeros(4, dtype=torch.int64))


def test_constant_train_feature_is_not_blown_up():
    # Feature 0 is constant in train but not in test (like an always-blank digit pixel).
    x, y = _toy(shape=(4,))
    x[:, 0] = 0.0
    x_test, y_test = _toy(20, shape=(4,))
    data = make_splits(
        x, y, x_test, y_test, val_fraction=0.2, seed=0, num_classes=2, input_shape=(4,), name="toy"
    )
    assert torch.all(data.train.x[:, 0] == 0)
    assert data.test.x.abs().max() < 10


def test_the_built_in_datasets_table_says_what_each_loader_makes():
    """docs/guides/own-model-and-data.md lists each built-in dataset's input shape, classes
    (the model's outputs) and split sizes at the defaults: as the loaders make them (CIFAR-10,
    which needs its files, by the shape and class count its loader checks)."""
    import re

    from evoprune.data import cifar10
    from tests.helpers import REPO, compose_config, data_and_model

    page = (REPO / "docs" / "guides" / "own-model-and-data.md").read_text()
    rows = re.findall(r"^\| `(\w+)`(?: \(default\))? \| `\(([\d, ]+)\)` \| (\d+) \| "
                      r"([\d,]+) / ([\d,]+) / ([\d,]+) \|$", page, flags=re.MULTILINE)
    table = {name: (tuple(int(v) for v in shape.split(",")), int(classes),
                    tuple(int(n.replace(",", "")) for n in sizes))
             for name, shape, classes, *sizes in rows}
    tasks = {"diabetes": "regression", "multilabel": "multilabel"}  # their labels' tasks
    assert set(table) == {"mnist1d", "digits", "cifar10", "synthetic", *tasks}
    for name in ("mnist1d", "digits", "synthetic", *tasks):
        data, _ = data_and_model(compose_config([f"data={name}", "model=mlp",
                                                 f"task={tasks.get(name, 'classification')}"]))
        assert table[name] == (data.input_shape, data.num_classes,
                               (len(data.train), len(data.val), len(data.test))), name
    shape, classes, (train, val, test) = table["cifar10"]
    assert int(np.prod(shape)) == cifar10._VALUES and classes == cifar10._CLASSES
    assert (train + val, test) == (50_000, 10_000)
