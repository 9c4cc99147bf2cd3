"""AMC-style layer-by-layer pruning as a Gymnasium environment.

One episode visits the groups of a :class:`PruningSpace` in network order; at each step the
agent picks the keep ratio of the current group. An *action wall* (He et al., AMC, 2018) caps
each choice so that the budget can still be met with every later group at its minimum, so every
finished episode meets the budget. The reward is 0 until the last step, then a fitness of the
final mask's objectives, scored by the shared (memoising) :class:`Evaluator`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from evoprune.evaluate.evaluator import Objectives
from evoprune.evaluate.fitness import FITNESS_FUNCTIONS
from evoprune.pruning.budget import check_budget, scale_to_budget
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.widths import legal_count

RewardFn = Callable[[Objectives, float], float]
# scores a list of masks (an Evaluator's ``evaluate``, or the search driver's scoring)
Score = Callable[[Sequence[np.ndarray]], list[Objectives]]

FEATURES = (
    # sizes, kernels and strides: min-max scaled over the groups (smallest 0, largest 1)
    "group_index",  # index / (number of groups - 1)
    "is_conv",  # 1 for a conv group, 0 for a linear one
    "size",  # units
    "in_units",  # root layer's input units
    "out_units",  # root layer's output units
    "kernel",  # product of the kernel size (linear: 0)
    "stride",  # product of the stride (linear: 0)
    "macs_share",  # dense MACs this group can remove (down to its minimum) / dense MACs
    "macs_removed",  # MACs removed by the choices so far / dense MACs
    "macs_to_come",  # MACs this and later groups can still remove / dense MACs
    "previous_action",  # keep ratio chosen at the previous step (1 at the first)
)


def resolve_reward(reward: str | RewardFn) -> RewardFn:
    """A reward function from its name in ``FITNESS_FUNCTIONS`` (or a callable, unchanged)."""
    if callable(reward):
        return reward
    if reward not in FITNESS_FUNCTIONS:
        raise ValueError(f"reward must be one of {sorted(FITNESS_FUNCTIONS)}, got {reward!r}")
    return FITNESS_FUNCTIONS[reward]


class PruningEnv(gym.Env):
    """Choose a keep ratio per group, in network order, under a MACs budget.

    Observation: ``Box(0, 1, (11,), float32)``, the features in :data:`FEATURES`.
    Action: ``Box(-1, 1, (1,), float32)``, mapped linearly to a keep ratio in
    ``[min_keep / size, 1]`` of the current group. Actions outside [-1, 1] are clipped to it
    (agents with Gaussian noise overshoot); a NaN action raises ValueError. The resulting keep
    count is rounded, then capped by the action wall. Units are kept by magnitude.

    Reward: 0 until the last step, then ``reward(objectives, budget)`` of the final mask.
    ``info`` carries ``keep_ratio`` (the ratio actually kept after the wall) at every step and,
    on the last step, ``val_acc``, ``macs_ratio``, ``objectives`` and ``mask`` (bool array).

    Args:
        space: a structured pruning space.
        score: scores the final mask of each episode: ``Evaluator.evaluate`` (its cache makes
            repeats free) or any function from a list of masks to their objectives. The
            action wall budgets MACs analytically, so the objectives' cost must be MACs.
        budget: fraction of dense MACs the final mask may keep; refused (InfeasibleBudgetError)
            if keeping every group's minimum already costs more.
        reward: a name in ``FITNESS_FUNCTIONS`` or a ``(objectives, budget) -> float``.
        fill: spend what budget the episode left: every group's keep ratio above its minimum
            is widened by one common factor until the budget is met
            (:func:`~evoprune.pruning.budget.scale_to_budget`), so that no episode is scored
            below the budget it may use and the proportions the agent chose are kept.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        space: PruningSpace,
        score: Score,
        budget: float,
        reward: str | RewardFn = "constrained",
        fill: bool = False,
    ) -> None:
        if getattr(space, "kind", None) != "structured":
            raise ValueError(
                f"PruningEnv needs a structured pruning space, got {getattr(space, 'kind', space)}"
            )
        check_budget(space, budget)  # before any agent trains
        self.space, self.score, self.budget = space, score, float(budget)
        self.fill = fill
        self.reward_fn = resolve_reward(reward)
        self.num_groups = len(space.groups)
        self.minimum = [g.min_keep for g in space.groups]
        self._static = self._static_features()
        self.observation_space = spaces.Box(0.0, 1.0, (len(FEATURES),), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
        self._counts: list[int] = []
        self._previous = 1.0

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode at the first group (the dynamics are deterministic; ``seed``
        seeds ``self.np_random`` as Gymnasium requires)."""
        super().reset(seed=seed)
        self._counts, self._previous = [], 1.0
        return self.observation(), {}

    def step(self, action):
        """Prune the current group to the ratio ``action`` asks for (clipped, walled)."""
        if not self.advance(action):
            return self.observation(), 0.0, False, False, {"keep_ratio": self.keep_ratio}
        mask = self.final_mask()
        [objectives] = self.score([mask])
        reward, info = self.outcome(mask, objectives)
        return self.observation(), reward, True, False, info

    # ------------------------------------------------------------------ in steps, for batching
    # ``step`` is advance, then (at the last group) score the final mask and take the outcome.
    # A vectorised environment runs the same three pieces to score many episodes' masks in
    # one evaluator batch (PruningVecEnv).
    def advance(self, action) -> bool:
        """Apply ``action`` to the current group; True when that was the last group."""
        if len(self._counts) >= self.num_groups:
            raise RuntimeError("the episode is over: call reset() before step()")
        value = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        if np.isnan(value):
            raise ValueError(f"action must be a number in [-1, 1], got {action!r}")
        group = self.space.groups[len(self._counts)]
        low = group.min_keep / group.size
        ratio = low + (np.clip(value, -1.0, 1.0) + 1.0) / 2.0 * (1.0 - low)
        count = legal_count(group, min(round(ratio * group.size), self._wall()))
        self._counts.append(count)
        self._previous = count / group.size
        return len(self._counts) == self.num_groups

    @property
    def keep_ratio(self) -> float:
        """The keep ratio the last step kept, after the wall (1 before the first step)."""
        return self._previous

    def final_mask(self) -> np.ndarray:
        """The mask the finished episode chose (with ``fill``, widened to the budget)."""
        if not self.fill:
            return self.space.mask_from_counts(self._counts)
        ratios = [count / group.size for count, group in zip(self._counts, self.space.groups)]
        return self.space.mask_from_counts(
            scale_to_budget(self.space, ratios, self.budget, grow=True))

    def outcome(self, mask: np.ndarray, objectives: Objectives) -> tuple[float, dict]:
        """The last step's reward and info, given the final mask and its objectives."""
        return float(self.reward_fn(objectives, self.budget)), {
            "keep_ratio": self.keep_ratio, "val_acc": objectives.val_acc,
            "macs_ratio": objectives.macs_ratio, "objectives": objectives,
            "mask": mask}

    # ------------------------------------------------------------------ internals
    def _mask(self, counts: list[int]) -> np.ndarray:
        """Choices so far, then ``counts`` for the next groups, the minimum for the rest."""
        chosen = self._counts + counts
        return self.space.mask_from_counts(chosen + self.minimum[len(chosen):])

    def _wall(self) -> int:
        """Largest keep count of the current group that leaves the budget reachable with every
        later group at its minimum. MACs couple neighbouring groups, so whole masks are
        costed; by induction the minimum always fits (check_budget covered step 0). Keeping
        more units of one group never costs fewer MACs, so the wall is found by bisection."""
        group = self.space.groups[len(self._counts)]
        fits, too_many = group.min_keep, group.size + 1
        while too_many - fits > 1:
            middle = (fits + too_many) // 2
            if self.space.macs_ratio(self._mask([middle])) <= self.budget:
                fits = middle
            else:
                too_many = middle
        return fits

    def _static_features(self) -> np.ndarray:
        """Per-group features that do not change during an episode, in [0, 1]: sizes, kernels
        and strides min-max scaled over the groups, as AMC normalises its state (a feature
        equal for every group is 0)."""
        space, rows = self.space, []
        dense = space.dense_macs
        for index, group in enumerate(space.groups):
            counts = [g.size for g in space.groups]
            counts[index] = group.min_keep
            share = (dense - space.macs(space.mask_from_counts(counts))) / dense
            rows.append([index / max(self.num_groups - 1, 1),
                         1.0 if group.kind == "channel" else 0.0,
                         group.size, group.in_units, group.size, group.kernel, group.stride,
                         share])
        table = np.array(rows, dtype=np.float64)
        for column in range(2, 7):  # the share of dense MACs is a fraction already
            low, high = table[:, column].min(), table[:, column].max()
            table[:, column] = (table[:, column] - low) / (high - low) if high > low else 0.0
        return table

    def observation(self) -> np.ndarray:
        """The current group's features (the last group's again once the episode ended)."""
        step = min(len(self._counts), self.num_groups - 1)  # the last observation repeats
        sizes = [g.size for g in self.space.groups]
        so_far = self.space.macs(self.space.mask_from_counts(
            self._counts + sizes[len(self._counts):]))
        at_min = self.space.macs(self._mask([]))
        dense = self.space.dense_macs
        dynamic = [(dense - so_far) / dense, (so_far - at_min) / dense, self._previous]
        features = np.concatenate([self._static[step], dynamic])
        return np.clip(features, 0.0, 1.0).astype(np.float32)
