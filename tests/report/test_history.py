"""search_history.csv and convergence.png from every strategy's rows."""

import csv
import math

import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.pruning.space import PruningSpace
from evoprune.report.history import plot_convergence, write_history
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import run_search
from evoprune.search.nsga2 import NSGA2Search
from evoprune.search.random_search import RandomSearch
from evoprune.search.rl import RLSearch

BUDGET = 0.4
# what every strategy's rows carry, besides its own figures
FIGURES = ["fit_max", "fit_avg", "cost_avg", "best_fitness", "best_acc", "best_macs"]
STRATEGIES = {  # each: the strategy, its step's name, its number of steps
    "ga": (lambda: GeneticSearch(population_size=6, generations=2, seed=0), "gen", 3),
    "nsga2": (lambda: NSGA2Search(population_size=4, generations=1, seed=0), "gen", 2),
    "random": (lambda: RandomSearch(samples=10, batch_size=4, seed=0), "step", 3),
    "rl": (lambda: RLSearch(episodes=4, warmup_episodes=2, envs=2, net_arch=[16], seed=0),
           "episode", 4),
}


@pytest.fixture(scope="module")
def space(trained_residual, synthetic_data):
    return PruningSpace(trained_residual, synthetic_data.train.x[:2])


def read_csv(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_one_row_per_step_with_fitness_and_cost(name, space, trained_residual, synthetic_data,
                                                tmp_path):
    make, step, steps = STRATEGIES[name]
    evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                          calibration=synthetic_data.train)
    result = run_search(make(), space, evaluator, constrained, BUDGET)
    paths = write_history(result.history, tmp_path, budget=BUDGET)
    assert paths == {"csv": tmp_path / "search_history.csv",
                     "png": tmp_path / "convergence.png"}
    columns, rows = read_csv(paths["csv"])
    assert columns[0] == step and set(FIGURES) <= set(columns)
    assert [int(row[step]) for row in rows] == list(range(steps))
    for row, recorded in zip(rows, result.history):
        assert {key: float(row[key]) for key in FIGURES} == pytest.approx(
            {key: recorded[key] for key in FIGURES})
        assert float(row["fit_avg"]) <= float(row["fit_max"])
        # the best feasible candidate so far meets the budget; the step's mean may not
        assert float(row["best_macs"]) <= BUDGET and 0 < float(row["cost_avg"]) <= 1
    assert float(rows[-1]["best_fitness"]) == pytest.approx(result.fitness)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_missing_figures_leave_empty_cells(tmp_path):
    rows = [{"gen": 0, "fit_max": 0.5}, {"gen": 1, "fit_max": 0.6, "best_macs": 0.3}]
    columns, written = read_csv(write_history(rows, tmp_path)["csv"])
    assert columns == ["gen", "fit_max", "best_macs"]
    assert written[0]["best_macs"] == "" and written[1]["best_macs"] == "0.3"


def test_plot_draws_fitness_cost_and_budget():
    rows = [{"episode": i, "fit_max": 0.5 + i / 10, "fit_avg": 0.4 + i / 10, "cost_avg": 0.5,
             "best_fitness": 0.5 + i / 10, "best_acc": 0.5, "best_latency": 0.3 - i / 100,
             "best_macs": 0.4} for i in range(3)]
    fitness_axes, cost_axes = plot_convergence(rows, budget=0.35).axes
    lines = {line.get_label(): line for line in fitness_axes.get_lines()}
    assert set(lines) == {"mean of the step", "best of the step", "best feasible so far"}
    assert list(lines["best of the step"].get_ydata()) == pytest.approx([0.5, 0.6, 0.7])
    assert list(lines["mean of the step"].get_xdata()) == [0, 1, 2]
    costs = {line.get_label(): line for line in cost_axes.get_lines()}
    # with latency as the cost, the best candidate's latency ratio is the cost drawn
    assert list(costs["best feasible so far"].get_ydata()) == pytest.approx([0.3, 0.29, 0.28])
    assert list(costs["budget 0.35"].get_ydata()) == [0.35, 0.35]
    assert cost_axes.get_xlabel() == "episode" and "latency" in cost_axes.get_ylabel()


def test_rows_from_an_older_checkpoint_plot_without_the_new_figures():
    rows = [{"gen": 0, "best_acc": 0.5, "best_macs": 0.4}]
    [fitness_axes, _] = plot_convergence(rows).axes
    assert all(math.isnan(line.get_ydata()[0]) for line in fitness_axes.get_lines())


def test_no_rows_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one row"):
        write_history([], tmp_path)
