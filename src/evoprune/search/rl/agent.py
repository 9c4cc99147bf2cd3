"""RL search of per-group keep ratios (AMC) with stable-baselines3 agents.

Stable-baselines3 keeps its own training loop: the environments score their finished episodes
through the search driver (``SearchProblem.score``), several episodes per evaluator batch, and a
callback reports episodes to the driver and saves checkpoints between rollouts.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3 import DDPG, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from evoprune.infra.threads import torch_threads
from evoprune.infra.validators import (
    check_bool,
    check_int,
    check_number,
    check_positive,
    check_probability,
)
from evoprune.search.base import Scored, SearchProblem, SelfDrivenStrategy
from evoprune.search.rl.agent_state import agent_state, restore_agent
from evoprune.search.rl.env import PruningEnv, resolve_reward
from evoprune.search.rl.recipe import (
    EpisodeRewardBuffer,
    exploration_noise,
    use_actor_learning_rate,
)
from evoprune.search.rl.vec_env import PruningVecEnv

AGENTS = {"ddpg": DDPG, "td3": TD3, "sac": SAC, "ppo": PPO}
OFF_POLICY = ("ddpg", "td3", "sac")
NOISY = ("ddpg", "td3")  # deterministic policies: exploration comes from action noise
PPO_EPISODES_PER_UPDATE = 16
# The agent's networks are tiny: one thread runs them fastest, and more threads waiting on a
# busy core made each gradient step 30 times slower on a shared 2-core machine. Scoring masks
# still gets every thread the run has.
AGENT_THREADS = 1


class RLSearch(SelfDrivenStrategy):
    """Train an agent on :class:`PruningVecEnv`; the driver keeps the best feasible mask of all
    episodes (every episode is feasible, by the action wall).

    The defaults follow AMC's DDPG recipe (He et al., 2018): random episodes first; then every
    transition of an episode rewarded with the episode's score, less a moving-average
    baseline; truncated normal exploration noise of std 0.5, decayed per episode; the actor
    learning ten times slower than the critic; no discount. ``envs`` episodes run side by side
    and are scored in one evaluator batch. After training, one greedy episode (no noise)
    shows what the agent learnt: ``summary()`` reports it beside the median random episode.

    Args:
        agent: ``ddpg``, ``td3``, ``sac`` or ``ppo`` (stable-baselines3, on CPU).
        episodes: episodes in total (one step per group each), warm-up included; a multiple
            of ``envs``.
        warmup_episodes: episodes of uniformly random actions before learning starts
            (off-policy agents only; PPO learns from its first rollout); a multiple of
            ``envs``.
        envs: episodes run side by side, their masks scored in one batch.
        noise_sigma: initial std of the exploration noise (ddpg and td3 only).
        noise_decay: factor applied to that std per episode after the warm-up.
        gamma: discount (1, as in AMC).
        reward: a name in ``FITNESS_FUNCTIONS`` the agent maximises; None uses the run's
            fitness (the driver's score). Whatever the reward, the answer is the feasible
            mask with the best run fitness.
        learning_rate: the critic's (PPO: the one) learning rate.
        actor_learning_rate: the actor's (off-policy agents).
        baseline_alpha: weight of each sampled batch's mean reward in the moving-average
            baseline (off-policy agents).
        batch_size, buffer_size: the agent's (buffer ignored by ppo).
        tau: soft update rate of the target networks (off-policy agents).
        fill: widen each episode's keep ratios by one common factor until the budget is met
            (``PruningEnv(fill=...)``), so that no episode leaves budget unused, as none of
            the GA's repaired candidates does.
        net_arch: hidden layer sizes of the actor and critic networks.
        seed: seeds the agent (and with it Python, NumPy, torch) and the environments.
    """

    name = "rl"
    label = "RL"
    costs = ("macs",)  # the action wall budgets MACs analytically
    kinds = ("structured",)  # one action per channel group

    def __init__(
        self,
        *,
        agent: str = "ddpg",
        episodes: int = 384,
        warmup_episodes: int = 96,
        envs: int = 8,
        noise_sigma: float = 0.5,
        noise_decay: float = 0.99,
        gamma: float = 1.0,
        reward: str | None = None,
        learning_rate: float = 1e-3,
        actor_learning_rate: float = 1e-4,
        baseline_alpha: float = 0.5,
        batch_size: int = 64,
        buffer_size: int = 4000,
        tau: float = 0.01,
        fill: bool = True,
        net_arch: tuple[int, ...] | list[int] = (300, 300),
        seed: int = 0,
    ) -> None:
        if agent not in AGENTS:
            raise ValueError(f"agent must be one of {sorted(AGENTS)}, got {agent!r}")
        check_int("envs", envs, 1)
        check_int("episodes", episodes, envs)
        check_int("warmup_episodes", warmup_episodes, 0)
        for name, value in (("episodes", episodes), ("warmup_episodes", warmup_episodes)):
            if value % envs:
                raise ValueError(f"{name} must be a multiple of envs={envs} (episodes run "
                                 f"{envs} at a time), got {value}")
        if warmup_episodes >= episodes:
            raise ValueError(
                f"warmup_episodes must be in [0, episodes={episodes}), got {warmup_episodes}")
        check_number("noise_sigma", noise_sigma, low=0)
        check_number("noise_decay", noise_decay, low=0, low_open=True, high=1)
        check_probability("gamma", gamma)
        if reward is not None:
            resolve_reward(reward)  # fail now, not after the dense model trained
        check_positive("learning_rate", learning_rate)
        check_positive("actor_learning_rate", actor_learning_rate)
        check_probability("baseline_alpha", baseline_alpha)
        check_probability("tau", tau)
        check_int("batch_size", batch_size, 1)
        check_int("buffer_size", buffer_size, 1)
        if isinstance(net_arch, str) or not net_arch or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in net_arch):
            raise ValueError(f"net_arch must list layer sizes (integers >= 1), got {net_arch!r}")
        self.agent, self.episodes, self.warmup_episodes = agent, episodes, warmup_episodes
        self.envs = envs
        self.noise_sigma, self.noise_decay, self.gamma = noise_sigma, noise_decay, gamma
        self.reward = reward
        self.learning_rate, self.actor_learning_rate = learning_rate, actor_learning_rate
        self.baseline_alpha, self.tau = baseline_alpha, tau
        check_bool("fill", fill)
        self.fill = fill
        self.batch_size, self.buffer_size = int(batch_size), int(buffer_size)
        self.net_arch = [int(n) for n in net_arch]
        self.seed = seed

    # ------------------------------------------------------------------ strategy protocol
    def bind(self, problem: SearchProblem) -> None:
        self.problem = problem
        self.last_scored: list[Scored] = []  # the latest batch, in environment order
        self.run_threads = torch.get_num_threads()
        reward = problem.fitness if self.reward is None else self.reward
        self.env = PruningVecEnv(
            problem.space, lambda masks: [c.objectives for c in self._score(masks)],
            problem.budget, reward, self.envs, self.fill)
        self.env.seed(self.seed)
        self.model = self._make_model()
        self.episode = 0
        self.finished = False
        self.greedy: dict | None = None

    def start(self) -> None:
        pass  # the agent is seeded when built

    def total_steps(self) -> int:
        return self.episodes

    def format_row(self, row: dict) -> None:
        return None  # one line per episode would flood the console: the bar says enough

    def state_dict(self) -> dict:
        # the trained agent is kept until its greedy episode is played
        done = self.finished and self.greedy is not None
        return {"episode": self.episode, "finished": self.finished, "greedy": self.greedy,
                "agent": None if done else agent_state(self.model)}

    def load_state_dict(self, state: dict) -> None:
        self.episode, self.greedy = state["episode"], state.get("greedy")
        self.finished = state.get("finished", state["agent"] is None)
        if state["agent"] is not None:
            self.model = restore_agent(self.model, state["agent"])
            self._set_rates(self.model)

    def drive(self, driver) -> None:
        """Train for the remaining episodes (each finished episode is a row of the driver),
        then play one greedy episode."""
        with torch_threads(AGENT_THREADS):
            if not self.finished and self.episode < self.episodes:
                remaining = (self.episodes - self.episode) * self.env.num_groups
                self.model.learn(total_timesteps=remaining, callback=_Episodes(self, driver),
                                 reset_num_timesteps=self.episode == 0)
            if self.greedy is None:
                self.greedy = self._greedy_episode()
                if driver.every_episodes:  # every_episodes=0: no checkpoints at all
                    driver.save()

    def summary(self, history: list[dict]) -> dict:
        """What the agent learnt: its greedy episode (fitness, accuracy, MACs ratio) and the
        median fitness of the random warm-up episodes (off-policy agents)."""
        figures = {f"greedy_{key}": value for key, value in (self.greedy or {}).items()}
        random_episodes = [row["fit_max"] for row in history
                           if row["episode"] < self.warmup_episodes]
        if self.agent in OFF_POLICY and random_episodes:
            figures["random_median_fitness"] = float(np.median(random_episodes))
        return figures

    # ------------------------------------------------------------------ internals
    def _score(self, masks) -> list[Scored]:
        """Score masks through the driver, on the run's threads (the agent trains on one)."""
        with torch_threads(self.run_threads):
            self.last_scored = self.problem.score(masks)
        return self.last_scored

    def _greedy_episode(self) -> dict:
        """The trained policy's own choices, without exploration, scored like any episode."""
        env = PruningEnv(self.problem.space, lambda masks: [], self.problem.budget,
                         fill=self.fill)
        observation, _ = env.reset()
        while True:
            action, _ = self.model.predict(observation, deterministic=True)
            if env.advance(action):
                break
            observation = env.observation()
        [scored] = self._score([env.final_mask()])
        return {"fitness": scored.fitness, "val_acc": scored.objectives.val_acc,
                "macs_ratio": scored.objectives.macs_ratio}

    def _make_model(self):
        steps = self.env.num_groups
        settings = dict(learning_rate=self.learning_rate, gamma=self.gamma, seed=self.seed,
                        device="cpu", verbose=0, policy_kwargs={"net_arch": self.net_arch})
        if self.agent in OFF_POLICY:
            # one rollout = one episode per environment, then one update per transition
            settings.update(batch_size=self.batch_size, buffer_size=self.buffer_size,
                            learning_starts=self.warmup_episodes * steps, tau=self.tau,
                            train_freq=(steps, "step"), gradient_steps=-1,
                            replay_buffer_class=EpisodeRewardBuffer,
                            replay_buffer_kwargs={"baseline_alpha": self.baseline_alpha})
        else:
            # PPO: the reward at the last step and no discount give every step the episode's
            # return; its value function is the baseline. One minibatch per rollout.
            per_env = max(1, PPO_EPISODES_PER_UPDATE // self.envs)
            n_steps = steps * min(self.episodes // self.envs, per_env)
            settings.update(n_steps=n_steps, batch_size=n_steps * self.envs, gae_lambda=1.0)
        model = AGENTS[self.agent]("MlpPolicy", self.env, **settings)
        # Logger(folder=None) writes nothing; sb3's configure() would create /tmp/SB3-* dirs.
        model.set_logger(Logger(folder=None, output_formats=[]))
        self._set_rates(model)
        self._set_noise(model, 0)
        return model

    def _set_rates(self, model) -> None:
        if self.agent in OFF_POLICY:
            use_actor_learning_rate(model, self.actor_learning_rate, self.learning_rate)

    def _set_noise(self, model, episode: int) -> None:
        """AMC's exploration: the initial std, decayed per episode after the warm-up."""
        if self.agent in NOISY:
            past_warmup = max(0, episode - self.warmup_episodes)
            model.action_noise = exploration_noise(
                self.noise_sigma * self.noise_decay ** past_warmup, self.envs)


class _Episodes(BaseCallback):
    """When the episodes end (together): report a row per episode to the driver, decay the
    action noise (AMC), and stop training after the requested number of episodes (PPO would
    otherwise finish its rollout).

    Checkpoints are taken at the start of a rollout that follows an episode end: the last
    transition is stored and the agent has trained on it, so a resumed agent continues with
    exactly the next action an uninterrupted one would take. (PPO's rollouts end on episode
    boundaries, so it saves every rollout at most.) After the last episode only the result is
    saved.
    """

    def __init__(self, search: RLSearch, driver) -> None:
        super().__init__()
        self.search, self.driver = search, driver
        self.saved_episode = search.episode
        self.at_episode_end = False

    def _on_training_start(self) -> None:
        self.search._set_noise(self.model, self.search.episode)  # a resumed agent's noise

    def _on_rollout_start(self) -> None:
        every = self.driver.every_episodes
        if every and self.at_episode_end and self.search.episode - self.saved_episode >= every:
            self.driver.save()
            self.saved_episode = self.search.episode

    def _on_step(self) -> bool:
        self.at_episode_end = False
        search = self.search
        dones = self.locals["dones"]
        if dones.any():  # episodes end together: each one's row, in environment order
            for info, reward, scored in zip(self.locals["infos"], self.locals["rewards"],
                                            search.last_scored):
                objectives = info["objectives"]
                # one mask per episode: the step's figures are that mask's own
                self.driver.record({"episode": search.episode, "reward": float(reward),
                                    "val_acc": float(objectives.val_acc),
                                    "macs_ratio": float(objectives.macs_ratio),
                                    "fit_max": scored.fitness, "fit_avg": scored.fitness,
                                    "cost_avg": float(objectives.cost_ratio)})
                search.episode += 1
            self.at_episode_end = True
            search._set_noise(self.model, search.episode)
        # the search's budget (max_evaluations, max_seconds) ends training at episode ends
        if search.episode >= search.episodes or (dones.any() and self.driver.exhausted()):
            search.finished = True
            if self.driver.every_episodes:  # every_episodes=0: no checkpoints at all
                self.driver.save()
            return False
        return True
