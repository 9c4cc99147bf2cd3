"""Multi-objective search of pruning masks with DEAP's NSGA-II: validation accuracy (maximised)
against cost ratio (minimised: MACs, or measured latency with ``evaluator.cost=latency``), so one
run yields a whole accuracy / cost trade-off (the Pareto front) instead of one mask per budget.

The answer for the configured budget is still picked by the run's fitness, from every
candidate scored; the driver keeps the front of everything scored (``SearchResult.front``).
"""

from __future__ import annotations

import random

import numpy as np
from deap import algorithms, base, tools

from evoprune.pruning.budget import smallest_mask, uniform_mask
from evoprune.search.base import Scored
from evoprune.search.evolution import EvolutionStrategy, perturbed
from evoprune.search.pareto import hypervolume


class ParetoFitness(base.Fitness):
    """DEAP fitness over (val_acc, cost_ratio): maximise the first, minimise the second
    (defined once, not via ``creator``)."""

    weights = (1.0, -1.0)


class ParetoIndividual(list):
    """A genome (list of genes) with its two-objective DEAP fitness."""

    def __init__(self, genes=()) -> None:
        super().__init__(genes)
        self.fitness = ParetoFitness()


class NSGA2Search(EvolutionStrategy):
    """Evolve a Pareto front of masks (see :class:`~evoprune.search.evolution.EvolutionStrategy`
    for the arguments).

    A ``population_size`` that is a multiple of 4 selects parents by DEAP's dominance /
    crowding tournament (``selTournamentDCD`` needs one); otherwise parents are drawn at random,
    which NSGA-II tolerates since survival is decided by ``selNSGA2`` anyway.
    """

    name = "nsga2"
    label = "NSGA-II"
    multi_objective = True
    individual = ParetoIndividual

    def __init__(self, *, crossover_prob: float = 0.9, init_spread: float = 0.1,
                 generations: int = 60, **settings) -> None:
        # 60, not the GA's 20: the front spreads one population over every budget, and its
        # hypervolume was measured still rising fast at 20 generations
        # (experiments/nsga2_generations)
        super().__init__(crossover_prob=crossover_prob, init_spread=init_spread,
                         generations=generations, **settings)

    def _first_population(self) -> list:
        """Individuals spread over the whole cost range, so the first front already spans the
        trade-off.

        First the anchors, uniform-magnitude masks as they are (not perturbed): at the run's
        budget (where the answer is picked, and where a single-budget GA starts), at the
        smallest feasible MACs ratio, at the dense model, and at evenly spaced MACs ratios
        between (a quarter of the population in all, at least 2); then the problem's start
        masks (``warm_start``), if any. Then the rest: individual
        ``i`` targets a MACs ratio drawn uniformly from the ``i``-th of equal slices of
        [smallest feasible, 1] (stratified, so no budget range is left empty by chance),
        starting from the uniform keep ratios that meet it, perturbed by ``init_spread``;
        magnitude masks or random genes by position, as ``magnitude_init`` says."""
        space = self.problem.space
        sizes = np.array([g.size for g in space.groups])
        smallest = float(space.macs_ratio(smallest_mask(space)))

        def ratios(mask) -> list[float]:
            return [float(r) for r in space.keep_counts(mask) / sizes]

        spaced = np.linspace(smallest, 1.0, max(2, self.population_size // 4))
        anchors = [ratios(self.problem.uniform_mask()), ratios(smallest_mask(space)),
                   ratios(space.full_mask())] + [ratios(uniform_mask(space, float(b)))
                                                 for b in spaced[1:-1]]
        population = [self.individual(self.encoding.from_ratios(r))
                      for r in anchors[: self.population_size]]
        population += self._starts(self.population_size - len(population))
        rest = self.population_size - len(population)
        for slot in range(rest):
            low = smallest + (1.0 - smallest) * slot / rest
            high = smallest + (1.0 - smallest) * (slot + 1) / rest
            target = ratios(uniform_mask(space, random.uniform(low, high)))
            population.append(self._genome(len(population),
                                           perturbed(target, self.init_spread)))
        return population

    def _offspring(self) -> list:
        if len(self.population) % 4 == 0:
            parents = tools.selTournamentDCD(self.population, len(self.population))
        else:  # selTournamentDCD needs a multiple of 4
            parents = tools.selRandom(self.population, len(self.population))
        return algorithms.varAnd([self.toolbox.clone(ind) for ind in parents], self.toolbox,
                                 self.crossover_prob, self.mutation_prob)

    @staticmethod
    def _fitness_values(candidate: Scored) -> tuple[float, float]:
        return (candidate.objectives.val_acc, candidate.objectives.cost_ratio)

    def _learn(self, candidates: list) -> dict:
        # elitism: survivors are chosen from parents and offspring together; in generation 0
        # this assigns the crowding distances that selTournamentDCD reads
        pool = candidates if self.generation == 0 else self.population + candidates
        self.population = tools.selNSGA2(pool, self.population_size)
        first = tools.sortNondominated(self.population, len(self.population),
                                       first_front_only=True)[0]
        return {"front": len(first),
                # the population's first front: can shrink only when crowding truncates it
                "hv": hypervolume([ind.fitness.values for ind in first],
                                  self.problem.reference),
                **self._population_figures(self.population),
                "feasible": self._feasible_share(self.population)}

    def format_row(self, row: dict) -> str:
        return (f"gen {row['gen']:3d}  evals {row['evals']:3d}  front {row['front']:3d}  "
                f"hypervolume {row['hv']:.4f} (all seen {row['hv_archive']:.4f})  feasible "
                f"{row['feasible']:4.0%}")
