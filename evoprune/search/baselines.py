"""Magnitude baselines: masks computed in one shot at the budget, no search."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evoprune.pruning.budget import uniform_mask
from evoprune.pruning.space import PruningSpace

Baseline = Callable[[PruningSpace, float], np.ndarray]

BASELINES: dict[str, Baseline] = {
    # Same keep-ratio in every group, channels ranked by group magnitude (L1 or L2, set by
    # pruning.importance_p), the largest ratio whose MACs fit the budget.
    "uniform_magnitude": uniform_mask,
}
