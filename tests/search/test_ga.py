import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.evaluate.latency import LatencySettings
from evoprune.models import MLP
from evoprune.pruning.budget import fill_to_budget, uniform_mask
from evoprune.pruning.space import PruningSpace
from evoprune.search.cost import smallest_mask
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import best_cost_text, run_search


@pytest.fixture
def problem(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    return space, Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)


@pytest.mark.parametrize("encoding", ["mask", "ratios"])
def test_search_meets_budget_and_logs_every_generation(problem, encoding):
    space, evaluator = problem
    rows = []
    search = GeneticSearch(encoding=encoding, population_size=8, generations=3, seed=1)
    result = run_search(search, space, evaluator, constrained, 0.4, callback=rows.append)
    assert result.objectives.macs_ratio <= 0.4
    assert space.macs_ratio(result.mask) == pytest.approx(result.objectives.macs_ratio)
    space.check(result.mask)
    assert [row["gen"] for row in result.history] == [0, 1, 2, 3] and rows == result.history
    assert result.history[0]["evals"] == 8
    # elitism: the best fitness in the population never gets worse
    best = [row["fit_max"] for row in result.history]
    assert best == sorted(best)
    assert 0 < result.evaluations <= result.requests <= 8 * 4


def test_same_seed_same_result(problem, trained_residual, synthetic_data):
    space, _ = problem
    results = []
    for _ in range(2):
        evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                              bn_recalibration_batches=0)
        search = GeneticSearch(population_size=8, generations=3, seed=7)
        results.append(run_search(search, space, evaluator, constrained, 0.4))
    np.testing.assert_array_equal(results[0].mask, results[1].mask)
    assert results[0].history == results[1].history
    other = run_search(GeneticSearch(population_size=8, generations=3, seed=8), space,
                       Evaluator(trained_residual, space, synthetic_data.val,
                                 bn_recalibration_batches=0), constrained, 0.4)
    assert other.history != results[0].history


@pytest.mark.parametrize("encoding", ["mask", "ratios"])
def test_repair_makes_every_candidate_feasible_and_full(problem, encoding, monkeypatch):
    """With repair every candidate scored is within budget with no dropped unit that would
    still fit (this small net's units cost up to 2% of its MACs each); without it, the first
    generation's perturbed genomes leave more budget unused or break it."""
    space, evaluator = problem
    costs = {}
    for repair in (True, False):
        scored = []
        evaluate = evaluator.evaluate
        monkeypatch.setattr(evaluator, "evaluate",
                            lambda masks, seen=scored, score=evaluate: seen.extend(masks)
                            or score(masks))
        search = GeneticSearch(encoding=encoding, population_size=8, generations=2, seed=3,
                               repair=repair)
        run_search(search, space, evaluator, constrained, 0.3)
        monkeypatch.undo()
        costs[repair] = space.macs_ratio(np.stack(scored))
        if repair:
            for mask in scored:
                assert np.array_equal(fill_to_budget(space, mask, 0.3), mask)
        for individual in search.population:  # the genes hold the repaired mask
            mask = search.encoding.decode(individual)
            assert space.macs_ratio(mask) <= 0.3
    assert np.all((costs[True] >= 0.95 * 0.3) & (costs[True] <= 0.3))
    assert np.any((costs[False] < 0.95 * 0.3) | (costs[False] > 0.3))


def test_answer_is_at_least_as_good_as_the_uniform_seed(problem):
    space, evaluator = problem
    result = run_search(GeneticSearch(population_size=8, generations=2, seed=0), space,
                        evaluator, constrained, 0.3)
    [uniform] = evaluator.evaluate([uniform_mask(space, 0.3)])
    assert result.objectives.val_acc >= uniform.val_acc


def test_random_init_only_still_returns_feasible_answer(problem):
    space, evaluator = problem
    search = GeneticSearch(population_size=4, generations=1, magnitude_init=0.0, seed=3)
    result = run_search(search, space, evaluator, constrained, 0.15)
    assert result.objectives.macs_ratio <= 0.15


def test_latency_cost_search_meets_the_latency_budget(synthetic_data):
    # real CPU timings; wide layers, so that compute rather than overhead sets the latency
    model = MLP((1, 32), 4, hidden=(256, 256)).eval()
    space = PruningSpace(model, synthetic_data.train.x[:2])
    evaluator = Evaluator(model, space, synthetic_data.val, cost="latency",
                          latency=LatencySettings(batch_size=64, repeats=5, warmup=1),
                          bn_recalibration_batches=0)
    [smallest] = evaluator.evaluate([smallest_mask(space)])  # timed once, then cached
    budget = min(1.0, max(0.7, smallest.cost_ratio))
    rows = []
    result = run_search(GeneticSearch(population_size=6, generations=2, seed=0), space,
                        evaluator, constrained, budget, callback=rows.append)
    found = result.objectives
    assert found.latency_ms > 0 and found.cost_ratio <= budget
    assert found.cost_ratio == pytest.approx(found.latency_ms / evaluator.dense_latency_ms)
    assert evaluator.evaluate([result.mask]) == [found]  # the measurement the search compared
    assert rows[-1]["best_latency"] == found.cost_ratio
    assert best_cost_text(rows[-1]) == f"{found.cost_ratio:.3f} of dense latency"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"encoding": "tree"},
         "encoding must be one of \\['auto', 'mask', 'ratios'\\], got 'tree'"),
        ({"population_size": 1}, "population_size must be an integer >= 2, got 1"),
        ({"elite": 8, "population_size": 8}, "elite must be in"),
        ({"crossover_prob": 1.5}, "crossover_prob must be a number in \\[0, 1\\], got 1.5"),
        ({"repair": "yes"}, "repair must be true or false, got 'yes'"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GeneticSearch(**kwargs)


@pytest.mark.parametrize("strategy", ["ga", "nsga2"])
def test_warm_start_masks_join_the_first_population(problem, strategy):
    from evoprune.pruning.budget import fit_to_budget
    from evoprune.search.nsga2 import NSGA2Search

    space, evaluator = problem
    # a mask at the budget that neither search would make (the GA repairs to the budget)
    thin_first = [max(g.min_keep, g.size // 4) if i == 0 else g.size
                  for i, g in enumerate(space.groups)]
    start = fit_to_budget(space, space.mask_from_counts(thin_first), 0.4)

    def first_population(**starts):
        search = (GeneticSearch if strategy == "ga" else NSGA2Search)(
            population_size=8, generations=0, seed=3)
        run_search(search, space, evaluator, constrained, 0.4, **starts)
        return [search.encoding.decode(individual) for individual in search.population]

    assert any(np.array_equal(mask, start) for mask in first_population(starts=[start]))
    assert not any(np.array_equal(mask, start) for mask in first_population())


def test_auto_encoding_is_a_mask_for_channels_and_ratios_for_weights(
        problem, trained_residual, synthetic_data):
    from evoprune.pruning.unstructured import UnstructuredSpace

    space, evaluator = problem
    weights = UnstructuredSpace(trained_residual, synthetic_data.train.x[:2])
    for pruning_space, encoding in ((space, "mask"), (weights, "ratios")):
        search = GeneticSearch(population_size=4, generations=0, seed=0)
        run_search(search, pruning_space, Evaluator(trained_residual, pruning_space,
                                                    synthetic_data.val,
                                                    bn_recalibration_batches=0),
                   constrained, 0.5)
        assert search.encoding.name == encoding
