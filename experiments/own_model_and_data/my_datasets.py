"""Data of your own as torch Datasets: a function returning ``(train, test)``.

    PYTHONPATH=/path/to/this/folder python -m evoprune data=custom \
        data._target_=my_datasets.load_waves_datasets model=cnn1d

evoprune passes ``seed`` (the run's) because the function takes it. It reads the input shape
from the first training sample and the class count from the training labels, carves a seeded
10% of ``train`` for validation, and streams every split batch by batch. Inputs are used as
they come, so they are standardised here, with the training part's statistics.
"""

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset


def load_waves_datasets(seed: int = 0, num_samples: int = 1200) -> tuple[Dataset, Dataset]:
    """Noisy sine, square and sawtooth waves, 64 steps each: 1 channel, 3 classes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, num_samples)
    cycles = rng.uniform(2, 4, (num_samples, 1))                  # periods per signal
    phase = cycles * np.linspace(0, 1, 64) + rng.uniform(0, 1, (num_samples, 1))
    shapes = np.stack([np.sin(2 * np.pi * phase),                 # class 0: sine
                       np.sign(np.sin(2 * np.pi * phase)),        # class 1: square
                       2 * (phase % 1) - 1])                      # class 2: sawtooth
    waves = shapes[labels, np.arange(num_samples)]
    x = (waves + rng.normal(0, 0.3, waves.shape))[:, None, :]     # (N, channels=1, 64)
    test = num_samples // 5
    mean, std = x[test:].mean(), x[test:].std()                   # training part only
    x = torch.from_numpy(((x - mean) / std).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    return TensorDataset(x[test:], y[test:]), TensorDataset(x[:test], y[:test])
