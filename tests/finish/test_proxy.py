"""The proxy score: each candidate's validation accuracy after a brief fine-tune."""

import dataclasses

import numpy as np
import pytest

from evoprune.data.splits import Split
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.finish.proxy import (
    AUTO_PROXY_LONGEST_FINETUNE,
    FinetunedEvaluator,
    check_proxy,
    proxy_epochs,
    proxy_recipe,
)
from evoprune.finish.select import accuracy_after_finetuning
from evoprune.pruning.budget import uniform_mask
from evoprune.pruning.space import PruningSpace
from evoprune.search.loop import run_search
from evoprune.search.random_search import RandomSearch
from evoprune.training.train import TrainConfig

BRIEF = TrainConfig(epochs=1, lr=1e-3, batch_size=64)


@pytest.fixture
def setup(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])

    def make():
        evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                              calibration=synthetic_data.train)
        return evaluator, FinetunedEvaluator(
            evaluator, dense=trained_residual, train=synthetic_data.train,
            val=synthetic_data.val, recipe=BRIEF, seed=0, samples=200)

    masks = [uniform_mask(space, budget) for budget in (0.2, 0.5, 0.8)]
    return space, make, masks


def test_accuracy_is_after_the_brief_finetune_and_costs_are_the_evaluators(
        setup, trained_residual, synthetic_data):
    space, make, masks = setup
    evaluator, proxy = make()
    scored = proxy.evaluate(masks)
    plain = evaluator.evaluate(masks)
    subset = Split(synthetic_data.train.x[:200], synthetic_data.train.y[:200])
    for mask, objectives, before in zip(masks, scored, plain):
        expected = accuracy_after_finetuning(trained_residual, space, mask,
                                             evaluator.calibration_batches, subset,
                                             synthetic_data.val, BRIEF, seed=0)
        assert objectives.val_acc == expected
        assert objectives == dataclasses.replace(before, val_acc=expected)
    # the fine-tune raises the accuracy of the smallest mask, which pruning hurt most
    assert scored[0].val_acc > plain[0].val_acc


def test_scores_do_not_depend_on_order_and_survive_a_checkpoint(setup):
    _, make, masks = setup
    _, first = make()
    forward = first.evaluate(masks)
    _, second = make()
    backward = second.evaluate(masks[::-1])[::-1]
    assert forward == backward
    _, resumed = make()
    resumed.load_state_dict(first.state_dict())
    assert resumed.evaluate(masks) == forward
    assert (resumed.evaluations, resumed.requests) == (3, 6)  # counted by the evaluator


def test_a_search_scores_with_it(setup):
    space, make, _ = setup
    evaluator, proxy = make()
    result = run_search(RandomSearch(samples=6, batch_size=3, seed=1), space, proxy,
                        constrained, 0.4)
    assert result.objectives.val_acc == proxy.accuracies[space.key(result.mask)]
    assert result.evaluations == evaluator.evaluations == 6


@pytest.mark.parametrize("settings, message", [
    ({"epochs": -1, "samples": None}, "epochs must be an integer >= 0 or auto, got -1"),
    ({"epochs": 1.5, "samples": None}, "epochs must be an integer >= 0 or auto, got 1.5"),
    ({"epochs": 1, "samples": 0}, "samples must be an integer >= 1 or null, got 0"),
    ({"epochs": 1, "samples": None, "steps": 0}, "steps must be an integer >= 1 or null"),
    ({"epochs": 1, "samples": 9, "steps": 2}, "steps=2 cannot go with samples=9 .*: set one"),
    ({"epochs": 1, "samples": None, "promote": 1.5}, "promote must be a number in \\(0, 1\\]"),
])
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        check_proxy(**settings)


def test_steps_make_one_pass_over_that_many_batches():
    recipe, samples = proxy_recipe(BRIEF, 3, steps=5, samples=None)
    assert (recipe.epochs, samples) == (1, 5 * BRIEF.batch_size)
    recipe, samples = proxy_recipe(BRIEF, 3, steps=None, samples=500)
    assert (recipe.epochs, recipe.lr, samples) == (3, BRIEF.lr, 500)


def test_auto_scores_by_the_proxy_for_short_finetunes_only():
    check_proxy("auto", None)  # accepted as it is
    assert proxy_epochs("auto", 5) == 1
    assert proxy_epochs("auto", AUTO_PROXY_LONGEST_FINETUNE) == 1
    assert proxy_epochs("auto", AUTO_PROXY_LONGEST_FINETUNE + 1) == 0
    assert proxy_epochs("auto", 40) == 0
    assert proxy_epochs(3, 40) == 3 and proxy_epochs(0, 5) == 0  # a number is taken as given


def test_masks_are_checked_before_any_finetune(setup):
    space, make, _ = setup
    _, proxy = make()
    with pytest.raises(ValueError):
        proxy.evaluate([np.zeros(space.num_units + 1, dtype=bool)])
