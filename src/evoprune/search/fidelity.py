"""Two fidelities for one search: every candidate gets the cheap score, the most promising
fraction of each step's new candidates the expensive one (the proxy's brief fine-tune).

The driver scores a step's masks cheaply (validation accuracy right after pruning), ranks the
masks it meets for the first time by the fitness of that cheap score, and promotes the best
``fraction`` of them (at least one) to the expensive score: successive halving with one rung,
raced within each step. Each mask races once; a promoted mask's accuracy is its expensive
score from then on.

A mask left at the cheap score must still compare fairly with promoted ones, since a strategy
ranks them together. Its accuracy is the expensive score the cheap one predicts (a
least-squares line through every promoted mask's pair of scores so far), but never above the
lowest expensive score promoted in the step it raced in: the race ranked it below every one of
them. Only promoted masks can be the search's answer, its finalists or members of its front.
The masks a search starts from (``warm_start``: the one-shot baselines' answers) are always
promoted, so its answer is never below them by its own score.

``fraction=1`` promotes every new mask: the full proxy, as a search scored only by it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from evoprune.evaluate.evaluator import Objectives
from evoprune.infra.validators import check_number

#: Promoted pairs needed before the cheap-to-expensive line is fitted (an offset before).
LINE_AFTER = 3


class Promotion:
    """Which masks get the expensive score, and what the others' accuracy is taken to be.

    Args:
        expensive: the expensive score of one mask (the brief fine-tune's validation accuracy).
        fraction: of each step's masks not promoted before, the share promoted, in (0, 1].
        key: a mask's identity (``PruningSpace.key``): a mask is promoted once.
    """

    def __init__(self, expensive: Callable[[np.ndarray], float], fraction: float,
                 key: Callable[[np.ndarray], bytes]) -> None:
        check_number("fraction", fraction, low=0, high=1, low_open=True)
        self.expensive, self.fraction, self.key = expensive, float(fraction), key
        self.scores: dict[bytes, float] = {}  # promoted masks' expensive scores
        # masks that raced and lost: the lowest expensive score of their race's winners
        self.ceilings: dict[bytes, float] = {}
        self.pairs: list[tuple[float, float]] = []  # (cheap, expensive) of each promoted mask

    @property
    def promoted(self) -> int:
        """Distinct masks given the expensive score so far."""
        return len(self.scores)

    def score(self, masks: Sequence[np.ndarray], cheap: Sequence[Objectives],
              rank: Callable[[Objectives], float], allowance: int | None = None,
              always: frozenset[bytes] = frozenset()) -> list[tuple[Objectives, bool]]:
        """Each mask's objectives with the accuracy the search sees, and whether that is the
        expensive score (promoted).

        Args:
            masks, cheap: a step's masks and their cheap objectives.
            rank: the fitness of a cheap score: the race's order.
            allowance: the most masks this step may promote (a search's evaluation budget).
            always: keys of masks promoted whenever they race, beside the others' share
                (the masks the search starts from).
        """
        keys = [self.key(mask) for mask in masks]
        new: dict[bytes, int] = {}
        for index, key in enumerate(keys):
            if key not in self.scores and key not in self.ceilings:
                new.setdefault(key, index)
        # stable: ties by order; the masks always promoted first
        raced = sorted(new.values(), key=lambda i: (keys[i] not in always, -rank(cheap[i])))
        starts = sum(keys[i] in always for i in raced)
        quota = starts + math.ceil(self.fraction * (len(new) - starts))
        if allowance is not None:
            quota = min(quota, max(allowance, 0))
        winners = []
        for index in raced[:quota]:
            self.scores[keys[index]] = float(self.expensive(masks[index]))
            self.pairs.append((float(cheap[index].val_acc), self.scores[keys[index]]))
            winners.append(self.scores[keys[index]])
        for index in raced[quota:]:
            self.ceilings[keys[index]] = min(winners) if winners else math.inf
        results = []
        for key, objectives in zip(keys, cheap):
            if key in self.scores:
                results.append((dataclasses.replace(objectives, val_acc=self.scores[key]), True))
            else:
                guess = min(self.predict(objectives.val_acc), self.ceilings[key])
                results.append((dataclasses.replace(objectives, val_acc=guess), False))
        return results

    def predict(self, cheap: float) -> float:
        """The expensive score a cheap one predicts: a least-squares line through the promoted
        pairs (an offset with fewer than :data:`LINE_AFTER` or no spread of cheap scores; the
        cheap score itself before any promotion)."""
        if not self.pairs:
            return cheap
        x, y = np.asarray(self.pairs).T
        if len(self.pairs) >= LINE_AFTER and np.ptp(x) > 0:
            slope, intercept = np.polyfit(x, y, 1)
            return float(intercept + slope * cheap)
        return float(cheap + np.mean(y - x))

    def state_dict(self) -> dict:
        return {"keys": list(self.scores), "scores": list(self.scores.values()),
                "pairs": [list(pair) for pair in self.pairs],
                "lost": list(self.ceilings), "ceilings": list(self.ceilings.values())}

    def load_state_dict(self, state: dict) -> None:
        self.scores = dict(zip(state["keys"], state["scores"]))
        self.pairs = [tuple(pair) for pair in state["pairs"]]
        self.ceilings = dict(zip(state["lost"], state["ceilings"]))
