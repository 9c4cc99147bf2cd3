"""Fitness functions: pure maps from a candidate's objectives and the budget to one number.

Each takes ``(objectives, budget)`` plus its own keyword parameters (bound with
``functools.partial`` or Hydra's ``_partial_``) and returns a value to maximise. Searches report
the best candidate that meets the budget, whatever the fitness, so a fitness may trade accuracy
against MACs freely.
"""

from __future__ import annotations

from collections.abc import Callable

from evoprune.evaluate.evaluator import Objectives

Fitness = Callable[[Objectives, float], float]


def constrained(objectives: Objectives, budget: float, *, penalty: float = 2.0) -> float:
    """Validation accuracy, minus ``penalty`` per unit of relative MACs excess over the budget.

    Within budget the fitness is the accuracy; a candidate with ``macs_ratio = budget * (1 + e)``
    loses ``penalty * e``, so slightly infeasible candidates still guide the search.
    """
    if penalty < 0:
        raise ValueError(f"fitness.penalty must be >= 0, got {penalty}")
    excess = max(0.0, objectives.macs_ratio - budget) / budget
    return objectives.val_acc - penalty * excess


def weighted(objectives: Objectives, budget: float, *, weight: float = 0.5) -> float:
    """Validation accuracy minus ``weight`` times the MACs ratio (the budget only picks the
    final answer)."""
    if weight < 0:
        raise ValueError(f"fitness.weight must be >= 0, got {weight}")
    return objectives.val_acc - weight * objectives.macs_ratio


FITNESS_FUNCTIONS: dict[str, Fitness] = {"constrained": constrained, "weighted": weighted}
