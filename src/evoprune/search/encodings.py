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

    def encode(self, mask: np.ndarray) -> list:
        """The genome that decodes to ``mask``."""
        return np.asarray(mask, dtype=int).tolist()

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

    def encode(self, mask: np.ndarray) -> list:
        """The genome that decodes to ``mask``'s keep counts (units kept by magnitude)."""
        sizes = np.array([g.size for g in self.space.groups])
        return (self.space.keep_counts(mask) / sizes).tolist()

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
