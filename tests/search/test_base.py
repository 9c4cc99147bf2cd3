"""BestFeasible: the best feasible candidates, whatever order they are scored in."""

import numpy as np
import pytest
import torch

from evoprune.evaluate.evaluator import Objectives
from evoprune.search.base import BestFeasible


def candidate(acc: float, ratio: float, bits: str):
    return (np.array([b == "1" for b in bits]),
            Objectives(val_acc=acc, macs=int(1000 * ratio), params=10, macs_ratio=ratio), acc)


CANDIDATES = [candidate(0.7, 0.4, "1100"), candidate(0.9, 0.6, "1110"),  # 0.9: infeasible
              candidate(0.8, 0.5, "1010"), candidate(0.8, 0.5, "1010"),  # the same mask twice
              candidate(0.75, 0.3, "1000"), candidate(0.6, 0.2, "0100")]


@pytest.mark.parametrize("order", [list(range(6)), [5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 3, 4]])
def test_keeps_the_best_distinct_feasible_in_rank_order(order):
    best = BestFeasible(0.5, keep=3)
    for index in order:
        best.offer(*CANDIDATES[index])
    assert [c.fitness for c in best.finalists] == [0.8, 0.75, 0.7]
    assert best.fitness == 0.8 and best.objectives.macs_ratio == 0.5
    assert best.mask.tolist() == [True, False, True, False]


def test_state_round_trip_and_the_single_best_checkpoint():
    best = BestFeasible(0.5, keep=2)
    for entry in CANDIDATES:
        best.offer(*entry)
    restored = BestFeasible(0.5, keep=2)
    restored.load_state_dict(best.state_dict())
    assert [(c.mask.tolist(), c.fitness) for c in restored.finalists] == [
        (c.mask.tolist(), c.fitness) for c in best.finalists]
    single = BestFeasible(0.5)  # a checkpoint written when only the best was kept
    single.load_state_dict({"mask": torch.tensor([True, False]), "fitness": 0.5,
                            "objectives": {"val_acc": 0.5, "macs": 5, "params": 1,
                                           "macs_ratio": 0.5}})
    assert single.fitness == 0.5 and single.mask.tolist() == [True, False]
    empty = BestFeasible(0.5, keep=4)
    empty.load_state_dict(BestFeasible(0.5).state_dict())
    assert empty.mask is None and empty.fitness == -np.inf


def test_keep_must_be_positive():
    with pytest.raises(ValueError, match="keep must be an integer >= 1, got 0"):
        BestFeasible(0.5, keep=0)
