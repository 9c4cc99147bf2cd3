"""Physical removal of masked units with torch-pruning (for export, latency and fine-tuning)."""

from __future__ import annotations

import copy

import numpy as np
import torch_pruning as tp
from torch import nn

from evoprune.pruning.space import PruningSpace


def compact(model: nn.Module, space: PruningSpace, mask: np.ndarray) -> nn.Module:
    """Return a copy of ``model`` with every unit that ``mask`` drops removed.

    The copy computes what the masked model computes, with smaller layers; ``model`` itself is
    left untouched.
    """
    mask = space.check(mask)
    pruned = copy.deepcopy(model).eval()
    graph = tp.DependencyGraph().build_dependency(pruned, example_inputs=space.example_input)
    for group in space.groups:
        dropped = np.flatnonzero(~mask[space.group_slice(group)]).tolist()
        if not dropped:
            continue
        root = pruned.get_submodule(group.name)
        handler = (
            tp.prune_conv_out_channels if group.kind == "channel" else tp.prune_linear_out_channels
        )
        graph.get_pruning_group(root, handler, dropped).prune()
    return pruned
