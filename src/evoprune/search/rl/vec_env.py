"""Several pruning episodes side by side, their final masks scored in one evaluator batch.

Every episode has one step per prunable group, so episodes started together end together: the
environments run in lockstep and, at the last group, all final masks go to the evaluator at
once. Batching is what makes RL cost about what the GA costs per evaluation: the evaluator
runs a batch's candidates side by side on every core, where one mask at a time leaves cores
idle. (A proxy score's brief fine-tunes still run one after another.)

It implements stable-baselines3's public ``VecEnv`` interface, so any SB3 agent trains on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from evoprune.search.rl.env import PruningEnv, RewardFn, Score


class PruningVecEnv(VecEnv):
    """``num_envs`` copies of :class:`PruningEnv` on one space, stepped in lockstep.

    Args:
        space, budget, reward, fill: as for :class:`PruningEnv`.
        score: scores a list of masks; called once per ``num_envs`` finished episodes.
        num_envs: episodes run side by side (and scored in one batch).
    """

    def __init__(self, space, score: Score, budget: float, reward: str | RewardFn,
                 num_envs: int, fill: bool = False) -> None:
        self.envs = [PruningEnv(space, score, budget, reward, fill) for _ in range(num_envs)]
        self.score = score
        self.num_groups = self.envs[0].num_groups
        super().__init__(num_envs, self.envs[0].observation_space, self.envs[0].action_space)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        observations = [env.reset(seed=seed)[0] for env, seed in zip(self.envs, self._seeds)]
        self._reset_seeds()
        return np.stack(observations)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        ended = [env.advance(action) for env, action in zip(self.envs, self._actions)]
        if any(ended) != all(ended):  # cannot happen: every episode has num_groups steps
            raise RuntimeError("pruning episodes out of step: all must start together")
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        infos: list[dict[str, Any]] = [{"keep_ratio": env.keep_ratio} for env in self.envs]
        observations = [env.observation() for env in self.envs]
        if all(ended):
            masks = [env.final_mask() for env in self.envs]
            scored = self.score(masks)
            for i, (env, mask, objectives) in enumerate(zip(self.envs, masks, scored)):
                rewards[i], infos[i] = env.outcome(mask, objectives)
                # SB3's convention: the last observation in info, the next episode's first out
                infos[i]["terminal_observation"] = observations[i]
                infos[i]["TimeLimit.truncated"] = False
                observations[i] = env.reset()[0]
        return (np.stack(observations), rewards, np.full(self.num_envs, all(ended)), infos)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ VecEnv plumbing
    def _chosen(self, indices) -> list[PruningEnv]:
        return [self.envs[i] for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(env, attr_name) for env in self._chosen(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        for env in self._chosen(indices):
            setattr(env, attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list[Any]:
        return [getattr(env, method_name)(*args, **kwargs) for env in self._chosen(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> Sequence[bool]:
        return [False] * len(self._chosen(indices))
