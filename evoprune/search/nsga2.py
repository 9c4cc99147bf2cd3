"""Multi-objective search of pruning masks with DEAP's NSGA-II: validation accuracy (maximised)
against cost ratio (minimised: MACs, or measured latency with ``fitness.cost=latency``), so one
run yields a whole accuracy / cost trade-off (the Pareto front) instead of one mask per budget.

The answer for the configured budget is still picked by the fitness function, from every
candidate scored (``BestFeasible``); the front is exposed as ``NSGA2Search.front`` after ``run``.
"""

from __future__ import annotations

import random
from dataclasses import asdict

import numpy as np
import torch
from deap import algorithms, base, tools

from evoprune.evaluate.evaluator import Evaluator, Objectives
from evoprune.evaluate.fitness import Fitness
from evoprune.infra.checkpoint import SearchCheckpoint
from evoprune.infra.progress import progress_bar
from evoprune.pruning.budget import uniform_mask
from evoprune.pruning.space import PruningSpace
from evoprune.report.pareto import hypervolume, non_dominated
from evoprune.search.base import (
    BestFeasible,
    ProgressCallback,
    SearchResult,
    best_cost_fields,
    best_cost_text,
)
from evoprune.search.cost import check_search_budget, shrink_within
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


class ParetoFitness(base.Fitness):
    """DEAP fitness over (val_acc, cost_ratio): maximise the first, minimise the second
    (defined once, not via ``creator``)."""

    weights = (1.0, -1.0)


class ParetoIndividual(list):
    """A genome (list of genes) with its two-objective DEAP fitness."""

    def __init__(self, genes=()) -> None:
        super().__init__(genes)
        self.fitness = ParetoFitness()


