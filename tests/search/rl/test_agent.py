import glob
import tempfile
from pathlib import Path

import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.pruning.space import PruningSpace
from evoprune.search.loop import run_search
from evoprune.search.rl import AGENTS, RLSearch

BUDGET = 0.4


@pytest.fixture(scope="module")
def space(trained_residual, synthetic_data):
    return PruningSpace(trained_residual, synthetic_data.train.x[:2])


def sb3_dirs() -> set[str]:
    return set(glob.glob(str(Path(tempfile.gettempdir()) / "SB3-*")))


@pytest.mark.parametrize("agent", sorted(AGENTS))
def test_each_agent_returns_a_feasible_mask(agent, space, trained_residual, synthetic_data):
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    rows = []
    before = sb3_dirs()
    search = RLSearch(agent=agent, episodes=5, warmup_episodes=2, seed=0)
    result = run_search(search, space, evaluator, constrained, BUDGET, callback=rows.append)
    assert sb3_dirs() == before  # no /tmp/SB3-* left behind
    space.check(result.mask)
    assert result.objectives.macs_ratio <= BUDGET
    assert space.macs_ratio(result.mask) == pytest.approx(result.objectives.macs_ratio)
    assert [row["episode"] for row in rows] == list(range(5)) and rows == result.history
    assert list(rows[0]) == ["episode", "reward", "val_acc", "macs_ratio", "fit_max", "fit_avg",
                             "cost_avg", "best_fitness", "best_acc", "best_macs"]
    for row in rows:  # one mask per episode: its fitness is the reward, its cost the step's
        assert row["fit_max"] == row["fit_avg"] == pytest.approx(row["reward"])
        assert row["cost_avg"] == pytest.approx(row["macs_ratio"])
    assert rows[-1]["best_fitness"] == pytest.approx(result.fitness)
    assert result.objectives.val_acc == max(row["val_acc"] for row in rows)
    assert 0 < result.evaluations <= result.requests == 5


def test_reward_other_than_the_fitness(space, trained_residual, synthetic_data):
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    search = RLSearch(episodes=3, warmup_episodes=1, reward="amc")
    result = run_search(search, space, evaluator, constrained, BUDGET)
    assert all(row["reward"] < 0 for row in result.history)  # amc rewards, not accuracies
    assert result.fitness == pytest.approx(result.objectives.val_acc)  # best by the fitness


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"agent": "dqn"}, "agent must be one of \\['ddpg', 'ppo', 'sac', 'td3'\\], "
                           "got 'dqn'"),
        ({"episodes": 0}, "episodes must be an integer >= 1, got 0"),
        ({"episodes": 4, "warmup_episodes": 4}, "warmup_episodes must be in \\[0, episodes=4\\)"),
        ({"noise_decay": 0.0}, "noise_decay must be in \\(0, 1\\], got 0.0"),
        ({"reward": "acc"}, "reward must be one of"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RLSearch(**kwargs)
