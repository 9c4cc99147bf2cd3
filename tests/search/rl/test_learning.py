"""The agent learns: on a problem whose best policy is known, the trained agent's greedy
episode beats the random episodes and comes close to the optimum."""

import pytest

from evoprune.evaluate.evaluator import Objectives
from evoprune.evaluate.fitness import constrained
from evoprune.pruning.space import PruningSpace
from evoprune.search.loop import run_search
from evoprune.search.rl import PruningEnv, RLSearch

BUDGET = 0.4


class LastGroupMatters:
    """A stand-in evaluator whose accuracy is the last group's keep fraction: the budget
    spent early is lost to the group that counts, so the best policy keeps every earlier
    group at its minimum and the last one as wide as the action wall then allows."""

    cost, chance = "macs", 0.5  # a 2-way score: chance is one half

    def __init__(self, space: PruningSpace) -> None:
        self.space, self.requests, self.evaluations = space, 0, 0

    def evaluate(self, masks):
        self.requests += len(masks)
        self.evaluations += len(masks)
        last = self.space.groups[-1]
        return [Objectives(val_acc=float(mask[self.space.group_slice(last)].mean()),
                           macs=int(self.space.macs(mask)), params=int(self.space.params(mask)),
                           macs_ratio=float(self.space.macs_ratio(mask))) for mask in masks]


def best_possible(space: PruningSpace) -> float:
    env = PruningEnv(space, lambda masks: [], BUDGET)
    env.reset()
    for _ in range(env.num_groups - 1):
        env.advance([-1.0])
    env.advance([1.0])
    return float(env.final_mask()[space.group_slice(space.groups[-1])].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ddpg_learns_where_the_budget_should_go(seed, trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    optimum = best_possible(space)
    search = RLSearch(episodes=256, warmup_episodes=32, envs=8, net_arch=[64, 64], fill=False,
                      seed=seed)
    result = run_search(search, space, LastGroupMatters(space), constrained, BUDGET)
    random_median = result.extra["random_median_fitness"]
    greedy = result.extra["greedy_fitness"]
    assert random_median < 0.8 * optimum  # random actions waste the budget
    assert greedy >= 0.9 * optimum > random_median
