"""What every searcher returns, and how it reports progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from evoprune.evaluate.evaluator import Objectives

if TYPE_CHECKING:  # annotations only: keeps this module free of import cycles
    from evoprune.evaluate.evaluator import Evaluator
    from evoprune.evaluate.fitness import Fitness
    from evoprune.pruning.space import PruningSpace

# Called once per generation / episode with flat, loggable numbers.
ProgressCallback = Callable[[Mapping[str, float]], None]


@dataclass
class SearchResult:
    """The best mask a search found within the budget, and how it got there."""

    mask: np.ndarray
    objectives: Objectives
    fitness: float
    history: list[dict] = field(default_factory=list)  # one row per generation / episode
    evaluations: int = 0  # masks run through the model
    requests: int = 0  # masks scored, cache hits included
    wall_time_s: float = 0.0


class Searcher(Protocol):
    """What ``run.py`` needs of a searcher (``search._target_``): a name for its row in
    ``results.json`` and a ``run`` that returns the best mask meeting the budget."""

    name: str

    def run(
        self,
        space: PruningSpace,
        evaluator: Evaluator,
        fitness: Fitness,
        budget: float,
        callback: ProgressCallback | None = None,
    ) -> SearchResult: ...


class BestFeasible:
    """Tracks the best candidate that meets the budget, over every candidate scored.

    Ties on fitness go to higher accuracy, then fewer MACs, so the answer does not depend on
    the order candidates were scored in.
    """

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.mask: np.ndarray | None = None
        self.objectives: Objectives | None = None
        self.fitness = -np.inf

    def offer(self, mask: np.ndarray, objectives: Objectives, fitness: float) -> None:
        if objectives.macs_ratio > self.budget + 1e-12:
            return
        key = (fitness, objectives.val_acc, -objectives.macs)
        if self.objectives is None or key > (
            self.fitness, self.objectives.val_acc, -self.objectives.macs
        ):
            self.mask, self.objectives, self.fitness = mask.copy(), objectives, fitness
