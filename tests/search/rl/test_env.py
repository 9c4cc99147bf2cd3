import math
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import evoprune  # noqa: F401  (registers evoprune/LayerPrune-v0)
from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.evaluate.fitness import FITNESS_FUNCTIONS, amc, constrained, mnasnet
from evoprune.pruning.budget import InfeasibleBudgetError
from evoprune.pruning.space import PruningSpace
from evoprune.search.loop import run_search
from evoprune.search.rl import FEATURES, PruningEnv, RLSearch

BUDGET = 0.4


@pytest.fixture(scope="module")
def problem(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    return space, Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)


@pytest.fixture
def env(problem):
    space, evaluator = problem
    return PruningEnv(space, evaluator.evaluate, BUDGET)


def rollout(env, actions, seed=0):
    observations, rewards, infos = [env.reset(seed=seed)[0]], [], []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(np.array([action], np.float32))
        observations.append(obs)
        rewards.append(reward)
        infos.append(info)
        assert not truncated
    assert terminated
    return np.array(observations), rewards, infos


def test_both_env_checkers_pass_without_warnings(problem):
    space, evaluator = problem
    # through make, so the env has a spec and Gymnasium's render check can run
    made = gymnasium.make("evoprune/LayerPrune-v0", space=space, evaluator=evaluator,
                          budget=BUDGET).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gymnasium_check_env(made)
        sb3_check_env(made)
        sb3_check_env(PruningEnv(space, evaluator.evaluate, BUDGET))


def test_spaces_and_info(env):
    assert env.observation_space.shape == (len(FEATURES),)
    assert env.action_space.shape == (1,)
    observations, rewards, infos = rollout(env, [0.0] * env.num_groups)
    assert observations.dtype == np.float32 and observations.min() >= 0 and observations.max() <= 1
    assert rewards[:-1] == [0.0] * (env.num_groups - 1)
    assert all(0 < info["keep_ratio"] <= 1 for info in infos)
    last = infos[-1]
    assert last["mask"].dtype == bool and last["macs_ratio"] <= BUDGET
    assert rewards[-1] == pytest.approx(last["val_acc"])  # constrained, within budget


def test_same_seed_same_actions_same_rollout(env):
    actions = np.random.default_rng(0).uniform(-1, 1, env.num_groups)
    first, second = rollout(env, actions), rollout(env, actions)
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]
    np.testing.assert_array_equal(first[2][-1]["mask"], second[2][-1]["mask"])


def test_every_episode_meets_the_budget(env, problem):
    space, _ = problem
    rng = np.random.default_rng(0)
    episodes = [rng.uniform(-1, 1, env.num_groups) for _ in range(50)]
    episodes += [np.full(env.num_groups, -1.0), np.full(env.num_groups, 1.0)]
    episodes += [rng.uniform(-3, 3, env.num_groups) for _ in range(5)]  # clipped
    for actions in episodes:
        _, _, infos = rollout(env, actions)
        mask = space.check(infos[-1]["mask"])
        assert space.macs_ratio(mask) <= BUDGET
        assert infos[-1]["macs_ratio"] <= BUDGET


def test_fill_widens_the_episodes_choices_to_the_budget(problem):
    space, evaluator = problem
    plain = PruningEnv(space, evaluator.evaluate, BUDGET)
    filled = PruningEnv(space, evaluator.evaluate, BUDGET, fill=True)
    rng = np.random.default_rng(1)
    for actions in [rng.uniform(-1, 1, plain.num_groups) for _ in range(5)]:
        actions[0] = -1.0  # a group the agent sets to its minimum stays there
        mask = space.check(rollout(filled, actions)[2][-1]["mask"])
        chosen = rollout(plain, actions)[2][-1]["mask"]
        assert space.macs_ratio(chosen) <= space.macs_ratio(mask) <= BUDGET
        assert np.all(space.keep_counts(mask) >= space.keep_counts(chosen))
        assert space.keep_counts(mask)[0] == space.groups[0].min_keep


