"""RL search of per-group keep ratios (AMC) with stable-baselines3 agents.

Stable-baselines3 keeps its own training loop: the environment scores each finished episode
through the search driver (``SearchProblem.score``), and a callback reports episodes to the
driver and saves checkpoints between rollouts.
"""

from __future__ import annotations

from stable_baselines3 import DDPG, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from evoprune.search.base import SearchProblem
from evoprune.search.rl.agent_state import agent_state, restore_agent, set_action_noise_std
from evoprune.search.rl.env import PruningEnv, resolve_reward
from evoprune.search.settings import check_int

AGENTS = {"ddpg": DDPG, "td3": TD3, "sac": SAC, "ppo": PPO}
OFF_POLICY = ("ddpg", "td3", "sac")
NOISY = ("ddpg", "td3")  # deterministic policies: exploration comes from action noise
PPO_EPISODES_PER_UPDATE = 10


class RLSearch:
    """Train an agent in :class:`PruningEnv`; the driver keeps the best feasible mask of all
    episodes (every episode is feasible, by the action wall).

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
            fitness (the driver's score). Whatever the reward, the answer is the feasible
            mask with the best run fitness.
        learning_rate, batch_size, buffer_size: the agent's (buffer ignored by ppo).
        net_arch: hidden layer sizes of the actor and critic networks.
        seed: seeds the agent (and with it Python, NumPy, torch) and the environment.
    """

    name = "rl"
    label = "RL"
    costs = ("macs",)  # the action wall budgets MACs analytically
    kinds = ("structured",)  # one action per channel group
    multi_objective = False

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
    ) -> None:
        if agent not in AGENTS:
            raise ValueError(f"agent must be one of {sorted(AGENTS)}, got {agent!r}")
        check_int("episodes", episodes, 1)
        check_int("warmup_episodes", warmup_episodes, 0)
        if warmup_episodes >= episodes:
            raise ValueError(
                f"warmup_episodes must be in [0, episodes={episodes}), got {warmup_episodes}")
        if noise_sigma < 0:
            raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}")
        if not 0 < noise_decay <= 1:
            raise ValueError(f"noise_decay must be in (0, 1], got {noise_decay}")
        if not 0 <= gamma <= 1:
            raise ValueError(f"gamma must be in [0, 1], got {gamma}")
        if reward is not None:
            resolve_reward(reward)  # fail now, not after the dense model trained
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
                or not learning_rate > 0:
            raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}")
        check_int("batch_size", batch_size, 1)
        check_int("buffer_size", buffer_size, 1)
        if isinstance(net_arch, str) or not net_arch or not all(
                isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in net_arch):
            raise ValueError(f"net_arch must list layer sizes (integers >= 1), got {net_arch!r}")
        self.agent, self.episodes, self.warmup_episodes = agent, episodes, warmup_episodes
        self.noise_sigma, self.noise_decay, self.gamma = noise_sigma, noise_decay, gamma
        self.reward = reward
        self.learning_rate, self.batch_size = learning_rate, int(batch_size)
        self.buffer_size, self.net_arch = int(buffer_size), [int(n) for n in net_arch]
        self.seed = seed

    # ------------------------------------------------------------------ strategy protocol
    def bind(self, problem: SearchProblem) -> None:
        def score(masks):
            return [candidate.objectives for candidate in problem.score(masks)]

        self.env = PruningEnv(problem.space, score, problem.budget,
                              problem.fitness if self.reward is None else self.reward)
        self.env.reset(seed=self.seed)
        self.model = self._make_model()
        self.episode = 0
        self.finished = False

    def start(self) -> None:
        pass  # the agent is seeded when built

    def total_steps(self) -> int:
        return self.episodes

    def format_row(self, row: dict) -> None:
        return None  # one line per episode would flood the console: the bar says enough

    def state_dict(self) -> dict:
        return {"episode": self.episode,
                "agent": None if self.finished else agent_state(self.model)}

    def load_state_dict(self, state: dict) -> None:
        self.episode = state["episode"]
        self.finished = state["agent"] is None
        if not self.finished:
            self.model = restore_agent(self.model, state["agent"])

    def drive(self, driver) -> None:
        """Train for the remaining episodes; each finished episode is a row of the driver."""
        if self.finished or self.episode >= self.episodes:
            return
        remaining = (self.episodes - self.episode) * self.env.num_groups
        self.model.learn(total_timesteps=remaining, callback=_Episodes(self, driver),
                         reset_num_timesteps=self.episode == 0)

    # ------------------------------------------------------------------ internals
    def _make_model(self):
        steps = self.env.num_groups
        settings = dict(learning_rate=self.learning_rate, gamma=self.gamma, seed=self.seed,
                        device="cpu", verbose=0, policy_kwargs={"net_arch": self.net_arch})
        if self.agent in OFF_POLICY:
            settings.update(batch_size=self.batch_size, buffer_size=self.buffer_size,
                            learning_starts=self.warmup_episodes * steps)
        if self.agent == "ppo":
            # one update per few episodes; one minibatch of the whole rollout (no remainder)
            n_steps = steps * min(self.episodes, PPO_EPISODES_PER_UPDATE)
            settings.update(n_steps=n_steps, batch_size=n_steps)
        model = AGENTS[self.agent]("MlpPolicy", self.env, **settings)
        # Logger(folder=None) writes nothing; sb3's configure() would create /tmp/SB3-* dirs.
        model.set_logger(Logger(folder=None, output_formats=[]))
        self._set_noise(model, 0)
        return model

    def _set_noise(self, model, episode: int) -> None:
        """AMC's exploration: the initial std, decayed once per episode after the warm-up."""
        if self.agent in NOISY:
            past_warmup = max(0, episode - self.warmup_episodes)
            set_action_noise_std(model, self.noise_sigma * self.noise_decay ** past_warmup)


class _Episodes(BaseCallback):
    """At each episode end: report a row to the driver, decay the action noise (AMC), and stop
    training after the requested number of episodes (PPO would otherwise finish its rollout).

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
        for done, info, reward in zip(self.locals["dones"], self.locals["infos"],
                                      self.locals["rewards"]):
            if not done:
                continue
            objectives = info["objectives"]
            self.driver.record({"episode": search.episode, "reward": float(reward),
                                "val_acc": float(objectives.val_acc),
                                "macs_ratio": float(objectives.macs_ratio)})
            search.episode += 1
            self.at_episode_end = True
            search._set_noise(self.model, search.episode)
        if search.episode >= search.episodes:
            search.finished = True
            if self.driver.every_episodes:  # every_episodes=0: no checkpoints at all
                self.driver.save()
            return False
        return True
