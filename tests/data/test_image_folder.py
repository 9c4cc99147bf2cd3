"""The image-folder loader, on PNG files the tests write (Pillow; the real format)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from evoprune.data import BadData, DatasetSplit, load_image_folder
from evoprune.data.image_folder import ImageFiles


def write_images(root: Path, *, classes: int = 3, per_class: int = 10, size=(12, 10),
                 split_folders: bool = False, seed: int = 0) -> Path:
    """Class subfolders of RGB PNGs whose mean brightness says their class (learnable)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    parts = ["train", "test"] if split_folders else [""]
    for part in parts:
        for label in range(classes):
            folder = root / part / f"class_{label}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                level = 40 + 80 * label
                pixels = np.clip(rng.normal(level, 20, (*size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_splits_stream_the_folder_with_shape_and_classes_read_from_it(tmp_path):
    root = write_images(tmp_path / "images")
    data = load_image_folder(root=str(root), seed=0)
    assert isinstance(data.train, DatasetSplit)
    assert data.input_shape == (3, 12, 10) and data.num_classes == 3
    assert len(data.train) + len(data.val) + len(data.test) == 30
    assert len(data.test) == 6 and len(data.val) == 2  # 20 % held out, then 10 % of the rest
    x, y = next(iter(data.train.batches(torch.device("cpu"), 8)))
    assert x.shape == (8, 3, 12, 10) and x.dtype == torch.float32 and y.dtype == torch.int64
    # standardised with training statistics: roughly zero mean, unit spread
    assert abs(float(data.train.inputs().mean())) < 0.3
    assert 0.5 < float(data.train.inputs().std()) < 1.5


def test_same_seed_same_splits_other_seed_other_splits(tmp_path):
    root = write_images(tmp_path / "images")

    def files(seed):
        data = load_image_folder(root=str(root), seed=seed)
        return [str(f) for f in data.test.dataset.files]

    assert files(0) == files(0)
    assert files(0) != files(1)


def test_train_and_test_folders_are_used_as_given(tmp_path):
    root = write_images(tmp_path / "images", per_class=5, split_folders=True)
    data = load_image_folder(root=str(root), seed=0, grayscale=True, image_size=8)
    assert len(data.test) == 15 and len(data.train) + len(data.val) == 15
    assert data.input_shape == (1, 8, 8)
    assert all("test" in str(path) for path in data.test.dataset.files)


def test_augment_applies_to_training_batches_only(tmp_path):
    data = load_image_folder(root=str(write_images(tmp_path / "images")), augment=True)
    assert data.train.augment is not None
    assert data.val.augment is None and data.test.augment is None


@pytest.mark.parametrize("problem, message", [
    ("one_class", "needs one subfolder of images per class"),
    ("sizes", "set data.image_size"),
    ("broken", "is not a readable image"),
    ("test_class", "class folders the training images do not"),
])
def test_bad_folders_are_refused_naming_the_file(tmp_path, problem, message):
    from PIL import Image

    root = tmp_path / "images"
    if problem == "one_class":
        write_images(root, classes=1)
    elif problem == "sizes":
        write_images(root)
        Image.new("RGB", (5, 5)).save(root / "class_0" / "odd.png")
    elif problem == "broken":
        write_images(root)
        (root / "class_1" / "broken.png").write_bytes(b"not a png")
    else:
        write_images(root, split_folders=True)
        write_images(root / "test", classes=4)
    with pytest.raises(BadData, match=message):
        load_image_folder(root=str(root))


def test_arguments_are_checked_before_any_file_is_read(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        load_image_folder.check_arguments(root=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder.check_arguments(root=str(tmp_path), image_size=[0, 3])


def test_image_files_resizes_to_the_asked_size(tmp_path):
    root = write_images(tmp_path / "images", classes=2, per_class=1, size=(20, 30))
    files = sorted(root.glob("*/*.png"))
    images = ImageFiles(files, [0, 1], ["a", "b"], size=(6, 7), grayscale=False)
    x, label = images[1]
    assert x.shape == (3, 6, 7) and label == 1
