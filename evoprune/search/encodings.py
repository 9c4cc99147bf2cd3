"""Genome encodings for the genetic algorithm: how a DEAP individual becomes a mask.

``mask``: one bit per unit, so the search can drop any channel, not just the weakest.
``ratios``: one keep-ratio per group; units are kept by magnitude. A much smaller genome that
cannot express *which* channels to keep, only how many.

Both draw every random number from Python's ``random`` module, which DEAP's operators use too,
so seeding it once makes a whole search reproducible.
"""

from __future__ import annotations

import random

import numpy as np
from deap import base, tools

from evoprune.pruning.space import PruningSpace


class MaskEncoding:
    name = "mask"

    def __init__(self, space: PruningSpace, *, mutation_indpb: float | None = None) -> None:
        self.space = space
        # about two bit flips per mutated genome by default
        self.indpb = mutation_indpb if mutation_indpb is not None else 2.0 / space.num_units

    def from_ratios(self, ratios: list[float]) -> list:
        """A genome keeping the most important units at these per-group ratios."""
        return self.space.mask_from_ratios(ratios).astype(int).tolist()

    def random_genome(self, ratios: list[float]) -> list:
        """Random bits, each group's bits set with its ratio as probability."""
        bits = np.zeros(self.space.num_units, dtype=int)
        for ratio, group in zip(ratios, self.space.groups):
            for unit in range(group.size):
                bits[group.offset + unit] = int(random.random() < ratio)
        return bits.tolist()

    def decode(self, genome: list) -> np.ndarray:
        return self.space.repair(np.asarray(genome, dtype=bool))

    def register(self, toolbox: base.Toolbox) -> None:
        toolbox.register("mate", tools.cxTwoPoint)
        toolbox.register("mutate", tools.mutFlipBit, indpb=self.indpb)


class RatiosEncoding:
    name = "ratios"

    def __init__(
        self, space: PruningSpace, *, mutation_indpb: float | None = None, sigma: float = 0.1
    ) -> None:
        self.space = space
        self.indpb = mutation_indpb if mutation_indpb is not None else 2.0 / len(space.groups)
        self.sigma = sigma

    def from_ratios(self, ratios: list[float]) -> list:
        return [float(r) for r in ratios]

    def random_genome(self, ratios: list[float]) -> list:
        return self.from_ratios(ratios)

    def decode(self, genome: list) -> np.ndarray:
        return self.space.mask_from_ratios(genome)

    def register(self, toolbox: base.Toolbox) -> None:
        toolbox.register("mate", _clipped(tools.cxBlend), alpha=0.3)
        toolbox.register(
            "mutate", _clipped(tools.mutGaussian), mu=0.0, sigma=self.sigma, indpb=self.indpb
        )


def _clipped(operator):
    """Wrap a DEAP float operator so that every gene stays a ratio in [0, 1]."""

    def clip(*individuals, **kwargs):
        result = operator(*individuals, **kwargs)
        for individual in result:
            individual[:] = [min(1.0, max(0.0, gene)) for gene in individual]
        return result

    return clip


ENCODINGS = {"mask": MaskEncoding, "ratios": RatiosEncoding}


def check_evolution_settings(
    *, encoding: str, population_size: int, generations: int, crossover_prob: float,
    mutation_prob: float, magnitude_init: float, init_spread: float,
) -> None:
    """The settings the evolutionary searchers (GA, NSGA-II) share, checked in one place."""
    if encoding not in ENCODINGS:
        raise ValueError(f"search.encoding must be one of {sorted(ENCODINGS)}, got '{encoding}'")
    if population_size < 2 or generations < 0:
        raise ValueError(
            f"search.population_size must be >= 2 and search.generations >= 0, "
            f"got {population_size} and {generations}"
        )
    for name, value in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob),
                        ("magnitude_init", magnitude_init)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"search.{name} must be in [0, 1], got {value}")
    if init_spread < 0:
        raise ValueError(f"search.init_spread must be >= 0, got {init_spread}")


def perturbed(ratios, spread: float) -> list[float]:
    """Each ratio moved by a uniform draw in [-spread, spread] (one ``random`` call per group,
    in group order), clipped to [0, 1]."""
    return [min(1.0, max(0.0, r + random.uniform(-spread, spread))) for r in ratios]


def initial_genome(encoding, ratios, *, from_magnitude: bool) -> list:
    """A first-generation genome at these per-group ratios: the magnitude mask, or random
    genes with the ratios as keep probabilities."""
    return encoding.from_ratios(ratios) if from_magnitude else encoding.random_genome(ratios)
