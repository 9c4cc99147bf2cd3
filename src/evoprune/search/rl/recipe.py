"""The parts of AMC's DDPG recipe (He et al., ECCV 2018) that stable-baselines3 lacks, built on
its public extension points (``replay_buffer_class``, ``action_noise``, the agents' optimisers).

- :class:`EpisodeRewardBuffer`: every transition of an episode is stored with the episode's
  final reward, and sampled relative to a moving average of the rewards. With the reward only
  at the last step, the critic would have to carry it back to the first group by bootstrapping
  through every later step; with the episode's reward on every step, each action is credited
  directly, and the baseline keeps the critic's targets centred as the rewards improve.
- :class:`TruncatedNormalNoise`: exploration noise from a normal truncated at two standard
  deviations, whose std the search decays per episode.
- :func:`use_actor_learning_rate`: the actor learns at its own rate (AMC: 1e-4 against the
  critic's 1e-3); SB3 gives actor and critic one rate.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise, VectorizedActionNoise

TRUNCATE_AT = 2.0  # standard deviations


class EpisodeRewardBuffer(ReplayBuffer):
    """A replay buffer that holds an episode's transitions until it ends, then stores each one
    with the episode's final reward; samples come back with ``reward - baseline``, the
    baseline a moving average of sampled rewards (AMC: ``b += alpha * (batch mean - b)``).

    Episodes run in lockstep (:class:`~evoprune.search.rl.vec_env.PruningVecEnv`), so all
    environments end on the same step.

    Args:
        baseline_alpha: weight of each new batch mean in the moving average.
    """

    def __init__(self, *args, baseline_alpha: float = 0.5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.baseline_alpha = baseline_alpha
        self.baseline: float | None = None  # no batch sampled yet
        self.pending: list[tuple] = []  # the running episode's transitions, reward unknown

    def add(self, obs, next_obs, action, reward, done, infos) -> None:
        done = np.asarray(done, dtype=bool)
        self.pending.append((np.array(obs), np.array(next_obs), np.array(action), done, infos))
        if not done.any():
            return
        if not done.all():
            raise RuntimeError("EpisodeRewardBuffer needs episodes that end together")
        final = np.array(reward, dtype=np.float32)
        for obs_t, next_t, action_t, done_t, infos_t in self.pending:
            super().add(obs_t, next_t, action_t, final, done_t, infos_t)
        self.pending = []

    def sample(self, batch_size: int, env=None):
        batch = super().sample(batch_size, env)
        mean = float(batch.rewards.mean())
        if self.baseline is None:
            self.baseline = mean
        else:
            self.baseline += self.baseline_alpha * (mean - self.baseline)
        return batch._replace(rewards=batch.rewards - self.baseline)


class TruncatedNormalNoise(ActionNoise):
    """Zero-mean normal noise of std ``sigma``, redrawn where it falls beyond
    ``TRUNCATE_AT * sigma`` (the agent then clips the action to its box). Draws come from
    NumPy's global generator, which the run's seed sets and checkpoints save."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def __call__(self) -> np.ndarray:
        noise = np.random.normal(0.0, 1.0, 1)
        while abs(noise[0]) > TRUNCATE_AT:
            noise = np.random.normal(0.0, 1.0, 1)
        return (noise * self.sigma).astype(np.float32)

    def __repr__(self) -> str:
        return f"TruncatedNormalNoise(sigma={self.sigma})"


def exploration_noise(sigma: float, num_envs: int) -> ActionNoise:
    """One :class:`TruncatedNormalNoise` per environment."""
    noise = TruncatedNormalNoise(sigma)
    return VectorizedActionNoise(noise, num_envs) if num_envs > 1 else noise


class ScaledStepAdam(torch.optim.Adam):
    """Adam whose steps use ``scale`` times the learning rate in its param groups: the agent
    keeps setting that rate (its schedule), the actor steps at its own multiple of it."""

    def __init__(self, params, scale: float, **kwargs) -> None:
        super().__init__(params, **kwargs)
        self.scale = scale

    @torch.no_grad()
    def step(self, closure=None):
        rates = [group["lr"] for group in self.param_groups]
        for group in self.param_groups:
            group["lr"] *= self.scale
        try:
            return super().step(closure)
        finally:  # the agent's rates back exactly as they were
            for group, rate in zip(self.param_groups, rates):
                group["lr"] = rate


def use_actor_learning_rate(model, actor_lr: float, critic_lr: float) -> None:
    """Make ``model.actor`` (DDPG, TD3, SAC) step at ``actor_lr`` while the agent's own rate,
    ``critic_lr``, drives the critic. The optimiser's state carries over, so this works on a
    restored agent too."""
    current = model.actor.optimizer
    if isinstance(current, ScaledStepAdam):
        current.scale = actor_lr / critic_lr
        return
    replacement = ScaledStepAdam(model.actor.parameters(), scale=actor_lr / critic_lr,
                                 **current.defaults)
    replacement.load_state_dict(current.state_dict())
    model.actor.optimizer = replacement
