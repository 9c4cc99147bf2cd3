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
    search = RLSearch(agent=agent, episodes=6, warmup_episodes=2, envs=2, net_arch=[16],
                      seed=0)
    result = run_search(search, space, evaluator, constrained, BUDGET, callback=rows.append)
    assert sb3_dirs() == before  # no /tmp/SB3-* left behind
    space.check(result.mask)
    assert result.objectives.macs_ratio <= BUDGET
    assert space.macs_ratio(result.mask) == pytest.approx(result.objectives.macs_ratio)
    assert [row["episode"] for row in rows] == list(range(6)) and rows == result.history
    assert list(rows[0]) == ["episode", "reward", "val_acc", "macs_ratio", "fit_max", "fit_avg",
                             "cost_avg", "best_fitness", "best_acc", "best_macs"]
    for row in rows:  # one mask per episode: its fitness is the reward, its cost the step's
        assert row["fit_max"] == row["fit_avg"] == pytest.approx(row["reward"])
        assert row["cost_avg"] == pytest.approx(row["macs_ratio"])
    greedy = result.extra
    assert greedy["greedy_macs_ratio"] <= BUDGET
    best_seen = max([row["val_acc"] for row in rows] + [greedy["greedy_val_acc"]])
    assert result.objectives.val_acc == best_seen  # the greedy episode is a candidate too
    assert ("random_median_fitness" in greedy) == (agent != "ppo")  # PPO has no warm-up
    assert 0 < result.evaluations <= result.requests == 6 + 1


def test_the_search_budget_ends_training_at_a_round_of_episodes(space, trained_residual,
                                                                synthetic_data):
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    result = run_search(RLSearch(episodes=40, warmup_episodes=4, envs=4, net_arch=[16]),
                        space, evaluator, constrained, BUDGET, max_evaluations=5)
    # the round that reaches 5 distinct masks finishes; the greedy episode still plays
    assert len(result.history) < 40 and len(result.history) % 4 == 0
    assert result.evaluations >= 5 and "greedy_fitness" in result.extra


def test_episodes_are_scored_in_batches_of_envs(space, trained_residual, synthetic_data):
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    batches = []
    evaluate = evaluator.evaluate
    evaluator.evaluate = lambda masks: batches.append(len(masks)) or evaluate(masks)
    run_search(RLSearch(episodes=8, warmup_episodes=4, envs=4, net_arch=[16]), space,
               evaluator, constrained, BUDGET)
    assert batches == [4, 4, 1]  # two rounds of four episodes, then the greedy episode


def test_reward_other_than_the_fitness(space, trained_residual, synthetic_data):
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    search = RLSearch(episodes=3, warmup_episodes=1, envs=1, net_arch=[16], reward="amc")
    result = run_search(search, space, evaluator, constrained, BUDGET)
    assert all(row["reward"] < 0 for row in result.history)  # amc rewards, not accuracies
    assert result.fitness == pytest.approx(result.objectives.val_acc)  # best by the fitness


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"agent": "dqn"}, "agent must be one of \\['ddpg', 'ppo', 'sac', 'td3'\\], "
                           "got 'dqn'"),
        ({"episodes": 0}, "episodes must be an integer >= 8, got 0"),
        ({"episodes": 4, "envs": 1, "warmup_episodes": 4},
         "warmup_episodes must be in \\[0, episodes=4\\)"),
        ({"episodes": 20}, "episodes must be a multiple of envs=8 \\(episodes run 8 at a "
                           "time\\), got 20"),
        ({"warmup_episodes": 10}, "warmup_episodes must be a multiple of envs=8"),
        ({"envs": 0}, "envs must be an integer >= 1, got 0"),
        ({"actor_learning_rate": 0}, "actor_learning_rate must be a finite number > 0, got 0"),
        ({"baseline_alpha": 2}, "baseline_alpha must be a number in \\[0, 1\\], got 2"),
        ({"noise_decay": 0.0}, "noise_decay must be a number in \\(0, 1\\], got 0.0"),
        ({"reward": "acc"}, "reward must be one of"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RLSearch(**kwargs)
