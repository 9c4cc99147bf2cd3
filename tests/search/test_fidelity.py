"""Two fidelities: the race within a step, the predicted score of masks left behind, and the
driver using it (only promoted masks can be the answer; the evaluation budget is exact)."""

import math

import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.evaluate.fitness import constrained
from evoprune.pruning.space import PruningSpace
from evoprune.search.fidelity import Promotion
from evoprune.search.loop import SearchDriver, run_search
from evoprune.search.random_search import RandomSearch


def objectives(acc: float) -> Objectives:
    return Objectives(val_acc=acc, macs=10, params=10, macs_ratio=0.5)


def masks_of(n: int) -> list[np.ndarray]:
    return [np.array([i], dtype=np.int64) for i in range(n)]


class Oracle:
    """The expensive score: a fixed table, counting its calls."""

    def __init__(self, table):
        self.table, self.calls = table, []

    def __call__(self, mask):
        self.calls.append(int(mask[0]))
        return self.table[int(mask[0])]


def promotion(table, fraction):
    oracle = Oracle(table)
    return oracle, Promotion(oracle, fraction, key=lambda mask: mask.tobytes())


def rank(o: Objectives) -> float:
    return o.val_acc


def test_the_best_fraction_by_the_cheap_score_is_promoted_and_each_mask_races_once():
    cheap = [0.2, 0.9, 0.5, 0.7, 0.1, 0.6, 0.3, 0.8]
    oracle, stage = promotion({i: 0.5 + i / 100 for i in range(8)}, 0.25)
    graded = stage.score(masks_of(8), [objectives(a) for a in cheap], rank)
    assert oracle.calls == [1, 7]  # ceil(0.25 * 8) = 2: the two best cheap scores
    assert [full for _, full in graded] == [i in (1, 7) for i in range(8)]
    assert (graded[1][0].val_acc, graded[7][0].val_acc) == (0.5 + 1 / 100, 0.5 + 7 / 100)
    # the same masks again: nothing new to race, no expensive call, the same scores
    again = stage.score(masks_of(8), [objectives(a) for a in cheap], rank)
    assert oracle.calls == [1, 7] and stage.promoted == 2
    assert [o for o, _ in again] == [o for o, _ in graded]


def test_masks_left_behind_score_at_most_the_steps_worst_winner():
    # the expensive score is the cheap one plus 0.3 exactly: the line predicts it
    cheap = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    _, stage = promotion({i: a + 0.3 for i, a in enumerate(cheap)}, 0.5)
    graded = stage.score(masks_of(6), [objectives(a) for a in cheap], rank)
    promoted = [o.val_acc for o, full in graded if full]
    assert promoted == pytest.approx([0.7, 0.8, 0.9])
    left = [o.val_acc for o, full in graded if not full]
    assert left == pytest.approx([0.4, 0.5, 0.6])  # predicted, below every winner
    assert stage.predict(0.2) == pytest.approx(0.5)
    # a winner that collapses under the brief fine-tune caps the step's others
    _, stage = promotion({0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.05}, 0.34)
    graded = stage.score(masks_of(6), [objectives(a) for a in cheap], rank)
    assert max(o.val_acc for o, full in graded if not full) <= 0.0


def test_prediction_before_the_line_and_fraction_one():
    _, stage = promotion({0: 0.8, 1: 0.9}, 1.0)
    assert stage.predict(0.4) == 0.4  # nothing promoted yet: the cheap score
    graded = stage.score(masks_of(2), [objectives(0.5), objectives(0.6)], rank)
    assert all(full for _, full in graded)  # fraction 1: the full proxy
    assert stage.predict(0.4) == pytest.approx(0.4 + 0.3)  # two pairs: the mean offset


def test_allowance_caps_promotions_and_state_round_trips():
    oracle, stage = promotion({i: 0.5 for i in range(8)}, 1.0)
    graded = stage.score(masks_of(8), [objectives(0.1 * i) for i in range(8)], rank,
                         allowance=3)
    assert oracle.calls == [7, 6, 5] and sum(full for _, full in graded) == 3
    _, resumed = promotion({}, 1.0)
    resumed.load_state_dict(stage.state_dict())
    assert (resumed.scores, resumed.pairs, resumed.ceilings) == (
        stage.scores, stage.pairs, stage.ceilings)


@pytest.mark.parametrize("fraction", [0.0, 1.5, math.nan])
def test_fraction_out_of_range_is_refused(fraction):
    with pytest.raises(ValueError, match="fraction must be a number in \\(0, 1\\]"):
        Promotion(lambda mask: 0.0, fraction, key=bytes)


@pytest.fixture
def problem(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                          bn_recalibration_batches=0)
    return space, evaluator


def test_the_driver_answers_with_promoted_masks_within_an_exact_budget(problem):
    space, evaluator = problem
    # an expensive score that reverses the cheap one's order among the masks it sees
    expensive = {}

    def reverse(mask):
        expensive[space.key(mask)] = 1.0 - float(np.mean(mask))
        return expensive[space.key(mask)]

    stage = Promotion(reverse, 0.25, key=space.key)
    result = run_search(RandomSearch(samples=64, batch_size=16, seed=0), space, evaluator,
                        constrained, 0.5, fidelity=stage, max_evaluations=7)
    assert result.evaluations == stage.promoted == 7  # promotions stop exactly there
    assert result.screened == evaluator.evaluations > 7
    assert space.key(result.mask) in expensive  # the answer was promoted
    assert result.objectives.val_acc == expensive[space.key(result.mask)]
    assert len(result.history) == 2  # 4 promoted per batch of 16: the second batch ends it


def test_max_seconds_ends_the_search_at_a_step(problem):
    space, evaluator = problem
    driver = SearchDriver(space, evaluator, constrained, 0.5, max_seconds=1e-9)
    result = driver.run(RandomSearch(samples=64, batch_size=16, seed=0))
    assert len(result.history) == 1 and result.evaluations == 16


@pytest.mark.parametrize(("key", "value", "message"), [
    ("max_evaluations", 0, "max_evaluations must be an integer >= 1"),
    ("max_seconds", -1.0, "max_seconds must be a finite number > 0"),
])
def test_search_limits_out_of_range_are_refused(problem, key, value, message):
    space, evaluator = problem
    with pytest.raises(ValueError, match=message):
        SearchDriver(space, evaluator, constrained, 0.5, **{key: value})


def test_the_masks_a_search_starts_from_are_always_promoted():
    oracle, stage = promotion({i: 0.5 for i in range(8)}, 0.125)
    cheap = [objectives(0.1 * i) for i in range(8)]
    always = frozenset({masks_of(8)[0].tobytes(), masks_of(8)[2].tobytes()})
    graded = stage.score(masks_of(8), cheap, rank, always=always)
    # the two starts, though the worst by the plain score, beside the others' share: one of 6
    assert oracle.calls == [2, 0, 7] and [full for _, full in graded].count(True) == 3
    _, capped = promotion({i: 0.5 for i in range(8)}, 1.0)
    assert sum(full for _, full in capped.score(masks_of(8), cheap, rank, allowance=1,
                                                always=always)) == 1
