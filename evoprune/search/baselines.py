"""Baselines: masks computed in one shot at the budget, no search.

A baseline is a function ``(BaselineContext) -> mask`` registered in :data:`BASELINES`; the run
finishes its mask exactly like a searched one (same fine-tuning, same measurements).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import nn

from evoprune.data import DataSplits
from evoprune.pruning.budget import uniform_mask
from evoprune.pruning.space import PruningSpace


@dataclass(frozen=True)
class BaselineContext:
    """Everything a baseline may use. Only training data may inform a mask (never val/test)."""

    model: nn.Module  # the trained dense model (do not modify)
    space: PruningSpace
    data: DataSplits
    budget: float
    seed: int


Baseline = Callable[[BaselineContext], np.ndarray]


def uniform_magnitude(context: BaselineContext) -> np.ndarray:
    """Same keep-ratio in every group, channels ranked by group magnitude (L1 or L2, set by
    ``pruning.importance_p``), the largest ratio whose MACs fit the budget."""
    return uniform_mask(context.space, context.budget)


BASELINES: dict[str, Baseline] = {"uniform_magnitude": uniform_magnitude}