def test_all_minus_one_keeps_every_minimum(env, problem):
    space, _ = problem
    _, _, infos = rollout(env, [-1.0] * env.num_groups)
    np.testing.assert_array_equal(space.keep_counts(infos[-1]["mask"]),
                                  [g.min_keep for g in space.groups])


def test_out_of_range_actions_are_clipped(env):
    for inside, outside in ((1.0, 7.5), (-1.0, -4.0)):
        _, _, clipped = rollout(env, [outside] * env.num_groups)
        _, _, limit = rollout(env, [inside] * env.num_groups)
        np.testing.assert_array_equal(clipped[-1]["mask"], limit[-1]["mask"])


def test_nan_action_is_refused(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be a number in \\[-1, 1\\], got"):
        env.step(np.array([np.nan], np.float32))


def test_infeasible_budget_is_refused_with_the_smallest_feasible(problem):
    space, evaluator = problem
    with pytest.raises(InfeasibleBudgetError, match="use budget >= 0\\.\\d+"):
        PruningEnv(space, evaluator.evaluate, 0.001)


def test_latency_cost_evaluator_is_refused(trained_residual, synthetic_data, fake_latency):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    timed = Evaluator(trained_residual, space, synthetic_data.val, cost="latency",
                      bn_recalibration_batches=0)
    with pytest.raises(ValueError, match="the RL search budgets macs, not latency"):
        run_search(RLSearch(episodes=2, warmup_episodes=1, envs=1), space, timed, constrained,
                   BUDGET)


def test_unknown_reward_is_refused(problem):
    space, evaluator = problem
    with pytest.raises(ValueError, match="reward must be one of .*'amc'.*got 'acc'"):
        PruningEnv(space, evaluator.evaluate, BUDGET, reward="acc")


def test_make_without_arguments_steps_to_the_end():
    env = gymnasium.make("evoprune/LayerPrune-v0")
    env.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        steps += 1
    assert steps == env.unwrapped.num_groups and info["macs_ratio"] <= 0.5
    assert reward == pytest.approx(info["val_acc"])


def test_make_from_a_model_and_data(trained_residual, synthetic_data):
    env = gymnasium.make("evoprune/LayerPrune-v0", model=trained_residual, data=synthetic_data,
                         budget=0.3, reward="amc", min_keep=0.25)
    assert env.unwrapped.budget == 0.3 and env.unwrapped.reward_fn is amc
    assert env.unwrapped.space.min_keep_fraction == 0.25


def test_reward_functions_match_hand_computations():
    objectives = Objectives(val_acc=0.9, macs=1000, params=10, macs_ratio=0.3)
    assert amc(objectives, 0.5) == pytest.approx(-0.1 * math.log(1000))
    assert mnasnet(objectives, 0.5) == pytest.approx(0.9 * 0.6 ** -0.07)
    assert mnasnet(objectives, 0.5, w=0.0) == pytest.approx(0.9)
    assert FITNESS_FUNCTIONS["amc"] is amc and FITNESS_FUNCTIONS["mnasnet"] is mnasnet
    with pytest.raises(ValueError, match="w must be a finite number <= 0, got 0.5"):
        mnasnet(objectives, 0.5, w=0.5)


def test_same_seed_same_search(problem, trained_residual, synthetic_data):
    space, _ = problem
    masks = []
    for _ in range(2):
        evaluator = Evaluator(trained_residual, space, synthetic_data.val,
                              bn_recalibration_batches=0)
        search = RLSearch(episodes=6, warmup_episodes=2, envs=2, net_arch=[16], seed=3)
        result = run_search(search, space, evaluator, FITNESS_FUNCTIONS["constrained"], BUDGET)
        masks.append((result.mask, result.history))
    np.testing.assert_array_equal(masks[0][0], masks[1][0])
    assert masks[0][1] == masks[1][1]
