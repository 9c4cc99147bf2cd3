import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.latency import LatencySettings
from evoprune.pruning.budget import InfeasibleBudgetError, shrink_to_budget, uniform_mask
from evoprune.pruning.space import PruningSpace
from evoprune.search.cost import (
    check_search_budget,
    shrink_within,
    smallest_mask,
    uniform_mask_within,
)

QUICK = LatencySettings(batch_size=8, repeats=1, warmup=0)


@pytest.fixture
def space(trained_residual, synthetic_data):
    return PruningSpace(trained_residual, synthetic_data.train.x[:2])


@pytest.fixture
def timed(space, trained_residual, synthetic_data, fake_latency):
    return Evaluator(trained_residual, space, synthetic_data.val, cost="latency", latency=QUICK,
                     bn_recalibration_batches=0)


def test_macs_cost_is_the_analytic_helpers(space, trained_residual, synthetic_data):
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    check_search_budget(space, evaluator, 0.3)
    np.testing.assert_array_equal(uniform_mask_within(space, evaluator, 0.4),
                                  uniform_mask(space, 0.4))
    assert evaluator.evaluations == 0  # MACs are analytic: nothing was scored
    mask, objectives = shrink_within(space, evaluator, space.full_mask(), 0.3)
    np.testing.assert_array_equal(mask, shrink_to_budget(space, space.full_mask(), 0.3))
    assert objectives.cost_ratio == objectives.macs_ratio <= 0.3


def test_latency_budget_below_the_smallest_mask_refused(space, timed):
    [smallest] = timed.evaluate([smallest_mask(space)])
    budget = round(smallest.cost_ratio - 0.01, 4)
    assert budget > space.macs_ratio(smallest_mask(space))  # feasible in MACs, not in latency
    expected = np.ceil(smallest.cost_ratio * 1e4) / 1e4
    with pytest.raises(InfeasibleBudgetError, match=f"budget={budget} cannot be met in "
                       f"latency.*use budget >= {expected:.4f}"):
        check_search_budget(space, timed, budget)
    check_search_budget(space, timed, smallest.cost_ratio)  # exactly at it: fine


def test_uniform_start_meets_the_latency_budget(space, timed):
    budget = 0.4
    mask = uniform_mask_within(space, timed, budget)
    [start] = timed.evaluate([mask])
    assert start.cost_ratio <= budget
    # the fixed overhead makes the MACs-uniform mask too slow: the start keeps fewer units
    [by_macs] = timed.evaluate([uniform_mask(space, budget)])
    assert by_macs.cost_ratio > budget and start.macs < by_macs.macs
    ratios = space.keep_counts(mask) / [g.size for g in space.groups]
    assert np.ptp(ratios) < 0.2  # the same keep ratio in every group, up to rounding


def test_shrink_meets_the_latency_budget(space, timed):
    mask, objectives = shrink_within(space, timed, space.full_mask(), 0.4)
    assert objectives.cost_ratio <= 0.4 < timed.evaluate([space.full_mask()])[0].cost_ratio
    assert timed.evaluate([mask]) == [objectives]
    assert space.macs_ratio(mask) > space.macs_ratio(smallest_mask(space))  # not the last resort


def test_smallest_mask_no_faster_than_dense_refused(space, trained_residual, synthetic_data,
                                                    monkeypatch):
    from evoprune.evaluate import evaluator as evaluator_module

    monkeypatch.setattr(evaluator_module, "measure_latency_ms", lambda *args, **kwargs: 2.0)
    flat = Evaluator(trained_residual, space, synthetic_data.val, cost="latency", latency=QUICK,
                     bn_recalibration_batches=0)
    with pytest.raises(InfeasibleBudgetError, match="the smallest mask timed 2.000 ms, no faster "
                       "than the dense model \\(2.000 ms\\): CPU timings are unsteady"):
        check_search_budget(space, flat, 1.0)
