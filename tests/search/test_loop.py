"""The search driver with the smallest strategies: what it owns (best feasible, fallback,
counters, rows, front, checkpoints) holds whatever the strategy does."""

import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.infra.checkpoint import SearchCheckpoint
from evoprune.pruning.space import PruningSpace
from evoprune.search.base import AskTellStrategy, SelfDrivenStrategy
from evoprune.search.loop import run_search


class Fixed(AskTellStrategy):
    """Proposes given masks, one batch per step: a complete strategy in a dozen lines."""

    name, label, costs = "fixed", "fixed", ("macs",)

    def __init__(self, batches):
        self.batches = batches

    def bind(self, problem):
        self.problem, self.step = problem, 0

    def start(self):
        pass

    def total_steps(self):
        return len(self.batches)

    def done(self):
        return self.step >= len(self.batches)

    def ask(self):
        return self.batches[self.step]

    def tell(self, scored):
        self.step += 1
        return {"step": self.step - 1, "evals": len(scored)}

    def state_dict(self):
        return {"step": self.step}

    def load_state_dict(self, state):
        self.step = state["step"]


@pytest.fixture
def problem(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    return space, Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)


def test_best_feasible_counters_and_rows(problem):
    space, evaluator = problem
    full, small = space.full_mask(), space.mask_from_ratios([0.3] * len(space.groups))
    medium = space.mask_from_ratios([0.6] * len(space.groups))
    budget = float(space.macs_ratio(medium))
    rows = []
    result = run_search(Fixed([[full, small], [medium, small]]), space, evaluator, constrained,
                        budget, callback=rows.append)
    [small_o, medium_o] = evaluator.evaluate([small, medium])
    best = max((small_o, medium_o), key=lambda o: o.val_acc)
    assert result.objectives == best and result.requests == 4 and result.evaluations == 3
    assert rows == result.history and [r["evals"] for r in rows] == [2, 2]
    assert rows[0]["best_acc"] == small_o.val_acc  # the dense mask is over the budget
    assert rows[1]["best_acc"] == best.val_acc and rows[1]["best_macs"] == best.macs_ratio
    assert result.front is None
    # the step's own figures, from the masks scored in it (the step's name first)
    [full_o] = evaluator.evaluate([full])
    fitness = [constrained(o, budget) for o in (full_o, small_o)]
    assert list(rows[0])[:2] == ["step", "evals"]
    assert rows[0]["fit_max"] == max(fitness) and rows[0]["fit_avg"] == pytest.approx(
        np.mean(fitness))
    assert rows[0]["cost_avg"] == pytest.approx((1.0 + small_o.macs_ratio) / 2)
    assert rows[1]["best_fitness"] == result.fitness == constrained(best, budget)


def test_nothing_feasible_falls_back_to_the_fittest_shrunk_into_budget(problem):
    space, evaluator = problem
    result = run_search(Fixed([[space.full_mask()]]), space, evaluator, constrained, 0.3)
    assert result.mask is not None and result.objectives.macs_ratio <= 0.3


def test_multi_objective_strategies_get_the_front(problem):
    space, evaluator = problem

    class Front(Fixed):
        multi_objective = True

    masks = [space.mask_from_ratios([r] * len(space.groups)) for r in (0.2, 0.5, 1.0)]
    result = run_search(Front([masks]), space, evaluator, constrained, 0.5)
    assert [e["macs_ratio"] for e in result.front] == sorted(e["macs_ratio"] for e in result.front)
    assert "hv_archive" in result.history[0] and len(result.front) >= 1


def test_a_strategy_that_cannot_budget_the_cost_is_refused(problem):
    space, evaluator = problem
    evaluator.cost = "latency"  # only the name matters: the refusal comes before any scoring
    with pytest.raises(ValueError, match="the fixed search budgets macs, not latency"):
        run_search(Fixed([[space.full_mask()]]), space, evaluator, constrained, 0.5)


def test_checkpoints_hold_the_strategy_state_and_resume_skips_done_steps(
        problem, tmp_path, trained_residual, synthetic_data):
    space, evaluator = problem
    masks = [[space.mask_from_ratios([r] * len(space.groups))] for r in (0.2, 0.3, 0.4)]
    path = tmp_path / "search.pt"
    first = run_search(Fixed(masks), space, evaluator, constrained, 0.5,
                       checkpoint=SearchCheckpoint(path))
    saved = SearchCheckpoint(path, resume=True).load("fixed")
    assert saved["strategy"] == {"step": 3} and len(saved["history"]) == 3
    fresh = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    again = run_search(Fixed(masks), space, fresh, constrained, 0.5,
                       checkpoint=SearchCheckpoint(path, resume=True))
    # every step was done: the restored counters did not move, nothing was scored again
    assert (fresh.requests, fresh.evaluations) == (saved["evaluator"]["requests"],
                                                   saved["evaluator"]["evaluations"])
    np.testing.assert_array_equal(first.mask, again.mask)
    assert again.history == first.history and again.evaluations == first.evaluations


def test_a_self_driven_strategy_scores_records_and_gets_its_summary(problem):
    space, evaluator = problem
    masks = [space.mask_from_ratios([r] * len(space.groups)) for r in (0.3, 0.6)]

    class OwnLoop(SelfDrivenStrategy):
        name = label = "own"

        def bind(self, problem):
            self.problem = problem

        def start(self):
            pass

        def total_steps(self):
            return 2

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

        def drive(self, driver):
            for step, mask in enumerate(masks):
                [scored] = self.problem.score([mask])
                driver.record({"episode": step, "acc": scored.objectives.val_acc})

        def summary(self, history):
            return {"episodes": len(history)}

    result = run_search(OwnLoop(), space, evaluator, constrained, 0.7)
    assert [row["episode"] for row in result.history] == [0, 1]
    assert result.extra == {"episodes": 2} and result.evaluations == 2


def test_an_object_that_is_no_strategy_is_refused(problem):
    space, evaluator = problem
    with pytest.raises(TypeError, match="subclasses AskTellStrategy or SelfDrivenStrategy"):
        run_search(object(), space, evaluator, constrained, 0.5)


def test_a_strategy_missing_a_step_method_cannot_be_made():
    class NoTell(AskTellStrategy):
        name = label = "broken"

        def bind(self, problem): ...
        def start(self): ...
        def state_dict(self): ...
        def load_state_dict(self, state): ...
        def total_steps(self): ...
        def ask(self): ...
        def done(self): ...

    with pytest.raises(TypeError, match="tell"):
        NoTell()
