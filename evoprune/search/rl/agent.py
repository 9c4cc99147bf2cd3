"""RL search of per-group keep ratios (AMC) with stable-baselines3 agents."""

from __future__ import annotations

import numpy as np
from stable_baselines3 import DDPG, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.noise import NormalActionNoise

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import Fitness
from evoprune.infra.checkpoint import SearchCheckpoint
from evoprune.infra.progress import progress_bar
from evoprune.pruning.budget import check_budget
from evoprune.pruning.space import PruningSpace
from evoprune.search.base import BestFeasible, ProgressCallback, SearchResult
from evoprune.search.resume import Attempt, announce_resume
from evoprune.search.rl.agent_state import agent_state, restore_agent
from evoprune.search.rl.env import PruningEnv, resolve_reward

AGENTS = {"ddpg": DDPG, "td3": TD3, "sac": SAC, "ppo": PPO}
OFF_POLICY = ("ddpg", "td3", "sac")
NOISY = ("ddpg", "td3")  # deterministic policies: exploration comes from action noise
PPO_EPISODES_PER_UPDATE = 10


class RLSearch:
    """Train an agent in :class:`PruningEnv` and return the best feasible mask it produced.

    The defaults follow AMC's DDPG recipe (He et al., 2018): random exploration first,
    then Gaussian action noise whose std decays geometrically per episode, no discount.

    Args:
        agent: ``ddpg``, ``td3``, ``sac`` or ``ppo`` (stable-baselines3, on CPU).
        episodes: episodes in total (one step per group each), warm-up included.
        warmup_episodes: episodes of uniformly random actions before learning starts
            (off-policy agents only; PPO learns from its first rollout).
        noise_sigma: initial std of the Gaussian action noise (ddpg and td3 only).
        noise_decay: factor applied to that std after each post-warm-up episode.
        gamma: discount; 1 because the only reward comes at the end of the episode.
        reward: a name in ``FITNESS_FUNCTIONS`` the agent maximises; None uses the run's
            fitness. Whatever the reward, the returned mask is the feasible one with the best
            run fitness over all episodes (every episode is feasible, by the action wall).
        learning_rate, batch_size, buffer_size: the agent's (buffer ignored by ppo).
        net_arch: hidden layer sizes of the actor and critic networks.
        seed: seeds the agent (and with it Python, NumPy, torch) and the environment.
        progress: show a progress bar.
    """

    name = "rl"

    def __init__(
        self,
        *,
        agent: str = "ddpg",
        episodes: int = 300,
        warmup_episodes: int = 50,
        noise_sigma: float = 0.5,
        noise_decay: float = 0.98,
        gamma: float = 1.0,
        reward: str | None = None,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        buffer_size: int = 2000,
        net_arch: tuple[int, ...] | list[int] = (64, 64),
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        if agent not in AGENTS:
            raise ValueError(f"search.agent must be one of {sorted(AGENTS)}, got {agent!r}")
        if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
            raise ValueError(f"search.episodes must be an integer >= 1, got {episodes!r}")
        if not 0 <= warmup_episodes < episodes:
            raise ValueError(
                f"search.warmup_episodes must be in [0, episodes={episodes}), got "
                f"{warmup_episodes}"
            )
        if noise_sigma < 0 or not 0 < noise_decay <= 1:
            raise ValueError(
                f"search.noise_sigma must be >= 0 and search.noise_decay in (0, 1], got "
                f"{noise_sigma} and {noise_decay}"
            )
        if not 0 <= gamma <= 1:
            raise ValueError(f"search.gamma must be in [0, 1], got {gamma}")
        if reward is not None:
            resolve_reward(reward)  # fail now, not after the dense model trained
        for key, value in (("learning_rate", learning_rate), ("batch_size", batch_size),
                           ("buffer_size", buffer_size)):
            if not value > 0:
                raise ValueError(f"search.{key} must be > 0, got {value}")
        self.agent, self.episodes, self.warmup_episodes = agent, episodes, warmup_episodes
        self.noise_sigma, self.noise_decay, self.gamma = noise_sigma, noise_decay, gamma
        self.reward = reward
        self.learning_rate, self.batch_size = learning_rate, int(batch_size)
        self.buffer_size, self.net_arch = int(buffer_size), [int(n) for n in net_arch]
        self.seed, self.progress = seed, progress

    def run(
        self,
        space: PruningSpace,
        evaluator: Evaluator,
        fitness: Fitness,
        budget: float,
        callback: ProgressCallback | None = None,
        checkpoint: SearchCheckpoint | None = None,
    ) -> SearchResult:
        """Train for ``episodes`` episodes; return the best feasible mask of all of them."""
        check_budget(space, budget)
        attempt = Attempt(evaluator)
        env = PruningEnv(space, evaluator, budget, fitness if self.reward is None else self.reward)
        env.reset(seed=self.seed)
        model = self._make_model(env)
        # Logger(folder=None) writes nothing; sb3's configure() would create /tmp/SB3-* dirs.
        model.set_logger(Logger(folder=None, output_formats=[]))
        best = BestFeasible(budget)
        history: list[dict] = []
        saved = checkpoint.load(self.name) if checkpoint is not None else None
        first = 0
        if saved is not None:
            history = list(saved["history"])
            if saved["agent"] is not None:
                restore_agent(model, saved["agent"])
            attempt.restore(saved, best, evaluator)
            first = saved["episode"]
        with progress_bar(enabled=self.progress) as progress:
            task = progress.add_task("RL search", total=self.episodes, completed=first)
            if saved is not None:
                announce_resume(progress, f"RL resumed after episode {first - 1} from "
                                f"{checkpoint.path}", history, callback)

            def on_episode(row: dict) -> None:
                history.append(row)
                progress.update(task, advance=1, description=(
                    f"RL ep {row['episode']}: best feasible val_acc {row['best_acc']:.4f}"))
                if callback is not None:
                    callback(row)

            def save(agent) -> None:
                checkpoint.save(self.name, {
                    "episode": len(history),
                    "agent": agent_state(agent) if len(history) < self.episodes else None,
                    "history": list(history),
                    **attempt.state(best, evaluator),
                })

            if first < self.episodes:
                episodes = _Episodes(self, best, fitness, budget, on_episode,
                                     save=save if checkpoint is not None else None,
                                     every=checkpoint.every_episodes if checkpoint else 0,
                                     first=first)
                remaining = (self.episodes - first) * env.num_groups
                model.learn(total_timesteps=remaining, callback=episodes,
                            reset_num_timesteps=saved is None)
        return attempt.result(best, history, evaluator)

    def _make_model(self, env: PruningEnv):
        steps = env.num_groups
        settings = dict(learning_rate=self.learning_rate, gamma=self.gamma, seed=self.seed,
                        device="cpu", verbose=0, policy_kwargs={"net_arch": self.net_arch})
        if self.agent in OFF_POLICY:
            settings.update(batch_size=self.batch_size, buffer_size=self.buffer_size,
                            learning_starts=self.warmup_episodes * steps)
        if self.agent in NOISY:
            settings["action_noise"] = NormalActionNoise(
                np.zeros(1), np.full(1, self.noise_sigma))
        if self.agent == "ppo":
            # one update per few episodes; one minibatch of the whole rollout (no remainder)
            n_steps = steps * min(self.episodes, PPO_EPISODES_PER_UPDATE)
            settings.update(n_steps=n_steps, batch_size=n_steps)
        return AGENTS[self.agent]("MlpPolicy", env, **settings)


class _Episodes(BaseCallback):
    """At each episode end: offer the mask to BestFeasible, report a row, decay the action
    noise (AMC), and stop training after the requested number of episodes (PPO would
    otherwise finish its rollout).

    Checkpoints are taken at the start of a rollout that follows an episode end: the last
    transition is stored and the agent has trained on it, so a resumed agent continues with
    exactly the next action an uninterrupted one would take. (PPO's rollouts end on episode
    boundaries, so it saves every rollout at most.) After the last episode only the result is
    saved.
    """

    def __init__(self, search: RLSearch, best: BestFeasible, fitness: Fitness, budget: float,
                 report, *, save=None, every: int = 0, first: int = 0) -> None:
        super().__init__()
        self.search, self.best, self.fitness, self.budget = search, best, fitness, budget
        self.report, self.save, self.every = report, save, every
        self.episode = self.saved_episode = first
        self.at_episode_end = False

    def _on_training_start(self) -> None:
        self._set_noise()  # a resumed agent starts with the noise it had when saved

    def _on_rollout_start(self) -> None:
        if (self.save is not None and self.every and self.at_episode_end
                and self.episode - self.saved_episode >= self.every):
            self.save(self.model)
            self.saved_episode = self.episode

    def _on_step(self) -> bool:
        self.at_episode_end = False
        for done, info, reward in zip(self.locals["dones"], self.locals["infos"],
                                      self.locals["rewards"]):
            if not done:
                continue
            objectives = info["objectives"]
            self.best.offer(info["mask"], objectives, self.fitness(objectives, self.budget))
            self.report({
                "episode": self.episode,
                "reward": float(reward),
                "val_acc": float(objectives.val_acc),
                "macs_ratio": float(objectives.macs_ratio),
                "best_acc": float(self.best.objectives.val_acc),
            })
            self.episode += 1
            self.at_episode_end = True
            self._set_noise()
        if self.episode >= self.search.episodes:
            if self.save is not None and self.every:  # every=0: no checkpoints at all
                self.save(self.model)
            return False
        return True

    def _set_noise(self) -> None:
        noise = getattr(self.model, "action_noise", None)
        if noise is not None:
            past_warmup = max(0, self.episode - self.search.warmup_episodes)
            noise._sigma = np.full(1, self.search.noise_sigma
                                   * self.search.noise_decay ** past_warmup)
