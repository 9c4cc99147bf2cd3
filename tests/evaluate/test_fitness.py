import pytest

from evoprune.evaluate.evaluator import Objectives
from evoprune.evaluate.fitness import amc, constrained, mnasnet, weighted


def objectives(acc, ratio):
    return Objectives(val_acc=acc, macs=int(ratio * 1000), params=1, macs_ratio=ratio)


def test_constrained_is_accuracy_within_budget():
    assert constrained(objectives(0.9, 0.5), 0.5) == 0.9
    assert constrained(objectives(0.9, 0.1), 0.5) == 0.9


def test_constrained_penalty_grows_with_excess():
    budget = 0.5
    values = [constrained(objectives(0.9, r), budget, penalty=2.0) for r in (0.55, 0.6, 0.75)]
    assert values == pytest.approx([0.9 - 0.2, 0.9 - 0.4, 0.9 - 1.0])
    assert values[0] > values[1] > values[2]


def test_weighted_trades_accuracy_for_macs():
    assert weighted(objectives(0.9, 0.4), 0.5, weight=0.5) == pytest.approx(0.7)
    assert weighted(objectives(0.8, 0.1), 0.5, weight=0.5) > weighted(objectives(0.9, 0.4), 0.5)


def test_negative_parameters_refused():
    with pytest.raises(ValueError, match="penalty must be a finite number >= 0, got -1"):
        constrained(objectives(0.9, 0.5), 0.5, penalty=-1)
    with pytest.raises(ValueError, match="weight must be a finite number >= 0, got -1"):
        weighted(objectives(0.9, 0.5), 0.5, weight=-1)


def test_objectives_cost_defaults_to_the_macs_ratio():
    default = objectives(0.9, 0.3)
    assert default.cost_ratio == default.macs_ratio == 0.3 and default.latency_ms is None


def test_fitness_functions_budget_the_cost_ratio():
    # MACs well within the budget, measured latency 20 % over it: the latency is what counts
    timed = Objectives(val_acc=0.9, macs=400, params=1, macs_ratio=0.4, latency_ms=1.2,
                       cost_ratio=0.6)
    assert constrained(timed, 0.5, penalty=2.0) == pytest.approx(0.9 - 2.0 * 0.2)
    assert weighted(timed, 0.5, weight=0.5) == pytest.approx(0.9 - 0.5 * 0.6)
    assert mnasnet(timed, 0.5) == pytest.approx(0.9 * 1.2 ** -0.07)
    assert mnasnet(timed, 0.5) < mnasnet(objectives(0.9, 0.4), 0.5)
    # amc is defined on absolute MACs: the latency does not enter it
    assert amc(timed, 0.5) == amc(objectives(0.9, 0.4), 0.5)
    with pytest.raises(ValueError, match="needs cost_ratio > 0, got 0.0"):
        mnasnet(Objectives(val_acc=0.9, macs=400, params=1, macs_ratio=0.4, cost_ratio=0.0), 0.5)
