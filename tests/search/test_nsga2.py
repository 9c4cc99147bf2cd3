import json

import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.evaluate.latency import LatencySettings
from evoprune.pruning.space import PruningSpace
from evoprune.report.pareto import write_pareto
from evoprune.search.loop import run_search
from evoprune.search.nsga2 import NSGA2Search, ParetoFitness, ParetoIndividual
from evoprune.search.pareto import chance_accuracy, dominates, hypervolume, reference_point


@pytest.fixture
def problem(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    return space, Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)


def smallest_ratio(space):
    return float(space.macs_ratio(space.mask_from_counts([0] * len(space.groups))))


def points(front):
    return [(entry["val_acc"], entry["macs_ratio"]) for entry in front]


def test_fitness_weights_and_individual():
    assert ParetoFitness.weights == (1.0, -1.0)
    individual = ParetoIndividual([1, 0, 1])
    assert individual == [1, 0, 1] and not individual.fitness.valid


@pytest.mark.parametrize("encoding, size", [("mask", 8), ("ratios", 6)])
def test_front_is_non_dominated_and_spans_the_feasible_range(problem, encoding, size):
    space, evaluator = problem
    rows = []
    search = NSGA2Search(encoding=encoding, population_size=size, generations=3, seed=1)
    result = run_search(search, space, evaluator, constrained, 0.4, callback=rows.append)
    front = result.front
    assert front and rows == result.history
    assert [row["gen"] for row in result.history] == [0, 1, 2, 3]
    assert result.history[0]["evals"] == size
    assert 0 < result.evaluations <= result.requests <= size * 4
    ratios = [entry["macs_ratio"] for entry in front]
    assert ratios == sorted(ratios)
    assert all(smallest_ratio(space) - 1e-9 <= r <= 1.0 + 1e-9 for r in ratios)
    for a in points(front):
        assert not any(dominates(b, a) for b in points(front))
    assert len(set(points(front))) == len(front)
    # each entry describes its mask, and that mask has the recorded cost
    for entry in front:
        mask = space.from_description(entry["mask"])
        assert space.macs_ratio(mask) == pytest.approx(entry["macs_ratio"])
        assert space.macs(mask) == entry["macs"]
    # the first population spreads over budgets, so the front reaches far below the budget
    # (how far up it goes depends on where accuracy saturates: early on this small model)
    assert min(ratios) < 0.2 and len(front) >= 2


def test_result_meets_budget_and_is_the_best_feasible_front_member(problem):
    space, evaluator = problem
    search = NSGA2Search(population_size=8, generations=2, seed=0)
    result = run_search(search, space, evaluator, constrained, 0.4)
    assert result.objectives.macs_ratio <= 0.4
    space.check(result.mask)
    assert space.macs_ratio(result.mask) == pytest.approx(result.objectives.macs_ratio)
    feasible = [e for e in result.front if e["macs_ratio"] <= 0.4]
    assert max(e["val_acc"] for e in feasible) == result.objectives.val_acc
    assert result.history[-1]["best_acc"] == result.objectives.val_acc


def test_same_seed_same_front(problem, trained_residual, synthetic_data):
    space, _ = problem
    runs = []
    for seed in (7, 7, 8):
        search = NSGA2Search(population_size=8, generations=2, seed=seed)
        evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                              bn_recalibration_batches=0)
        result = run_search(search, space, evaluator, constrained, 0.4)
        runs.append((result.front, result))
    assert runs[0][0] == runs[1][0]
    assert runs[0][1].history == runs[1][1].history
    np.testing.assert_array_equal(runs[0][1].mask, runs[1][1].mask)
    assert runs[2][1].history != runs[0][1].history


def test_hypervolume_never_decreases_under_elitism(problem):
    space, evaluator = problem
    size = 8
    search = NSGA2Search(population_size=size, generations=4, seed=2)
    result = run_search(search, space, evaluator, constrained, 0.4)
    history = result.history
    archive = [row["hv_archive"] for row in history]
    assert archive == sorted(archive) and archive[0] > 0
    # selNSGA2 over parents + offspring keeps the whole first front of the union unless it has
    # more than population_size members (crowding then truncates it): in that case only the
    # archive's hypervolume is guaranteed not to shrink
    for before, after in zip(history, history[1:]):
        if after["front"] < size:
            assert after["hv"] >= before["hv"] - 1e-12
        assert after["hv"] <= after["hv_archive"] + 1e-12
    # at chance accuracy for the synthetic data's 4 classes, as the model's output says
    assert evaluator.num_classes == 4 and evaluator.chance == chance_accuracy(4)
    assert history[-1]["hv_archive"] == pytest.approx(
        hypervolume(points(result.front), reference_point(chance_accuracy(4))))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"encoding": "tree"},
         "encoding must be one of \\['auto', 'mask', 'ratios'\\], got 'tree'"),
        ({"population_size": 1}, "population_size must be an integer >= 2, got 1"),
        ({"generations": -1}, "generations must be an integer >= 0, got -1"),
        ({"mutation_prob": -0.1}, "mutation_prob must be a number in \\[0, 1\\], got -0.1"),
        ({"init_spread": -0.5}, "init_spread must be a finite number >= 0"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NSGA2Search(**kwargs)


def test_latency_cost_front_trades_accuracy_for_latency(trained_residual, synthetic_data,
                                                        fake_latency, tmp_path):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, cost="latency",
                          latency=LatencySettings(batch_size=8, repeats=1, warmup=0),
                          bn_recalibration_batches=0)
    search = NSGA2Search(population_size=8, generations=2, seed=1)
    result = run_search(search, space, evaluator, constrained, 0.5)
    assert result.objectives.cost_ratio <= 0.5 and "best_latency" in result.history[-1]
    front = [(e["val_acc"], e["latency_ratio"]) for e in result.front]
    assert [r for _, r in front] == sorted(r for _, r in front)
    assert not any(dominates(a, b) for a in front for b in front)
    for entry in result.front:
        assert entry["latency_ratio"] == pytest.approx(
            entry["latency_ms"] / evaluator.dense_latency_ms)
    write_pareto(result.front, tmp_path, reference=reference_point(chance_accuracy(4)),
                 cost_key="latency_ratio")
    saved = json.loads((tmp_path / "pareto.json").read_text())
    assert saved["objectives"] == {"val_acc": "max", "latency_ratio": "min"}
    reference = reference_point(chance_accuracy(4))
    assert saved["hypervolume"] == pytest.approx(hypervolume(front, reference))


def test_first_population_spans_the_cost_range_with_magnitude_anchors(problem):
    space, evaluator = problem
    size = 16
    search = NSGA2Search(population_size=size, generations=0, seed=0)
    run_search(search, space, evaluator, constrained, 0.4)
    masks = [search.encoding.decode(individual) for individual in search.population]
    ratios = sorted(float(space.macs_ratio(mask)) for mask in masks)
    smallest = smallest_ratio(space)
    # both ends of the feasible range, exactly: the smallest mask and the dense model
    assert ratios[0] == pytest.approx(smallest) and ratios[-1] == 1.0
    # the uniform-magnitude mask at the run's budget, as it is (where a GA would start)
    uniform = search.problem.uniform_mask()
    assert any(np.array_equal(mask, uniform) for mask in masks)
    # no stretch of the range is left empty: stratified targets, no gap above 3 slices' width
    assert max(np.diff(ratios)) <= 3 * (1.0 - smallest) / size
