"""The one search loop: every strategy (GA, NSGA-II, random, RL) runs through it.

The driver owns what every search shares: scoring masks through the evaluator and the fitness,
the best feasible candidate and the fallback when none is feasible, the evaluation and request
counters, the search's fidelity (which masks get the proxy's brief fine-tune,
``search/fidelity.py``) and its budget (``max_evaluations``, ``max_seconds``), wall time,
progress, tracker rows, checkpoint and resume, and (for multi-objective strategies) the Pareto
front. A strategy only proposes masks and learns from their scores
(``ask``/``tell``), or, when another library owns the loop (stable-baselines3), scores through
``SearchProblem.score`` and reports each step with :meth:`SearchDriver.record`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import numpy as np
import torch

from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.evaluate.fitness import Fitness
from evoprune.infra.checkpoint import SearchCheckpoint, restore_rng, rng_state
from evoprune.infra.progress import progress_bar
from evoprune.infra.validators import check_int, check_number
from evoprune.pruning.space import PruningSpace
from evoprune.search.base import (
    STRATEGY_BASES,
    AskTellStrategy,
    BestFeasible,
    ProgressCallback,
    Scored,
    SearchProblem,
    SearchResult,
    Strategy,
)
from evoprune.search.cost import check_search_budget, shrink_within, uniform_mask_within
from evoprune.search.fidelity import Promotion
from evoprune.search.front import ParetoArchive
from evoprune.search.pareto import reference_point


class SearchDriver:
    """Runs one strategy on one problem; see the module docstring.

    Args:
        space, evaluator, fitness, budget: the problem; the budget limits
            ``Objectives.cost_ratio`` (``evaluator.cost``: MACs or measured latency).
        callback: called with every step's row (generation or episode), also the rows a
            resumed search replays, so a fresh tracker sees the whole history.
        checkpoint: where the search state is saved, and resumed from.
        progress: show a progress bar and the strategy's per-step lines.
        finalists: how many of the best distinct feasible candidates the result lists
            (``SearchResult.finalists``), for a selection by fine-tuning after the search.
        fidelity: gives the promising masks of each step a second, expensive score (the
            proxy); None: the evaluator's score is the only one.
        max_evaluations: stop once this many distinct masks have been scored at full fidelity
            (promotions stop exactly there; without a fidelity stage the step that reaches it
            finishes). None: the strategy's own length.
        max_seconds: stop at the first step (generation, batch, episode) that ends after this
            much search time.
    """

    def __init__(self, space: PruningSpace, evaluator: Evaluator, fitness: Fitness,
                 budget: float, *, callback: ProgressCallback | None = None,
                 checkpoint: SearchCheckpoint | None = None, progress: bool = False,
                 finalists: int = 1, starts: Sequence[np.ndarray] = (),
                 fidelity: Promotion | None = None, max_evaluations: int | None = None,
                 max_seconds: float | None = None) -> None:
        check_search_limits(max_evaluations, max_seconds)
        self.space, self.evaluator, self.fitness, self.budget = space, evaluator, fitness, budget
        self.fidelity = fidelity
        self.max_evaluations, self.max_seconds = max_evaluations, max_seconds
        self.starts = list(starts)
        self._start_keys = frozenset(space.key(start) for start in self.starts)
        self.callback, self.checkpoint, self.progress = callback, checkpoint, progress
        self.best = BestFeasible(budget, keep=finalists)
        self.fittest: Scored | None = None  # the fallback's starting point
        self.archive: ParetoArchive | None = None
        self.history: list[dict] = []
        self._step_scored: list[Scored] = []  # scored since the last row: its step figures
        self.strategy: Strategy | None = None
        self._clock = time.perf_counter()
        self._elapsed_before = 0.0
        self._counters_before = self._counters()
        self._display = None

    # ------------------------------------------------------------------ for strategies
    def score(self, masks: Sequence[np.ndarray]) -> list[Scored]:
        """Objectives and fitness of each mask (with a fidelity stage, the promoted masks'
        accuracy is the expensive score); every mask scored at full fidelity is offered to
        the best feasible candidate (and to the Pareto archive)."""
        masks = list(masks)
        cheap = self.evaluator.evaluate(masks)
        if self.fidelity is None:
            graded = [(objectives, True) for objectives in cheap]
        else:
            graded = self.fidelity.score(
                masks, cheap, lambda objectives: self.fitness(objectives, self.budget),
                allowance=None if self.max_evaluations is None
                else self.max_evaluations - self.evaluations(),
                always=self._start_keys)
        scored = [Scored(mask, objectives, float(self.fitness(objectives, self.budget)), full)
                  for mask, (objectives, full) in zip(masks, graded)]
        self._step_scored.extend(scored)
        for candidate in scored:
            if candidate.full:
                self.best.offer(candidate.mask, candidate.objectives, candidate.fitness)
            if self.fittest is None or (candidate.full, candidate.fitness) > (
                    self.fittest.full, self.fittest.fitness):
                self.fittest = candidate
        if self.archive is not None:
            self.archive.add([(c.mask, c.objectives) for c in scored if c.full])
        return scored

    def evaluations(self) -> int:
        """Distinct masks scored at full fidelity in this search (resumed ones included)."""
        return self._counters()[1] - self._counters_before[1]

    def exhausted(self) -> bool:
        """Whether the search's budget (``max_evaluations``, ``max_seconds``) is spent."""
        return (self.max_evaluations is not None
                and self.evaluations() >= self.max_evaluations) or (
            self.max_seconds is not None and self.wall_time_s() >= self.max_seconds)

    def _counters(self) -> tuple[int, int, int]:
        """(requests, full-fidelity evaluations, cheap evaluations) so far, all searches."""
        full = self.evaluator.evaluations if self.fidelity is None else self.fidelity.promoted
        return self.evaluator.requests, full, self.evaluator.evaluations

    def record(self, row: Mapping[str, float]) -> None:
        """One finished step: the strategy's figures plus the best feasible candidate so far,
        to the history, the progress display and the callback.

        Every row carries the step's best and mean fitness and mean cost ratio (``fit_max``,
        ``fit_avg``, ``cost_avg``): the strategy's own when it reports them (GA and NSGA-II:
        over the population), else over the masks scored since the previous row (random
        search: the batch; RL: the episode's mask). Then the best feasible candidate so far:
        ``best_fitness``, ``best_acc``, ``best_macs`` (and ``best_latency``).
        """
        # the step's name stays the first key; the strategy's own figures win
        row = {**row, **{key: value for key, value in step_figures(self._step_scored).items()
                         if key not in row}}
        self._step_scored = []
        best = self.best.objectives
        row = {**row, "best_fitness": float(self.best.fitness) if best else float("nan"),
               "best_acc": float(best.val_acc) if best else float("nan"),
               "best_macs": float(best.macs_ratio) if best else float("nan")}
        if self.evaluator.cost == "latency":
            row["best_latency"] = float(best.cost_ratio) if best else float("nan")
        if self.archive is not None:  # everything scored so far: never shrinks
            row["hv_archive"] = self.archive.hypervolume()
        self.history.append(row)
        self._show(row)
        if self.callback is not None:
            self.callback(row)

    def save(self) -> None:
        """Checkpoint the strategy's state with the driver's (a no-op without a checkpoint)."""
        if self.checkpoint is None:
            return
        self.checkpoint.save(self.strategy.name, {
            "strategy": self.strategy.state_dict(),
            "history": list(self.history),
            "best": self.best.state_dict(),
            "fittest": None if self.fittest is None else (
                torch.from_numpy(self.fittest.mask), asdict(self.fittest.objectives),
                self.fittest.fitness),
            "archive": None if self.archive is None else self.archive.state_dict(),
            "evaluator": self.evaluator.state_dict(),
            "fidelity": None if self.fidelity is None else self.fidelity.state_dict(),
            "rng": rng_state(),
            "elapsed_s": self.wall_time_s(),
            "counters_before": self._counters_before,
        })

    @property
    def every_episodes(self) -> int:
        """Episodes between checkpoints, for strategies that save at episode ends (0: never)."""
        return self.checkpoint.every_episodes if self.checkpoint is not None else 0

    def wall_time_s(self) -> float:
        return self._elapsed_before + time.perf_counter() - self._clock

    # ------------------------------------------------------------------ the loop
    def run(self, strategy: Strategy) -> SearchResult:
        """Search with ``strategy`` (resuming from the checkpoint when there is one); return
        the best feasible mask of everything scored."""
        if not isinstance(strategy, STRATEGY_BASES):
            raise TypeError(f"a search strategy subclasses AskTellStrategy or "
                            f"SelfDrivenStrategy (evoprune.search.base), got "
                            f"{type(strategy).__name__}")
        self.strategy = strategy
        # hypervolumes count the score above chance (a model that ignores its input)
        reference = reference_point(self.evaluator.chance)
        self.archive = ParetoArchive(reference) if strategy.multi_objective else None
        problem = SearchProblem(
            self.space, self.budget, self.evaluator.cost, self.fitness, self.score,
            lambda: uniform_mask_within(self.space, self.evaluator, self.budget),
            reference=reference, starts=self.starts)
        if self.evaluator.cost not in strategy.costs:
            raise ValueError(
                f"the {strategy.label} search budgets {' or '.join(strategy.costs)}, not "
                f"{self.evaluator.cost}")
        saved = self.checkpoint.load(strategy.name) if self.checkpoint is not None else None
        if saved is None:
            check_search_budget(self.space, self.evaluator, self.budget)  # latency: times one
        strategy.bind(problem)
        if saved is None:
            strategy.start()
        else:
            self._restore(saved)
        with progress_bar(enabled=self.progress) as display:
            self._display = (display, display.add_task(
                f"{strategy.label} search", total=strategy.total_steps(),
                completed=len(self.history)))
            if saved is not None:
                step, number = next(iter(self.history[-1].items())) if self.history else ("", 0)
                display.console.print(f"{strategy.label} resumed after {step} {number} from "
                                      f"{self.checkpoint.path}")
                for row in self.history:
                    if self.callback is not None:
                        self.callback(row)
                restore_rng(saved["rng"])  # after the replay: a tracker may draw numbers
            if isinstance(strategy, AskTellStrategy):
                self._ask_tell(strategy)
            else:
                strategy.drive(self)
            self._display = None
        if self.best.mask is None:  # nothing met the budget: shrink the fittest candidate
            if self.fittest is None:
                raise RuntimeError(f"the {strategy.label} search proposed no mask")
            mask, objectives = shrink_within(self.space, self.evaluator, self.fittest.mask,
                                             self.budget)
            self._offer(mask, objectives)
        requests, evaluations, screened = (
            now - before for now, before in zip(self._counters(), self._counters_before))
        return SearchResult(
            mask=self.best.mask, objectives=self.best.objectives,
            fitness=float(self.best.fitness), history=list(self.history),
            evaluations=evaluations, requests=requests, screened=screened,
            wall_time_s=self.wall_time_s(),
            front=None if self.archive is None else self.archive.entries(self.space),
            finalists=list(self.best.finalists),
            extra=strategy.summary(self.history),
        )

    def _ask_tell(self, strategy: AskTellStrategy) -> None:
        while not strategy.done():
            self.record(strategy.tell(self.score(strategy.ask())))
            last = strategy.done() or self.exhausted()  # a spent budget ends it after a step
            if self.checkpoint is not None and self.checkpoint.due(len(self.history) - 1,
                                                                   last=last):
                self.save()
            if last:
                break

    def _offer(self, mask: np.ndarray, objectives: Objectives) -> None:
        fitness = float(self.fitness(objectives, self.budget))
        self.best.offer(mask, objectives, fitness)
        if self.archive is not None:
            self.archive.add([(mask, objectives)])

    def _restore(self, saved: dict) -> None:
        self.history = list(saved["history"])
        self.best.load_state_dict(saved["best"])
        if saved["fittest"] is not None:
            mask, objectives, fitness = saved["fittest"]
            self.fittest = Scored(mask.numpy(), Objectives(**objectives), fitness)
        if self.archive is not None:
            self.archive.load_state_dict(saved["archive"])
        self.evaluator.load_state_dict(saved["evaluator"])
        if self.fidelity is not None:
            self.fidelity.load_state_dict(saved["fidelity"])
        self._elapsed_before = saved["elapsed_s"]
        self._counters_before = tuple(saved["counters_before"])
        self.strategy.load_state_dict(saved["strategy"])  # may draw numbers: RNGs come later

    def _show(self, row: dict) -> None:
        if self._display is None:
            return
        display, bar_task = self._display
        line = self.strategy.format_row(row)
        task = getattr(self.evaluator, "task", None)  # a stand-in evaluator may have none
        score = "val_acc" if task is None else task.label("val")
        if line is not None and self.progress:
            display.console.print(f"{line}  best feasible: {score} {row['best_acc']:.4f} at "
                                  f"{best_cost_text(row)}")
        step, number = next(iter(row.items()))
        display.update(bar_task, advance=1, description=(
            f"{self.strategy.label} {step} {number}: best feasible {score} "
            f"{row['best_acc']:.4f}"))


