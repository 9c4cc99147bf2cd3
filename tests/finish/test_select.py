"""Two-stage selection: finalists re-ranked by their accuracy after a brief fine-tune."""

import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.finish.measure import pruned_for_finetuning
from evoprune.finish.select import check_selection, select_by_finetuning
from evoprune.pruning.space import PruningSpace
from evoprune.search.loop import run_search
from evoprune.search.random_search import RandomSearch
from evoprune.training.train import TrainConfig, accuracy, train_classifier

BRIEF = TrainConfig(epochs=1, lr=1e-3, batch_size=64)


@pytest.fixture
def finalists(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                          calibration=synthetic_data.train)
    result = run_search(RandomSearch(samples=24, batch_size=8, seed=2), space, evaluator,
                        constrained, 0.3, finalists=4)
    return space, evaluator, result


def test_the_search_keeps_its_best_distinct_finalists(finalists):
    _, _, result = finalists
    assert len(result.finalists) == 4
    assert np.array_equal(result.finalists[0].mask, result.mask)
    fitness = [f.fitness for f in result.finalists]
    assert fitness == sorted(fitness, reverse=True)
    assert len({f.mask.tobytes() for f in result.finalists}) == 4
    assert all(f.objectives.macs_ratio <= 0.3 for f in result.finalists)


def test_picks_the_most_accurate_after_the_brief_finetune(finalists, trained_residual,
                                                          synthetic_data):
    space, evaluator, result = finalists
    selection = select_by_finetuning(
        result.finalists, dense=trained_residual, space=space,
        calibration_batches=evaluator.calibration_batches, train=synthetic_data.train,
        val=synthetic_data.val, recipe=BRIEF, seed=0, samples=200)
    # every finalist fine-tuned by hand the same way gives the same accuracies
    expected = []
    for finalist in result.finalists:
        model, hold = pruned_for_finetuning(trained_residual, space, finalist.mask,
                                            evaluator.calibration_batches)
        subset = type(synthetic_data.train)(synthetic_data.train.x[:200],
                                            synthetic_data.train.y[:200])
        train_classifier(model, subset, BRIEF, seed=0, progress=False, after_step=hold)
        expected.append(accuracy(model, synthetic_data.val))
    assert selection.accuracies == expected
    best = max(expected)
    assert selection.chosen == expected.index(best)  # the first of equals: the better score


@pytest.mark.parametrize("settings, message", [
    ({"finalists": 0, "epochs": 1, "samples": None}, "finalists must be an integer >= 1, got 0"),
    ({"finalists": 2, "epochs": 0, "samples": None}, "epochs must be an integer >= 1, got 0"),
    ({"finalists": 2, "epochs": 1, "samples": 0}, "samples must be an integer >= 1 or null"),
])
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        check_selection(**settings)
