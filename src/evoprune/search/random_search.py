"""Random search: the control every searched method is measured against.

Each sample draws a keep ratio per group uniformly from [its minimum, 1], then scales all of
them down together (bisection on one factor) until the mask meets the MACs budget, so every
sample is feasible in MACs and keeps the random proportions between groups. ``encoding=ratios``
keeps each group's units by magnitude; ``encoding=mask`` keeps a random subset of the same size
(MACs depend only on how many units a group keeps, so both cost the same).
"""

from __future__ import annotations

import random

import numpy as np

from evoprune.infra.validators import check_int
from evoprune.pruning.budget import scale_to_budget
from evoprune.search.base import AskTellStrategy, Scored, SearchProblem, feasible_share
from evoprune.search.encodings import ENCODINGS


class RandomSearch(AskTellStrategy):
    """Score ``samples`` random masks within budget, ``batch_size`` per step.

    Args:
        encoding: ``ratios`` (units kept by magnitude) or ``mask`` (a random subset of units).
        samples: masks drawn in total; nearly every one is distinct, so this is also the
            number of model evaluations (the default GA evaluates about 363 distinct masks).
        batch_size: masks scored per step (one progress row and checkpoint each).
        seed: seeds Python's ``random`` when the search starts.

    With latency as the cost, samples are scaled to the MACs ratio of the uniform mask that
    meets the latency budget; the driver only counts those that meet it.
    """

    name = "random_search"  # the `random` baseline is a random ranking of units, kept to budget
    label = "random search"

    def __init__(self, *, encoding: str = "ratios", samples: int = 384, batch_size: int = 32,
                 seed: int = 0) -> None:
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}, got '{encoding}'")
        check_int("samples", samples, 1)
        check_int("batch_size", batch_size, 1)
        self.encoding, self.samples, self.batch_size, self.seed = (
            encoding, samples, batch_size, seed)

    def bind(self, problem: SearchProblem) -> None:
        self.problem = problem
        self.drawn = 0
        self.step = -1

    def start(self) -> None:
        random.seed(self.seed)
        # fixed once: with latency as the cost it is found by timing (kept in the state)
        self.target = self.problem.macs_target()

    def total_steps(self) -> int:
        return -(-self.samples // self.batch_size)

    def done(self) -> bool:
        return self.drawn >= self.samples

    def ask(self) -> list[np.ndarray]:
        size = min(self.batch_size, self.samples - self.drawn)
        return [self._sample() for _ in range(size)]

    def tell(self, scored: list[Scored]) -> dict:
        self.drawn += len(scored)
        self.step += 1
        accuracies = [candidate.objectives.val_acc for candidate in scored]
        return {"step": self.step, "evals": len(scored),
                "acc_max": float(max(accuracies)), "acc_avg": float(np.mean(accuracies)),
                "feasible": feasible_share([c.objectives for c in scored], self.problem.budget)}

    def format_row(self, row: dict) -> str:
        return (f"step {row['step']:3d}  samples {row['evals']:3d}  val_acc max "
                f"{row['acc_max']:.4f} avg {row['acc_avg']:.4f}  feasible {row['feasible']:4.0%}")

    def state_dict(self) -> dict:
        return {"drawn": self.drawn, "step": self.step, "target": self.target}

    def load_state_dict(self, state: dict) -> None:
        self.drawn, self.step, self.target = state["drawn"], state["step"], state["target"]

    # ------------------------------------------------------------------ sampling
    def _sample(self) -> np.ndarray:
        space = self.problem.space
        low = np.array([g.min_keep / g.size for g in space.groups])
        ratios = low + (1.0 - low) * np.array([random.random() for _ in space.groups])
        counts = scale_to_budget(space, ratios, self.target)
        if self.encoding == "ratios":
            return space.mask_from_counts(counts)
        mask = np.zeros(space.num_units, dtype=bool)
        for group, count in zip(space.groups, counts):
            kept = random.sample(range(group.size), count)
            mask[group.offset + np.array(kept, dtype=int)] = True
        return mask