def step_figures(scored: Sequence[Scored]) -> dict[str, float]:
    """Best and mean fitness and mean cost ratio of one step's candidates (NaN for none)."""
    if not scored:
        return {"fit_max": float("nan"), "fit_avg": float("nan"), "cost_avg": float("nan")}
    fitness = [candidate.fitness for candidate in scored]
    return {"fit_max": float(max(fitness)), "fit_avg": float(np.mean(fitness)),
            "cost_avg": float(np.mean([c.objectives.cost_ratio for c in scored]))}


def best_cost_text(row: Mapping[str, float]) -> str:
    """``0.441 of dense MACs`` (or ``of dense latency``) for a driver's row."""
    if "best_latency" in row:
        return f"{row['best_latency']:.3f} of dense latency"
    return f"{row['best_macs']:.3f} of dense MACs"


def check_search_limits(max_evaluations: int | None, max_seconds: float | None) -> None:
    """Refuse a search budget out of range (None: no limit)."""
    check_int("max_evaluations", max_evaluations, 1, optional=True)
    if max_seconds is not None:
        check_number("max_seconds", max_seconds, low=0, low_open=True)


def run_search(strategy: Strategy, space: PruningSpace, evaluator: Evaluator, fitness: Fitness,
               budget: float, *, callback: ProgressCallback | None = None,
               checkpoint: SearchCheckpoint | None = None, progress: bool = False,
               finalists: int = 1, starts: Sequence[np.ndarray] = (),
               fidelity: Promotion | None = None, max_evaluations: int | None = None,
               max_seconds: float | None = None) -> SearchResult:
    """Run ``strategy`` through a :class:`SearchDriver` (the one call ``run.py`` makes)."""
    return SearchDriver(space, evaluator, fitness, budget, callback=callback,
                        checkpoint=checkpoint, progress=progress, finalists=finalists,
                        starts=starts, fidelity=fidelity, max_evaluations=max_evaluations,
                        max_seconds=max_seconds).run(strategy)
