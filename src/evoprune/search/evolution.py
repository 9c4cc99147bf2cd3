"""What the evolutionary strategies (GA, NSGA-II) share: their settings, the ask/tell cycle over
a DEAP population, first-generation genomes, and population state as plain values.

Every random number comes from Python's ``random`` module, which DEAP's operators use too;
``start`` seeds it, and the driver checkpoints and restores it with the other global RNGs.
"""

from __future__ import annotations

import random
from dataclasses import asdict

import numpy as np
from deap import base

from evoprune.evaluate.evaluator import Objectives
from evoprune.infra.validators import check_int, check_number, check_probability
from evoprune.search.base import AskTellStrategy, Scored, SearchProblem, feasible_share
from evoprune.search.encodings import ENCODINGS


class EvolutionStrategy(AskTellStrategy):
    """A DEAP population evolved one generation per ask/tell round.

    Args:
        encoding: ``mask`` (one bit per unit), ``ratios`` (one keep-ratio per group), or
            ``auto``: ``mask`` for structured pruning, ``ratios`` for unstructured (whose
            weights are kept by magnitude per layer, so only ratios apply).
        population_size, generations: evaluations are at most ``population_size *
            (generations + 1)``.
        crossover_prob, mutation_prob: per-offspring probabilities (DEAP's ``varAnd``).
        mutation_indpb: per-gene mutation probability (default: about two genes per genome).
        magnitude_init: fraction of the first population built from magnitude masks at
            perturbed per-group ratios (the rest: random genomes at the same ratios).
        init_spread: half-width of that per-group perturbation.
        seed: seeds Python's ``random`` (DEAP's source of randomness) when the search starts.

    Subclasses set their own defaults for ``crossover_prob`` and ``init_spread``, and define
    ``individual`` (the DEAP individual class), ``_first_population``,
    ``_offspring``, ``_learn`` (assign fitness, select survivors, return the row) and may add to
    the state with ``_extra_state`` / ``_load_extra_state``.
    """

    starts_population = True  # takes the problem's start masks (warm_start) into generation 0
    individual: type

    def __init__(
        self, *, crossover_prob: float, init_spread: float, encoding: str = "auto",
        population_size: int = 32, generations: int = 20, mutation_prob: float = 0.4,
        mutation_indpb: float | None = None, magnitude_init: float = 0.5, seed: int = 0,
    ) -> None:
        if encoding != "auto" and encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {['auto', *sorted(ENCODINGS)]}, got "
                             f"'{encoding}'")
        check_int("population_size", population_size, 2)
        check_int("generations", generations, 0)
        for name, value in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob),
                            ("magnitude_init", magnitude_init)):
            check_probability(name, value)
        check_number("init_spread", init_spread, low=0)
        if mutation_indpb is not None:
            check_probability("mutation_indpb", mutation_indpb)
        self.encoding_name = encoding
        self.population_size = population_size
        self.generations = generations
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        self.mutation_indpb = mutation_indpb
        self.magnitude_init = magnitude_init
        self.init_spread = init_spread
        self.seed = seed

    # ------------------------------------------------------------------ strategy protocol
    def bind(self, problem: SearchProblem) -> None:
        self.problem = problem
        name = self.encoding_name
        if name == "auto":
            name = "mask" if problem.space.kind == "structured" else "ratios"
        self.encoding = ENCODINGS[name](problem.space, mutation_indpb=self.mutation_indpb)
        self.toolbox = base.Toolbox()
        self.encoding.register(self.toolbox)
        self.population: list = []
        self.generation = -1  # the last generation scored
        self._pending: list = []

    def start(self) -> None:
        random.seed(self.seed)
        self.population = self._first_population()

    def total_steps(self) -> int:
        return self.generations + 1

    def done(self) -> bool:
        return self.generation >= self.generations

    def ask(self) -> list[np.ndarray]:
        """The genomes of the next generation that have no fitness yet, as masks."""
        candidates = self.population if self.generation < 0 else self._offspring()
        self._candidates = candidates
        self._pending = [ind for ind in candidates if not ind.fitness.valid]
        return [self._decode(ind) for ind in self._pending]

    def tell(self, scored: list[Scored]) -> dict:
        for individual, candidate in zip(self._pending, scored):
            individual.objectives = candidate.objectives
            individual.fitness.values = self._fitness_values(candidate)
        self.generation += 1
        row = {"gen": self.generation, "evals": len(self._pending)}
        return {**row, **self._learn(self._candidates)}

    def state_dict(self) -> dict:
        return {"generation": self.generation,
                "population": [individual_state(ind) for ind in self.population],
                **self._extra_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generation = state["generation"]
        self.population = [restore_individual(self.individual, i) for i in state["population"]]
        self._load_extra_state(state)

    # ------------------------------------------------------------------ shared pieces
    def _decode(self, individual) -> np.ndarray:
        """The mask an individual stands for (a subclass may repair it)."""
        return self.encoding.decode(individual)

    def _extra_state(self) -> dict:
        return {}

    def _load_extra_state(self, state: dict) -> None:
        pass

    def _genome(self, index: int, ratios) -> list:
        """The ``index``-th first-generation genome at these per-group ratios: the magnitude
        mask for the first ``magnitude_init`` share of the population, random genes with the
        ratios as keep probabilities for the rest."""
        if index < round(self.magnitude_init * self.population_size):
            return self.individual(self.encoding.from_ratios(ratios))
        return self.individual(self.encoding.random_genome(ratios))

    def _starts(self, room: int) -> list:
        """Individuals of the problem's start masks (``warm_start``), at most ``room``."""
        return [self.individual(self.encoding.encode(np.asarray(mask, dtype=bool)))
                for mask in self.problem.starts[:room]]

    def _feasible_share(self, population: list) -> float:
        return feasible_share([ind.objectives for ind in population], self.problem.budget)

    def _population_figures(self, population: list) -> dict:
        """Best and mean run fitness and mean cost ratio of a population: the same figures
        for GA and NSGA-II (whose DEAP fitness is the two objectives, not the run's)."""
        problem = self.problem
        fitness = [problem.fitness(ind.objectives, problem.budget) for ind in population]
        return {"fit_max": float(max(fitness)), "fit_avg": float(np.mean(fitness)),
                "cost_avg": float(np.mean([ind.objectives.cost_ratio for ind in population]))}


def perturbed(ratios, spread: float) -> list[float]:
    """Each ratio moved by a uniform draw in [-spread, spread] (one ``random`` call per group,
    in group order), clipped to [0, 1]."""
    return [min(1.0, max(0.0, r + random.uniform(-spread, spread))) for r in ratios]


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
