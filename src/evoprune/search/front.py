"""The Pareto archive a multi-objective search keeps: every non-dominated (accuracy, cost)
trade-off among the candidates scored so far."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from evoprune.evaluate.evaluator import Objectives
from evoprune.pruning.space import PruningSpace
from evoprune.search.pareto import hypervolume, non_dominated


class ParetoArchive:
    """Non-dominated ``(mask, objectives)`` pairs on (val_acc up, cost_ratio down), sorted by
    cost ratio; among equal points the first seen stays. ``reference`` is the hypervolume's
    reference point (:func:`~evoprune.search.pareto.reference_point`)."""

    def __init__(self, reference: tuple[float, float]) -> None:
        self.reference = reference
        self.members: list[tuple[np.ndarray, Objectives]] = []

    def add(self, candidates: list[tuple[np.ndarray, Objectives]]) -> None:
        pool = self.members + candidates
        keep = non_dominated([(o.val_acc, o.cost_ratio) for _, o in pool])
        self.members = sorted((pool[i] for i in keep),
                              key=lambda c: (c[1].cost_ratio, -c[1].val_acc))

    def hypervolume(self) -> float:
        return hypervolume([(o.val_acc, o.cost_ratio) for _, o in self.members], self.reference)

    def entries(self, space: PruningSpace) -> list[dict]:
        """The front as ``results``/``pareto.json`` rows: figures and the kept units."""
        return [_entry(space, mask, objectives) for mask, objectives in self.members]

    def state_dict(self) -> list:
        return [(torch.from_numpy(mask), asdict(objectives)) for mask, objectives in self.members]

    def load_state_dict(self, state: list) -> None:
        self.members = [(mask.numpy(), Objectives(**objectives)) for mask, objectives in state]


def _entry(space: PruningSpace, mask: np.ndarray, objectives: Objectives) -> dict:
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
