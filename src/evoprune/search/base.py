"""What a search strategy sees and returns: the problem, scored candidates, the result.

A strategy (GA, NSGA-II, random, RL) only proposes masks and learns from their scores. The
driver (:mod:`evoprune.search.loop`) owns everything the strategies share: scoring through the
evaluator and the fitness, the best feasible candidate, counters, wall time, progress, tracker
rows, checkpoint and resume.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from evoprune.evaluate.evaluator import Objectives
from evoprune.infra.validators import check_int

if TYPE_CHECKING:  # annotations only: keeps this module free of import cycles
    from evoprune.evaluate.fitness import Fitness
    from evoprune.pruning.space import PruningSpace

# Called once per generation / episode with flat, loggable numbers.
ProgressCallback = Callable[[Mapping[str, float]], None]


@dataclass(frozen=True)
class Scored:
    """One candidate as the driver scored it: its mask, objectives and fitness value."""

    mask: np.ndarray
    objectives: Objectives
    fitness: float
    # scored at the search's full fidelity (with a proxy: promoted to its brief fine-tune);
    # only such candidates can be the answer, a finalist or on the front (search/fidelity.py)
    full: bool = True


@dataclass
class SearchResult:
    """The best mask a search found within the budget, and how it got there."""

    mask: np.ndarray
    objectives: Objectives
    fitness: float
    history: list[dict] = field(default_factory=list)  # one row per generation / episode
    evaluations: int = 0  # distinct masks scored at full fidelity (the evaluation budget's unit)
    requests: int = 0  # masks scored, cache hits included
    screened: int = 0  # distinct masks given the cheap score (= evaluations without a proxy)
    wall_time_s: float = 0.0
    # multi-objective strategies: every non-dominated candidate scored, sorted by cost ratio
    # (dicts with val_acc, macs_ratio, macs, params, mask and, with latency, latency figures)
    front: list[dict] | None = None
    # the best distinct feasible candidates, best first (``mask`` is the first): as many as
    # the driver was asked to keep, for a selection by fine-tuning
    finalists: list[Scored] = field(default_factory=list)
    # the strategy's own figures for results.json (RL: its greedy episode), from its summary()
    extra: dict = field(default_factory=dict)


class SearchProblem:
    """What a strategy may know of the problem.

    Attributes:
        space: the pruning space (groups, sizes, MACs of any mask).
        budget: the largest cost ratio a feasible mask may have.
        cost: what the budget limits: ``macs`` or ``latency`` (measured by the driver).
        fitness: the run's fitness, ``(objectives, budget) -> float`` (pure).
        score: scores a list of masks (evaluator, fitness, best feasible, counters) and returns
            one :class:`Scored` each. Strategies whose outer loop belongs to another library
            (RL: stable-baselines3) call it; ask/tell strategies never need to.
        reference: the hypervolume's reference point ``(chance accuracy, cost ratio just past
            dense)`` of this problem, for multi-objective strategies.
        starts: masks a population may start from besides its own (the one-shot baselines'
            answers at the budget, ``warm_start``); may be empty.
    """

    def __init__(self, space: PruningSpace, budget: float, cost: str, fitness: Fitness,
                 score: Callable[[Sequence[np.ndarray]], list[Scored]],
                 uniform_within_budget: Callable[[], np.ndarray], *,
                 reference: tuple[float, float], starts: Sequence[np.ndarray] = ()) -> None:
        self.space, self.budget, self.cost, self.fitness = space, budget, cost, fitness
        self.reference = reference
        self.starts = [np.asarray(mask) for mask in starts]
        self.score = score
        self._uniform_within_budget = uniform_within_budget
        self._uniform: np.ndarray | None = None

    def uniform_mask(self) -> np.ndarray:
        """The uniform-magnitude mask (one keep ratio for every group) that meets the budget
        in its own cost (with latency: found by timing a few probes, once)."""
        if self._uniform is None:
            self._uniform = self._uniform_within_budget()
        return self._uniform

    def macs_target(self) -> float:
        """A MACs ratio that meets the budget: the budget itself when MACs are the cost, the
        uniform mask's MACs ratio when latency is."""
        if self.cost == "macs":
            return self.budget
        return float(self.space.macs_ratio(self.uniform_mask()))


