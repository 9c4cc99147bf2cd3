import numpy as np
import pytest

from evoprune.evaluate.evaluator import Evaluator
from evoprune.pruning.space import PruningSpace
from evoprune.search.rl import PruningEnv
from evoprune.search.rl.vec_env import PruningVecEnv

BUDGET = 0.4


@pytest.fixture(scope="module")
def problem(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    return space, Evaluator(trained_residual, space, synthetic_data.val,
                            bn_recalibration_batches=0)


def test_side_by_side_episodes_equal_single_ones_scored_in_one_batch(problem):
    space, evaluator = problem
    batches = []

    def score(masks):
        batches.append(len(masks))
        return evaluator.evaluate(masks)

    vec = PruningVecEnv(space, score, BUDGET, "constrained", num_envs=3)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, (vec.num_groups, 3, 1)).astype(np.float32)
    first = vec.reset()
    for step in range(vec.num_groups):
        observations, rewards, dones, infos = vec.step(actions[step])
    assert batches == [3] and dones.all()
    for i in range(3):  # each column is the episode one PruningEnv plays with those actions
        env = PruningEnv(space, evaluator.evaluate, BUDGET, "constrained")
        np.testing.assert_array_equal(env.reset()[0], first[i])
        for step in range(env.num_groups):
            obs, reward, terminated, _, info = env.step(actions[step, i])
        assert terminated and rewards[i] == pytest.approx(reward)
        np.testing.assert_array_equal(infos[i]["mask"], info["mask"])
        np.testing.assert_array_equal(infos[i]["terminal_observation"], obs)
        np.testing.assert_array_equal(observations[i], env.reset()[0])  # the next episode
