"""Fitness functions: pure maps from a candidate's objectives and the budget to one number.

Each takes ``(objectives, budget)`` plus its own keyword parameters (bound with
``functools.partial`` or Hydra's ``_partial_``) and returns a value to maximise. Searches report
the best candidate that meets the budget, whatever the fitness, so a fitness may trade accuracy
against cost freely.

The cost is ``objectives.cost_ratio``: the MACs ratio by default, the measured latency ratio
with ``evaluator.cost=latency``. ``amc`` is the exception: it is defined on absolute MACs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from evoprune.evaluate.evaluator import Objectives
from evoprune.infra.validators import check_number

Fitness = Callable[[Objectives, float], float]


def constrained(objectives: Objectives, budget: float, *, penalty: float = 2.0) -> float:
    """Validation accuracy, minus ``penalty`` per unit of relative cost excess over the budget.

    Within budget the fitness is the accuracy; a candidate with ``cost_ratio = budget * (1 + e)``
    loses ``penalty * e``, so slightly infeasible candidates still guide the search.
    """
    check_number("penalty", penalty, low=0)
    excess = max(0.0, objectives.cost_ratio - budget) / budget
    return objectives.val_acc - penalty * excess


def weighted(objectives: Objectives, budget: float, *, weight: float = 0.5) -> float:
    """Validation accuracy minus ``weight`` times the cost ratio (the budget only picks the
    final answer)."""
    check_number("weight", weight, low=0)
    return objectives.val_acc - weight * objectives.cost_ratio


def amc(objectives: Objectives, budget: float) -> float:
    """AMC's resource-aware reward: ``-(1 - val_acc) * log(MACs)`` (He et al., 2018).

    The error is scaled by the log of the absolute MACs, so cheaper candidates lose less per
    point of error; the budget is enforced elsewhere (AMC's action wall), not by this value.
    It uses absolute MACs by definition, whatever ``evaluator.cost`` says.
    """
    if objectives.macs < 1:
        raise ValueError(f"the amc fitness needs MACs >= 1, got {objectives.macs}")
    return -(1.0 - objectives.val_acc) * math.log(objectives.macs)


def mnasnet(objectives: Objectives, budget: float, *, w: float = -0.07) -> float:
    """MnasNet's soft-constrained objective: ``val_acc * (cost_ratio / budget) ** w``.

    With ``w < 0`` a candidate over the budget is penalised smoothly and one under it is
    rewarded slightly (Tan et al., 2019, use ``w = -0.07`` on both sides, with measured
    latency as the cost).
    """
    if not (math.isfinite(w) and w <= 0):
        raise ValueError(f"w must be a finite number <= 0, got {w}")
    if objectives.cost_ratio <= 0:
        raise ValueError(f"the mnasnet fitness needs cost_ratio > 0, got {objectives.cost_ratio}")
    return objectives.val_acc * (objectives.cost_ratio / budget) ** w


FITNESS_FUNCTIONS: dict[str, Fitness] = {
    "constrained": constrained,
    "weighted": weighted,
    "amc": amc,
    "mnasnet": mnasnet,
}
