"""Genetic search of pruning masks with DEAP: tournament selection, crossover, mutation,
elitism, a hall of fame and a per-generation Logbook."""

from __future__ import annotations

import random

import numpy as np
from deap import algorithms, base, tools

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import Fitness
from evoprune.infra.checkpoint import SearchCheckpoint
from evoprune.infra.progress import progress_bar
from evoprune.pruning.space import PruningSpace
from evoprune.search.base import (
    BestFeasible,
    ProgressCallback,
    SearchResult,
    best_cost_fields,
    best_cost_text,
)
from evoprune.search.cost import check_search_budget, shrink_within, uniform_mask_within
from evoprune.search.encodings import (
    ENCODINGS,
    check_evolution_settings,
    initial_genome,
    perturbed,
)
from evoprune.search.resume import (
    Attempt,
    announce_resume,
    individual_state,
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


class GeneticSearch:
    """Evolve masks that maximise fitness; return the best one that meets the budget.

    Args:
        encoding: ``mask`` (one bit per unit) or ``ratios`` (one keep-ratio per group).
        population_size, generations: the usual; evaluations are at most their product.
        crossover_prob, mutation_prob: per-offspring probabilities (DEAP's ``varAnd``).
        mutation_indpb: per-gene mutation probability (default: about two genes per genome).
        tournament_size: selection pressure.
        elite: best individuals copied unchanged into the next generation.
        magnitude_init: fraction of the first population built from magnitude masks at
            perturbed per-group ratios around the uniform ratio that meets the budget (the rest
            is random); 0 starts from random genomes only.
        init_spread: half-width of that perturbation.
        seed: seeds Python's ``random`` (DEAP's source of randomness) at the start of ``run``.
        progress: show a progress bar and one line per generation.

    The budget limits the evaluator's cost (``Objectives.cost_ratio``): MACs, or measured
    latency.
    """

    name = "ga"
    costs = ("macs", "latency")

    def __init__(
        self,
        *,
        encoding: str = "mask",
        population_size: int = 32,
        generations: int = 20,
        crossover_prob: float = 0.6,
        mutation_prob: float = 0.4,
        mutation_indpb: float | None = None,
        tournament_size: int = 3,
        elite: int = 2,
        magnitude_init: float = 0.5,
        init_spread: float = 0.2,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        check_evolution_settings(
            encoding=encoding, population_size=population_size, generations=generations,
            crossover_prob=crossover_prob, mutation_prob=mutation_prob,
            magnitude_init=magnitude_init, init_spread=init_spread,
        )
        if not 0 <= elite < population_size:
            raise ValueError(f"search.elite must be in [0, population_size), got {elite}")
        self.encoding_name = encoding
        self.population_size = population_size
        self.generations = generations
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        self.mutation_indpb = mutation_indpb
        self.tournament_size = tournament_size
        self.elite = elite
        self.magnitude_init = magnitude_init
        self.init_spread = init_spread
        self.seed = seed
        self.progress = progress

    def run(
        self,
        space: PruningSpace,
        evaluator: Evaluator,
        fitness: Fitness,
        budget: float,
        callback: ProgressCallback | None = None,
        checkpoint: SearchCheckpoint | None = None,
    ) -> SearchResult:
        attempt = Attempt(evaluator)
        encoding = ENCODINGS[self.encoding_name](space, mutation_indpb=self.mutation_indpb)
        toolbox = base.Toolbox()
        encoding.register(toolbox)
        toolbox.register("select", tools.selTournament, tournsize=self.tournament_size)
        best = BestFeasible(budget)

        def score(individuals: list[Individual]) -> int:
            todo = [ind for ind in individuals if not ind.fitness.valid]
            masks = [encoding.decode(ind) for ind in todo]
            for ind, mask, objectives in zip(todo, masks, evaluator.evaluate(masks)):
                value = fitness(objectives, budget)
                ind.fitness.values = (value,)
                ind.objectives = objectives
                best.offer(mask, objectives, value)
            return len(todo)

        hall = tools.HallOfFame(max(1, self.elite))
        logbook = tools.Logbook()
        saved = checkpoint.load(self.name) if checkpoint is not None else None
        if saved is None:
            check_search_budget(space, evaluator, budget)  # in latency: times the smallest mask
            uniform = uniform_mask_within(space, evaluator, budget)
            random.seed(self.seed)
            population = self._initial_population(space, encoding, uniform)
            first = 0
        else:
            population = [restore_individual(Individual, i) for i in saved["population"]]
            # the hall keeps its best first, and its fitness keys in ascending order
            hall.items = [restore_individual(Individual, i) for i in saved["hall"]]
            hall.keys = [ind.fitness for ind in reversed(hall.items)]
            for row in saved["logbook"]:
                logbook.record(**row)
            attempt.restore(saved, best, evaluator)
            first = saved["generation"] + 1
        with progress_bar(enabled=self.progress) as progress:
            task = progress.add_task("GA search", total=self.generations + 1, completed=first)
            if saved is not None:
                announce_resume(progress, f"GA resumed after generation {first - 1} from "
                                f"{checkpoint.path}", list(logbook), callback)
            for generation in range(first, self.generations + 1):
                if generation:
                    population = self._next_generation(population, hall, toolbox)
                evaluated = score(population)
                hall.update(population)
                row = self._record(generation, evaluated, population, best, evaluator.cost)
                logbook.record(**row)
                if self.progress:
                    progress.console.print(_format_row(row))
                progress.update(task, advance=1, description=(
                    f"GA gen {generation}: best feasible val_acc {row['best_acc']:.4f}"))
                if callback is not None:
                    callback(row)
                if checkpoint is not None and checkpoint.due(
                        generation, last=generation == self.generations):
                    checkpoint.save(self.name, {
                        "generation": generation,
                        "population": [individual_state(ind) for ind in population],
                        "hall": [individual_state(ind) for ind in hall],
                        "logbook": list(logbook),
                        **attempt.state(best, evaluator),
                    })
        if best.mask is None:  # nothing met the budget: shrink the fittest candidate until it does
            mask, objectives = shrink_within(space, evaluator, encoding.decode(hall[0]), budget)
            best.offer(mask, objectives, fitness(objectives, budget))
        return attempt.result(best, list(logbook), evaluator)

    def _initial_population(self, space: PruningSpace, encoding, start: np.ndarray) -> list:
        """Genomes around the keep ratios of ``start``, the uniform mask that meets the budget
        (see ``magnitude_init``)."""
        uniform = space.keep_counts(start) / [g.size for g in space.groups]
        population = []
        for index in range(self.population_size):
            # the first individual is the uniform-magnitude mask itself
            ratios = perturbed(uniform, self.init_spread) if index else list(uniform)
            from_magnitude = index < round(self.magnitude_init * self.population_size)
            population.append(Individual(initial_genome(encoding, ratios,
                                                        from_magnitude=from_magnitude)))
        return population

    def _next_generation(self, population: list, hall: tools.HallOfFame, toolbox) -> list:
        elites = [toolbox.clone(ind) for ind in hall[: self.elite]]
        chosen = toolbox.select(population, len(population) - len(elites))
        offspring = algorithms.varAnd(
            [toolbox.clone(ind) for ind in chosen], toolbox, self.crossover_prob, self.mutation_prob
        )
        return elites + offspring

    @staticmethod
    def _record(generation: int, evaluated: int, population: list, best: BestFeasible,
                cost: str) -> dict:
        values = np.array([ind.fitness.values[0] for ind in population])
        feasible = np.mean([ind.objectives.cost_ratio <= best.budget for ind in population])
        return {
            "gen": generation,
            "evals": evaluated,
            "fit_max": float(values.max()),
            "fit_avg": float(values.mean()),
            "feasible": float(feasible),
            "best_acc": float(best.objectives.val_acc) if best.objectives else float("nan"),
            **best_cost_fields(best, cost),
        }


def _format_row(row: dict) -> str:
    return (
        f"gen {row['gen']:3d}  evals {row['evals']:3d}  fitness max {row['fit_max']:.4f} "
        f"avg {row['fit_avg']:.4f}  feasible {row['feasible']:4.0%}  best feasible: val_acc "
        f"{row['best_acc']:.4f} at {best_cost_text(row)}"
    )
