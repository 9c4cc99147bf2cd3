import pytest

from evoprune.evaluate.evaluator import Objectives
from evoprune.evaluate.fitness import constrained, weighted


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
    with pytest.raises(ValueError, match="penalty must be >= 0, got -1"):
        constrained(objectives(0.9, 0.5), 0.5, penalty=-1)
    with pytest.raises(ValueError, match="weight must be >= 0, got -1"):
        weighted(objectives(0.9, 0.5), 0.5, weight=-1)
