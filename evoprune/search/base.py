"""What every searcher returns, and how it reports progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from evoprune.evaluate.evaluator import Objectives

if TYPE_CHECKING:  # annotations only: keeps this module free of import cycles
    from evoprune.evaluate.evaluator import Evaluator
    from evoprune.evaluate.fitness import Fitness
    from evoprune.infra.checkpoint import SearchCheckpoint
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
    ``results.json`` and a ``run`` that returns the best mask meeting the budget, saving its
    state to ``checkpoint`` as it goes and continuing from the saved state when resuming.

    A searcher that budgets whatever the evaluator's cost is (``Objectives.cost_ratio``) says
    so with a class attribute ``costs = ("macs", "latency")``; without one, ``run.py`` allows
    only ``fitness.cost=macs``.
    """

    name: str

    def run(
        self,
        space: PruningSpace,
        evaluator: Evaluator,
        fitness: Fitness,
        budget: float,
        callback: ProgressCallback | None = None,
        checkpoint: SearchCheckpoint | None = None,
    ) -> SearchResult: ...


class BestFeasible:
    """Tracks the best candidate that meets the budget (``cost_ratio <= budget``), over every
    candidate scored.

    Ties on fitness go to higher accuracy, then lower cost, then fewer MACs, so the answer does
    not depend on the order candidates were scored in.
    """

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.mask: np.ndarray | None = None
        self.objectives: Objectives | None = None
        self.fitness = -np.inf

    def offer(self, mask: np.ndarray, objectives: Objectives, fitness: float) -> None:
        if objectives.cost_ratio > self.budget + 1e-12:
            return
        if self.objectives is None or _rank(objectives, fitness) > _rank(self.objectives,
                                                                         self.fitness):
            self.mask, self.objectives, self.fitness = mask.copy(), objectives, fitness

    def state_dict(self) -> dict:
        return {"mask": None if self.mask is None else torch.from_numpy(self.mask),
                "objectives": None if self.objectives is None else asdict(self.objectives),
                "fitness": float(self.fitness)}

    def load_state_dict(self, state: dict) -> None:
        self.mask = None if state["mask"] is None else state["mask"].numpy()
        self.objectives = None if state["objectives"] is None else Objectives(**state["objectives"])
        self.fitness = state["fitness"]


def _rank(objectives: Objectives, fitness: float) -> tuple:
    return (fitness, objectives.val_acc, -objectives.cost_ratio, -objectives.macs)


def best_cost_fields(best: BestFeasible, cost: str) -> dict[str, float]:
    """A progress row's cost of the best feasible candidate so far (NaN before there is one):
    ``best_macs``, its MACs ratio, and with latency as the cost ``best_latency``, its latency
    ratio (what the budget limits)."""
    objectives = best.objectives
    fields = {"best_macs": float(objectives.macs_ratio) if objectives else float("nan")}
    if cost == "latency":
        fields["best_latency"] = float(objectives.cost_ratio) if objectives else float("nan")
    return fields


def best_cost_text(row: Mapping[str, float]) -> str:
    """``0.441 of dense MACs`` (or ``of dense latency``) for a row with :func:`best_cost_fields`."""
    if "best_latency" in row:
        return f"{row['best_latency']:.3f} of dense latency"
    return f"{row['best_macs']:.3f} of dense MACs"
