"""What every method (a search, a baseline) hands to the finish stage: its mask, and its model
when it fine-tuned that itself. A record of its own below both, so baselines and the finish
stage share it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn


@dataclass
class Pruned:
    """A method's answer, as the finish step takes it: a mask, and the model when the method
    fine-tuned it itself (gradual pruning prunes while it trains; None: fine-tune it here).
    ``figures`` join the method's row in ``results.json``."""

    mask: np.ndarray
    model: nn.Module | None = None
    figures: dict = field(default_factory=dict)