class NSGA2Search:
    """Evolve a Pareto front of masks; return the best one (by ``fitness``) meeting the budget.

    Args:
        encoding: ``mask`` (one bit per unit) or ``ratios`` (one keep-ratio per group).
        population_size, generations: evaluations are at most ``population_size *
            (generations + 1)``. A multiple of 4 selects parents by DEAP's dominance / crowding
            tournament (``selTournamentDCD`` needs one); otherwise parents are drawn at random,
            which NSGA-II tolerates since survival is decided by ``selNSGA2`` anyway.
        crossover_prob, mutation_prob: per-offspring probabilities (DEAP's ``varAnd``).
        mutation_indpb: per-gene mutation probability (default: about two genes per genome).
        magnitude_init: fraction of the first population built from magnitude masks (the rest
            is random genomes at the same per-group ratios).
        init_spread: half-width of the per-group perturbation of each individual's ratios.
        seed: seeds Python's ``random`` (DEAP's source of randomness) at the start of ``run``.
        progress: show a progress bar and one line per generation.

    After ``run``, ``front`` lists the non-dominated candidates among everything scored, sorted
    by cost ratio: dicts with ``val_acc``, ``macs_ratio``, ``macs``, ``params`` and ``mask``
    (``PruningSpace.describe``: kept unit indices per group), and with latency as the cost
    (``evaluator.cost``) ``latency_ms`` and ``latency_ratio``, the objective then minimised.
    """

    name = "nsga2"
    costs = ("macs", "latency")

    def __init__(
        self,
        *,
        encoding: str = "mask",
        population_size: int = 32,
        generations: int = 20,
        crossover_prob: float = 0.9,
        mutation_prob: float = 0.4,
        mutation_indpb: float | None = None,
        magnitude_init: float = 0.5,
        init_spread: float = 0.1,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        check_evolution_settings(
            encoding=encoding, population_size=population_size, generations=generations,
            crossover_prob=crossover_prob, mutation_prob=mutation_prob,
            magnitude_init=magnitude_init, init_spread=init_spread,
        )
        self.encoding_name = encoding
        self.population_size = population_size
        self.generations = generations
        self.crossover_prob = crossover_prob
        self.mutation_prob = mutation_prob
        self.mutation_indpb = mutation_indpb
        self.magnitude_init = magnitude_init
        self.init_spread = init_spread
        self.seed = seed
        self.progress = progress
        self.front: list[dict] = []

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
        best = BestFeasible(budget)
        # every distinct trade-off seen so far: (mask, objectives), kept non-dominated
        archive: list[tuple[np.ndarray, Objectives]] = []

        def score(individuals: list[ParetoIndividual]) -> int:
            nonlocal archive
            todo = [ind for ind in individuals if not ind.fitness.valid]
            masks = [encoding.decode(ind) for ind in todo]
            for ind, mask, objectives in zip(todo, masks, evaluator.evaluate(masks)):
                ind.fitness.values = (objectives.val_acc, objectives.cost_ratio)
                ind.objectives = objectives
                best.offer(mask, objectives, fitness(objectives, budget))
            archive = _pareto_archive(archive + list(zip(masks, [i.objectives for i in todo])))
            return len(todo)

        logbook = tools.Logbook()
        saved = checkpoint.load(self.name) if checkpoint is not None else None
        if saved is None:
            check_search_budget(space, evaluator, budget)  # in latency: times the smallest mask
            random.seed(self.seed)
            population = self._initial_population(space, encoding)
            first = 0
        else:
            population = [restore_individual(ParetoIndividual, i) for i in saved["population"]]
            archive = [(mask.numpy(), Objectives(**objectives))
                       for mask, objectives in saved["archive"]]
            for row in saved["logbook"]:
                logbook.record(**row)
            attempt.restore(saved, best, evaluator)
            first = saved["generation"] + 1
        with progress_bar(enabled=self.progress) as progress:
            task = progress.add_task("NSGA-II search", total=self.generations + 1,
                                     completed=first)
            if saved is not None:
                announce_resume(progress, f"NSGA-II resumed after generation {first - 1} from "
                                f"{checkpoint.path}", list(logbook), callback)
            for generation in range(first, self.generations + 1):
                if generation:
                    offspring = self._offspring(population, toolbox)
                    evaluated = score(offspring)
                    # elitism: survivors are chosen from parents and offspring together
                    population = tools.selNSGA2(population + offspring, self.population_size)
                else:
                    evaluated = score(population)
                    # assigns the crowding distances that selTournamentDCD reads
                    population = tools.selNSGA2(population, self.population_size)
                row = self._record(generation, evaluated, population, archive, best,
                                   evaluator.cost)
                logbook.record(**row)
                if self.progress:
                    progress.console.print(_format_row(row))
                progress.update(task, advance=1, description=(
                    f"NSGA-II gen {generation}: hypervolume {row['hv']:.4f}"))
                if callback is not None:
                    callback(row)
                if checkpoint is not None and checkpoint.due(
                        generation, last=generation == self.generations):
                    checkpoint.save(self.name, {
                        "generation": generation,
                        "population": [individual_state(ind) for ind in population],
                        "archive": [(torch.from_numpy(mask), asdict(objectives))
                                    for mask, objectives in archive],
                        "logbook": list(logbook),
                        **attempt.state(best, evaluator),
                    })
        if best.mask is None:  # nothing met the budget: shrink the most accurate candidate
            top = max(population, key=lambda ind: ind.fitness.values[0])
            mask, objectives = shrink_within(space, evaluator, encoding.decode(top), budget)
            best.offer(mask, objectives, fitness(objectives, budget))
            archive = _pareto_archive(archive + [(mask, objectives)])
        self.front = [_front_entry(space, mask, objectives) for mask, objectives in archive]
        return attempt.result(best, list(logbook), evaluator)

    def _initial_population(self, space: PruningSpace, encoding) -> list[ParetoIndividual]:
        """Individuals spread over the whole cost range, so the first front already spans the
        trade-off: individual ``i`` targets a MACs ratio drawn uniformly from the ``i``-th of
        ``population_size`` equal slices of [smallest feasible, 1] (stratified, so no budget
        range is left empty by chance), starting from the uniform keep ratios that meet it."""
        smallest = float(space.macs_ratio(space.mask_from_counts([0] * len(space.groups))))
        sizes = np.array([g.size for g in space.groups])
        population = []
        for index in range(self.population_size):
            low = smallest + (1.0 - smallest) * index / self.population_size
            high = smallest + (1.0 - smallest) * (index + 1) / self.population_size
            target = random.uniform(low, high)
            uniform = space.keep_counts(uniform_mask(space, target)) / sizes
            ratios = perturbed(uniform, self.init_spread)
            from_magnitude = index < round(self.magnitude_init * self.population_size)
            population.append(ParetoIndividual(initial_genome(encoding, ratios,
                                                              from_magnitude=from_magnitude)))
        return population

    def _offspring(self, population: list, toolbox: base.Toolbox) -> list:
        if len(population) % 4 == 0:
            parents = tools.selTournamentDCD(population, len(population))
        else:  # selTournamentDCD needs a multiple of 4
            parents = tools.selRandom(population, len(population))
        return algorithms.varAnd(
            [toolbox.clone(ind) for ind in parents], toolbox, self.crossover_prob,
            self.mutation_prob,
        )

    @staticmethod
    def _record(generation: int, evaluated: int, population: list, archive: list,
                best: BestFeasible, cost: str) -> dict:
        first = tools.sortNondominated(population, len(population), first_front_only=True)[0]
        return {
            "gen": generation,
            "evals": evaluated,
            "front": len(first),
            # the population's first front: can shrink only when crowding truncates it
            "hv": hypervolume([ind.fitness.values for ind in first]),
            # everything scored so far: never shrinks
            "hv_archive": hypervolume([(o.val_acc, o.cost_ratio) for _, o in archive]),
            "feasible": float(np.mean([ind.objectives.cost_ratio <= best.budget
                                       for ind in population])),
            "best_acc": float(best.objectives.val_acc) if best.objectives else float("nan"),
            **best_cost_fields(best, cost),
        }


def _pareto_archive(candidates: list[tuple[np.ndarray, Objectives]]) -> list:
    """The non-dominated candidates, sorted by cost ratio (first seen wins among equals)."""
    keep = non_dominated([(o.val_acc, o.cost_ratio) for _, o in candidates])
    return sorted((candidates[i] for i in keep), key=lambda c: (c[1].cost_ratio, -c[1].val_acc))


def _front_entry(space: PruningSpace, mask: np.ndarray, objectives: Objectives) -> dict:
    entry = {
        "val_acc": float(objectives.val_acc),
        "macs_ratio": float(objectives.macs_ratio),
        "macs": int(objectives.macs),
        "params": int(objectives.params),
    }
    if objectives.latency_ms is not None:
        entry["latency_ms"] = float(objectives.latency_ms)
        entry["latency_ratio"] = float(objectives.cost_ratio)
    return {**entry, "mask": space.describe(mask)}


def _format_row(row: dict) -> str:
    return (
        f"gen {row['gen']:3d}  evals {row['evals']:3d}  front {row['front']:3d}  "
        f"hypervolume {row['hv']:.4f} (all seen {row['hv_archive']:.4f})  feasible "
        f"{row['feasible']:4.0%}  best feasible: val_acc {row['best_acc']:.4f} at "
        f"{best_cost_text(row)}"
    )
