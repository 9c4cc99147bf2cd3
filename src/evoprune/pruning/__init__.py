"""Pruning spaces (what can be removed, what it costs), masking and physical removal."""

from __future__ import annotations

import torch
from torch import nn

from evoprune.pruning.compact import check_compaction
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace
from evoprune.pruning.widths import legal_count

SPACES = {"structured": PruningSpace, "unstructured": UnstructuredSpace}


def make_space(
    model: nn.Module, example_input: torch.Tensor, *, kind: str = "structured", **settings
) -> PruningSpace | UnstructuredSpace:
    """Build the pruning space of ``kind`` (``pruning.kind``) with its own settings."""
    if kind not in SPACES:
        raise ValueError(f"kind must be one of {sorted(SPACES)}, got '{kind}'")
    space = SPACES[kind](model, example_input, **settings)
    if kind == "structured":  # torch-pruning's graph or evoprune's own slicing: either can miss
        check_compaction(model, space)  # a reshape the couplings do not follow
    return space


def check_space_settings(*, kind: str = "structured", **settings) -> None:
    """Refuse a pruning kind or settings out of range, before any model is at hand."""
    if kind not in SPACES:
        raise ValueError(f"kind must be one of {sorted(SPACES)}, got '{kind}'")
    SPACES[kind].check_settings(**settings)


__all__ = ["SPACES", "PruningSpace", "UnstructuredSpace", "check_space_settings", "legal_count",
           "make_space"]
