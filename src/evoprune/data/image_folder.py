"""A folder of images, one subfolder per class, streamed from disk (Pillow; no torchvision).

Two layouts::

    root/train/<class>/*.png   root/test/<class>/*.png    (test as given)
    root/<class>/*.png                                    (test held out: test_fraction)

Validation is carved from the training images by seed. Every image is decoded when a batch
needs it, so memory follows the batch, not the folder. Inputs are scaled to [0, 1] and
standardised per channel with statistics of a seeded sample of training images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from evoprune.data.cifar10 import crop_and_flip
from evoprune.data.datasets import DEFAULT_VAL_FRACTION, from_datasets, seeded_holdout
from evoprune.data.splits import BadData, DataSplits, check_fraction, checked_by
from evoprune.infra.validators import check_bool, check_int

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".tif", ".tiff", ".webp")


class ImageFiles(Dataset):
    """Images at ``files`` with class indices ``labels``: items are ``(input, label)`` with
    the input a float32 ``(channels, height, width)`` tensor, standardised by ``mean`` and
    ``std`` (one value per channel)."""

    def __init__(self, files: Sequence[Path], labels: Sequence[int], classes: Sequence[str], *,
                 size: tuple[int, int], grayscale: bool, mean: Sequence[float] = (0.0,),
                 std: Sequence[float] = (1.0,)) -> None:
        self.files, self.labels, self.classes = list(files), list(labels), list(classes)
        self.size, self.grayscale = size, grayscale
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.files)

    def pixels(self, index: int) -> torch.Tensor:
        """Image ``index`` scaled to [0, 1], before standardisation."""
        from PIL import Image

        with Image.open(self.files[index]) as image:
            image = image.convert("L" if self.grayscale else "RGB")
            if image.size != (self.size[1], self.size[0]):
                image = image.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(array))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return (self.pixels(index) - self.mean) / self.std, self.labels[index]


def _check(*, root, seed, image_size, grayscale, val_fraction, test_fraction, augment, workers,
           stats_samples) -> None:
    if not Path(root).expanduser().is_dir():
        raise ValueError(f"root={root} is not a folder; point data.root at the folder that "
                         "holds one subfolder of images per class (or train/ and test/ ones)")
    check_int("seed", seed)
    if image_size is not None:
        sizes = [image_size] if isinstance(image_size, int) else list(image_size)
        if len(sizes) not in (1, 2) or any(isinstance(s, bool) or not isinstance(s, int)
                                           or s < 1 for s in sizes):
            raise ValueError(f"image_size must be null (the images' own size), an integer or "
                             f"[height, width] of positive integers, got {image_size!r}")
    check_bool("grayscale", grayscale)
    check_bool("augment", augment)
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)
    check_int("workers", workers, 0)
    check_int("stats_samples", stats_samples, 1)


@checked_by(_check)
def load_image_folder(*, root: str, seed: int = 0, image_size: int | Sequence[int] | None = None,
                      grayscale: bool = False, val_fraction: float = DEFAULT_VAL_FRACTION,
                      test_fraction: float = 0.2, augment: bool = False, workers: int = 0,
                      stats_samples: int = 256) -> DataSplits:
    """A folder of class subfolders of images as streamed train/val/test splits.

    Args:
        root: holds ``train/`` and ``test/`` (each one subfolder per class), or the class
            subfolders themselves (then ``test_fraction`` of the images, by seed, is the test
            split).
        seed: seeds the held-out splits and the sample the statistics come from.
        image_size: resize every image to this (an integer: square; ``[height, width]``);
            null: all images must share one size.
        grayscale: one channel (else three, RGB).
        val_fraction, test_fraction: shares held out for validation (from the training
            images) and, with no ``test/`` folder, for testing.
        augment: random crops (4-pixel padding) and horizontal flips on training batches.
        workers: DataLoader worker processes decoding images (0: in the run's process).
        stats_samples: training images the per-channel mean and std are estimated on.
    """
    root = Path(root).expanduser()
    given_test = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if given_test else root
    classes = sorted(p.name for p in train_root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise BadData(f"{train_root} holds {len(classes)} class subfolder(s); an image folder "
                      "needs one subfolder of images per class, at least two")
    files, labels = _listing(train_root, classes)
    size = _image_size(files, image_size)
    if given_test:
        test_files, test_labels = _listing(root / "test", classes, known_only=True)
        _image_size(test_files, image_size, expected=size)
    else:
        kept, held = seeded_holdout(len(files), test_fraction, seed)
        test_files, test_labels = [files[i] for i in held], [labels[i] for i in held]
        files, labels = [files[i] for i in kept], [labels[i] for i in kept]
    mean, std = _statistics(ImageFiles(files, labels, classes, size=size, grayscale=grayscale),
                            stats_samples, seed)
    made = {"size": size, "grayscale": grayscale, "mean": mean, "std": std}
    train = ImageFiles(files, labels, classes, **made)
    test = ImageFiles(test_files, test_labels, classes, **made)
    if workers:  # the DataLoaders' worker count is what from_datasets keeps
        train, test = (DataLoader(d, num_workers=workers) for d in (train, test))
    return from_datasets(train, test, seed=seed, val_fraction=val_fraction,
                         num_classes=len(classes), augment=crop_and_flip if augment else None,
                         name=f"image_folder:{root.name}", source=f"data.root={root}")


def _listing(folder: Path, classes: list[str], *, known_only: bool = False
             ) -> tuple[list[Path], list[int]]:
    """Every image file under ``folder/<class>/`` and its class index."""
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    unknown = [name for name in found if name not in classes]
    if known_only and unknown:
        raise BadData(f"{folder} has class folders the training images do not: "
                      f"{', '.join(unknown)} (training classes: {', '.join(classes)})")
    files, labels = [], []
    for index, name in enumerate(classes):
        images = sorted(p for p in (folder / name).glob("*")
                        if p.suffix.lower() in EXTENSIONS) if (folder / name).is_dir() else []
        if not images and not known_only:
            raise BadData(f"{folder / name} holds no images ({', '.join(EXTENSIONS)})")
        files += images
        labels += [index] * len(images)
    if not files:
        raise BadData(f"{folder} holds no images in its class folders")
    return files, labels


def _image_size(files: list[Path], image_size, *, expected: tuple[int, int] | None = None
                ) -> tuple[int, int]:
    """(height, width) every image is read at: ``image_size``, else the images' own size,
    which must then be the same for all of them (each file's header is read: an unreadable
    file is named here, before any training)."""
    from PIL import Image, UnidentifiedImageError

    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        size = (size[0], size[0]) if len(size) == 1 else size
    else:
        size = expected
    for path in files:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError) as error:
            raise BadData(f"{path} is not a readable image: {error}") from error
        if image_size is None:
            if size is None:
                size = (height, width)
            elif (height, width) != size:
                raise BadData(f"{path} is {height}x{width} pixels, the first image "
                              f"{size[0]}x{size[1]}: set data.image_size to read every image "
                              "at one size")
    return size


def _statistics(images: ImageFiles, samples: int, seed: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of up to ``samples`` training images drawn by ``seed``."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(int(seed)))
    pixels = torch.stack([images.pixels(i) for i in order[:samples].tolist()])
    mean = pixels.mean(dim=(0, 2, 3))
    std = pixels.std(dim=(0, 2, 3)).clamp(min=1e-6)
    return mean.tolist(), std.tolist()
