import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.pruning.space import PruningSpace
from evoprune.search.loop import run_search
from evoprune.search.random_search import RandomSearch


@pytest.fixture
def problem(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    return space, Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)


class Recording:
    """An evaluator stand-in that remembers every mask it was asked to score."""

    def __init__(self, evaluator):
        self.evaluator, self.masks = evaluator, []
        self.cost = evaluator.cost

    def __getattr__(self, name):
        return getattr(self.evaluator, name)

    def evaluate(self, masks):
        self.masks.extend(np.array(m) for m in masks)
        return self.evaluator.evaluate(masks)


@pytest.mark.parametrize("encoding", ["ratios", "mask"])
@pytest.mark.parametrize("budget", [0.6, 0.3, 0.15])
def test_every_sample_meets_the_budget(problem, encoding, budget):
    space, evaluator = problem
    recording = Recording(evaluator)
    rows = []
    result = run_search(RandomSearch(encoding=encoding, samples=20, batch_size=8, seed=1),
                        space, recording, constrained, budget, callback=rows.append)
    assert len(recording.masks) == 20
    assert max(space.macs_ratio(np.stack(recording.masks))) <= budget + 1e-12
    assert [row["step"] for row in rows] == [0, 1, 2] and [r["evals"] for r in rows] == [8, 8, 4]
    assert all(row["feasible"] == 1.0 for row in rows)
    assert result.objectives.macs_ratio <= budget and result.evaluations <= 20
    # samples are spread out, not all at the budget's edge or at one shape
    counts = {tuple(space.keep_counts(m)) for m in recording.masks}
    assert len(counts) >= 15


def test_ratios_keep_units_by_magnitude_and_masks_pick_random_units(problem):
    space, evaluator = problem
    ratios, masks = Recording(evaluator), Recording(evaluator)
    run_search(RandomSearch(encoding="ratios", samples=8, seed=0), space, ratios, constrained, 0.4)
    run_search(RandomSearch(encoding="mask", samples=8, seed=0), space, masks, constrained, 0.4)
    for mask in ratios.masks:
        np.testing.assert_array_equal(mask, space.mask_from_counts(space.keep_counts(mask)))
    assert any(not np.array_equal(m, space.mask_from_counts(space.keep_counts(m)))
               for m in masks.masks)


def test_same_seed_same_search_other_seed_other_search(problem, trained_residual, synthetic_data):
    space, _ = problem

    def search(seed):
        evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                              bn_recalibration_batches=0)
        return run_search(RandomSearch(samples=16, batch_size=8, seed=seed), space, evaluator,
                          constrained, 0.4)

    first, again, other = search(5), search(5), search(6)
    np.testing.assert_array_equal(first.mask, again.mask)
    assert first.history == again.history and first.history != other.history


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"encoding": "tree"}, "encoding must be one of \\['mask', 'ratios'\\], got 'tree'"),
        ({"samples": 0}, "samples must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RandomSearch(**kwargs)
