"""Data of your own, as evoprune takes it: a function returning ``evoprune.data.DataSplits``.

    PYTHONPATH=/path/to/this/folder python -m evoprune data=custom \
        data._target_=my_data.load_waves +data.num_samples=1200

evoprune passes ``seed`` (the run's) because the function takes it. Your arrays go through
``make_splits``, which carves a stratified validation split from the training part,
standardises all three splits with the training part's statistics and checks shapes and labels.
"""

import numpy as np

from evoprune.data import DataSplits, make_splits


def load_waves(seed: int, num_samples: int = 1000) -> DataSplits:
    """Noisy sine waves of 4 frequencies, 32 steps each: 1 channel, 4 classes."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, num_samples)
    steps = np.linspace(0, 2 * np.pi, 32)
    waves = np.sin(np.outer(labels + 1, steps) + rng.uniform(0, 2 * np.pi, (num_samples, 1)))
    x = (waves + rng.normal(0, 0.5, waves.shape))[:, None, :]  # (N, channels=1, 32)
    test = num_samples // 5
    return make_splits(x[test:], labels[test:], x[:test], labels[:test], val_fraction=0.2,
                       seed=seed, num_classes=4, input_shape=(1, 32), name="waves")
