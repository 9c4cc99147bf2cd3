"""Genetic search of pruning masks with DEAP: tournament selection, crossover, mutation,
elitism and a hall of fame, one generation per ask/tell round of the search driver."""

from __future__ import annotations

import numpy as np
from deap import algorithms, base, tools

from evoprune.infra.validators import check_bool, check_int
from evoprune.pruning.budget import fit_to_budget
from evoprune.search.base import Scored
from evoprune.search.evolution import (
    EvolutionStrategy,
    individual_state,
    perturbed,
    restore_individual,
)


class ScalarFitness(base.Fitness):
    """DEAP fitness with one objective to maximise (defined once, not via ``creator``)."""

    weights = (1.0,)


class Individual(list):
    """A genome (list of genes) with its DEAP fitness."""

    def __init__(self, genes=()) -> None:
        super().__init__(genes)
        self.fitness = ScalarFitness()


class GeneticSearch(EvolutionStrategy):
    """Evolve masks that maximise the run's fitness.

    Args (besides :class:`~evoprune.search.evolution.EvolutionStrategy`'s):
        tournament_size: selection pressure.
        elite: best individuals (from the hall of fame) copied unchanged into the next
            generation.
        repair: with the MACs cost, fit every individual to the budget before it is scored
            (:func:`~evoprune.pruning.budget.fit_to_budget`: the weakest units dropped while it
            is over, the strongest dropped units switched back on while one fits) and write
            the repaired mask back into its genes, so every candidate is feasible and spends
            the budget. Without it, the fitness alone steers the population to the budget
            and masks under it keep the slack. Structured pruning with the MACs cost only
            (a latency budget has no analytic repair; unstructured masks keep the fitness's
            guidance).

    The first individual is the uniform-magnitude mask that meets the budget; the others are
    perturbed around its per-group keep ratios. The budget limits the evaluator's cost
    (MACs, or measured latency).
    """

    name = "ga"
    label = "GA"
    individual = Individual

    def __init__(self, *, tournament_size: int = 3, elite: int = 2, crossover_prob: float = 0.6,
                 init_spread: float = 0.2, repair: bool = True, **settings) -> None:
        super().__init__(crossover_prob=crossover_prob, init_spread=init_spread, **settings)
        check_bool("repair", repair)
        self.repair = repair
        check_int("elite", elite, 0)
        if elite >= self.population_size:
            raise ValueError(f"elite must be in [0, population_size), got {elite}")
        check_int("tournament_size", tournament_size, 1)
        self.tournament_size = tournament_size
        self.elite = elite

    def bind(self, problem) -> None:
        super().bind(problem)
        self.toolbox.register("select", tools.selTournament, tournsize=self.tournament_size)
        self.hall = tools.HallOfFame(max(1, self.elite))

    def _first_population(self) -> list:
        space = self.problem.space
        uniform = space.keep_counts(self.problem.uniform_mask()) / [g.size for g in space.groups]
        # the first individual is the uniform-magnitude mask itself, then the warm starts
        population = [self._genome(0, list(uniform)), *self._starts(self.population_size - 1)]
        return population + [self._genome(index, perturbed(uniform, self.init_spread))
                             for index in range(len(population), self.population_size)]

    def _decode(self, individual) -> np.ndarray:
        mask = self.encoding.decode(individual)
        if self.repair and self.problem.cost == "macs" \
                and self.problem.space.kind == "structured":
            mask = fit_to_budget(self.problem.space, mask, self.problem.budget)
            individual[:] = self.encoding.encode(mask)
        return mask

    def _offspring(self) -> list:
        elites = [self.toolbox.clone(ind) for ind in self.hall[: self.elite]]
        chosen = self.toolbox.select(self.population, len(self.population) - len(elites))
        return elites + algorithms.varAnd([self.toolbox.clone(ind) for ind in chosen],
                                          self.toolbox, self.crossover_prob, self.mutation_prob)

    @staticmethod
    def _fitness_values(candidate: Scored) -> tuple[float]:
        return (candidate.fitness,)

    def _learn(self, candidates: list) -> dict:
        self.population = candidates
        self.hall.update(self.population)
        return {**self._population_figures(self.population),
                "feasible": self._feasible_share(self.population)}

    def format_row(self, row: dict) -> str:
        return (f"gen {row['gen']:3d}  evals {row['evals']:3d}  fitness max "
                f"{row['fit_max']:.4f} avg {row['fit_avg']:.4f}  feasible {row['feasible']:4.0%}")

    def _extra_state(self) -> dict:
        return {"hall": [individual_state(ind) for ind in self.hall]}

    def _load_extra_state(self, state: dict) -> None:
        # the hall keeps its best first, and its fitness keys in ascending order
        self.hall.items = [restore_individual(Individual, i) for i in state["hall"]]
        self.hall.keys = [ind.fitness for ind in reversed(self.hall.items)]