class Strategy(abc.ABC):
    """A search method, run by :class:`~evoprune.search.loop.SearchDriver`. Subclass
    :class:`AskTellStrategy` (the driver's loop) or :class:`SelfDrivenStrategy` (a loop owned
    by another library), never this class directly.

    Class attributes say what the method is and can do; the driver and the config checks read
    them as they are:

    - ``name``: its row in ``results.json`` and its checkpoint; ``label``: progress display.
    - ``costs``: the costs it can budget, ``("macs",)`` or ``("macs", "latency")``.
    - ``kinds``: the pruning kinds it searches, ``structured`` and/or ``unstructured``.
    - ``multi_objective``: True when the driver should keep the Pareto front of everything
      scored and return it.
    - ``starts_population``: True when it takes the problem's start masks (``warm_start``)
      into its first population.

    ``bind(problem)`` comes first, then ``start()`` for a fresh search or
    ``load_state_dict(state)`` for a resumed one (``state_dict()`` holds plain values and
    tensors only).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    costs: ClassVar[tuple[str, ...]] = ("macs", "latency")
    kinds: ClassVar[tuple[str, ...]] = ("structured", "unstructured")
    multi_objective: ClassVar[bool] = False
    starts_population: ClassVar[bool] = False

    @abc.abstractmethod
    def bind(self, problem: SearchProblem) -> None:
        """Take the problem (space, budget, fitness, scoring); no random numbers yet."""

    @abc.abstractmethod
    def start(self) -> None:
        """Begin a fresh search: seed, first population or policy."""

    @abc.abstractmethod
    def state_dict(self) -> dict:
        """Everything a resumed search needs, as plain values and tensors."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s values (after :meth:`bind`)."""

    @abc.abstractmethod
    def total_steps(self) -> int:
        """Steps (generations, batches, episodes) in the whole search: the progress total."""

    def format_row(self, row: Mapping[str, float]) -> str | None:
        """The strategy's part of a step's console line (None: no line)."""
        return None

    def summary(self, history: list[dict]) -> dict:
        """Figures of its own for the result (``SearchResult.extra``, then results.json)."""
        return {}


class AskTellStrategy(Strategy):
    """A strategy the driver runs step by step: ``ask()`` for masks, the driver scores them,
    ``tell(scored)`` returns the step's row, until ``done()``. The driver checkpoints
    between steps."""

    @abc.abstractmethod
    def ask(self) -> list[np.ndarray]:
        """The masks to score in this step."""

    @abc.abstractmethod
    def tell(self, scored: list[Scored]) -> dict:
        """Learn from the scored masks (in the order asked); return the step's row, its first
        key naming the step (``{"gen": 3, ...}``)."""

    @abc.abstractmethod
    def done(self) -> bool:
        """Whether the search has taken all its steps."""


class SelfDrivenStrategy(Strategy):
    """A strategy whose loop belongs to another library (RL: stable-baselines3's ``learn``).
    It scores masks through ``problem.score``, reports each step with ``driver.record(row)``
    and checkpoints with ``driver.save()``."""

    @abc.abstractmethod
    def drive(self, driver) -> None:
        """Run the whole search, reporting through ``driver``."""


# what a search strategy derives from: the driver runs either kind, and nothing else
STRATEGY_BASES = (AskTellStrategy, SelfDrivenStrategy)


class BestFeasible:
    """Tracks the best candidates that meet the budget (``cost_ratio <= budget``), over every
    candidate scored: the best one (``mask``, ``objectives``, ``fitness``) and, with
    ``keep > 1``, the ``keep`` best distinct masks (``finalists``, best first), from which a
    run may pick its answer by a short fine-tune.

    Ties on fitness go to higher accuracy, then lower cost, then fewer MACs, so the answer does
    not depend on the order candidates were scored in.
    """

    def __init__(self, budget: float, keep: int = 1) -> None:
        check_int("keep", keep, 1)
        self.budget, self.keep = budget, keep
        self.finalists: list[Scored] = []

    @property
    def mask(self) -> np.ndarray | None:
        return self.finalists[0].mask if self.finalists else None

    @property
    def objectives(self) -> Objectives | None:
        return self.finalists[0].objectives if self.finalists else None

    @property
    def fitness(self) -> float:
        return self.finalists[0].fitness if self.finalists else -np.inf

    def offer(self, mask: np.ndarray, objectives: Objectives, fitness: float) -> None:
        if not is_feasible(objectives, self.budget):
            return
        if len(self.finalists) == self.keep and _rank(objectives, fitness) <= _rank(
                self.finalists[-1].objectives, self.finalists[-1].fitness):
            return
        if any(np.array_equal(mask, kept.mask) for kept in self.finalists):
            return
        self.finalists.append(Scored(mask.copy(), objectives, fitness))
        self.finalists.sort(key=lambda c: _rank(c.objectives, c.fitness), reverse=True)
        del self.finalists[self.keep:]

    def state_dict(self) -> dict:
        return {"finalists": [(torch.from_numpy(c.mask), asdict(c.objectives), float(c.fitness))
                              for c in self.finalists]}

    def load_state_dict(self, state: dict) -> None:
        if "finalists" not in state:  # a checkpoint of the best candidate alone
            entries = [] if state["mask"] is None else [
                (state["mask"], state["objectives"], state["fitness"])]
        else:
            entries = state["finalists"]
        self.finalists = [Scored(mask.numpy(), Objectives(**objectives), fitness)
                          for mask, objectives, fitness in entries][: self.keep]


def is_feasible(objectives: Objectives, budget: float) -> bool:
    """Whether a candidate meets the budget (its cost ratio, up to rounding)."""
    return objectives.cost_ratio <= budget + 1e-12


def feasible_share(objectives: Sequence[Objectives], budget: float) -> float:
    """The fraction of candidates that meet the budget (a progress row's ``feasible``)."""
    return float(np.mean([is_feasible(o, budget) for o in objectives]))


def _rank(objectives: Objectives, fitness: float) -> tuple:
    return (fitness, objectives.val_acc, -objectives.cost_ratio, -objectives.macs)
