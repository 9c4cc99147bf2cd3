"""What every searcher checkpoints beside its own state, and how it picks up after a restart."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.infra.checkpoint import restore_rng, rng_state
from evoprune.search.base import BestFeasible, ProgressCallback, SearchResult

if TYPE_CHECKING:
    from rich.progress import Progress


class Attempt:
    """One attempt at a search: its clock, and the time and evaluator counts carried over from
    the attempts before it (none for a fresh search)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.start = time.perf_counter()
        self.elapsed_before = 0.0
        self.counters_before = (evaluator.requests, evaluator.evaluations)

    def state(self, best: BestFeasible, evaluator: Evaluator) -> dict:
        """The shared part of a checkpoint: best answer, evaluator memo, RNGs, time, counts."""
        return {"best": best.state_dict(), "evaluator": evaluator.state_dict(),
                "rng": rng_state(), "elapsed_s": self.wall_time_s(),
                "counters_before": self.counters_before}

    def restore(self, saved: dict, best: BestFeasible, evaluator: Evaluator) -> None:
        """Put back what :meth:`state` saved (the global RNGs included)."""
        best.load_state_dict(saved["best"])
        evaluator.load_state_dict(saved["evaluator"])
        restore_rng(saved["rng"])
        self.elapsed_before = saved["elapsed_s"]
        self.counters_before = tuple(saved["counters_before"])

    def wall_time_s(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.start

    def result(self, best: BestFeasible, history: list[dict], evaluator: Evaluator
               ) -> SearchResult:
        requests_before, evaluations_before = self.counters_before
        return SearchResult(
            mask=best.mask, objectives=best.objectives, fitness=float(best.fitness),
            history=history, evaluations=evaluator.evaluations - evaluations_before,
            requests=evaluator.requests - requests_before, wall_time_s=self.wall_time_s(),
        )


def announce_resume(progress: Progress, message: str, rows: list[dict],
                    callback: ProgressCallback | None) -> None:
    """Say where the search resumed, and replay its history to a fresh tracker."""
    progress.console.print(message)
    if callback is not None:
        for row in rows:
            callback(row)


def individual_state(individual) -> dict:
    """A scored DEAP individual as plain values (genes, fitness, objectives, crowding)."""
    return {"genes": list(individual), "values": tuple(individual.fitness.values),
            "objectives": asdict(individual.objectives),
            "crowding_dist": getattr(individual.fitness, "crowding_dist", None)}


def restore_individual(cls, state: dict):
    """The individual ``individual_state`` described, as an instance of ``cls``."""
    individual = cls(state["genes"])
    individual.fitness.values = state["values"]
    individual.objectives = Objectives(**state["objectives"])
    if state["crowding_dist"] is not None:  # NSGA-II's tournament reads it
        individual.fitness.crowding_dist = state["crowding_dist"]
    return individual
