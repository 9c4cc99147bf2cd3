"""Interop with PyTorch's own pruning module, ``torch.nn.utils.prune``.

A method's result as a state dict of the *dense* architecture in ``torch.nn.utils.prune``'s
form: every parameter the mask prunes is stored as ``<name>_orig`` (the method's fine-tuned
values where kept, zero where removed) and ``<name>_mask`` (1 where kept). Code that uses
PyTorch's pruning loads it after calling ``prune.identity(module, name)`` for those parameters
(:func:`pruned_parameters` lists them), and the model then computes what the compacted model
computes. The other direction, a state dict written by ``torch.nn.utils.prune``, loads as plain
weights with the masks applied, as ``prune.remove`` would
(``infra.checkpoint.merged_state_dict``, which ``weights=`` goes through).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from evoprune.pruning.attention import packed_state
from evoprune.pruning.masking import dropped_entries

PRUNE_FILE = "prune_{method}.pt"


def pruned_parameters(dense: nn.Module, space, mask: np.ndarray) -> list[str]:
    """Names of the dense model's parameters that ``mask`` prunes entries of."""
    return sorted(name for name, dropped in dropped_entries(dense, space, mask).items()
                  if bool(dropped.any()))


def prune_state_dict(dense: nn.Module, space, mask: np.ndarray, pruned: nn.Module
                     ) -> dict[str, torch.Tensor]:
    """The state dict of ``dense``'s architecture in ``torch.nn.utils.prune``'s form holding
    ``pruned``'s values (the compacted, fine-tuned model of ``mask``; for an unstructured
    space, a dense-shaped model) scattered back to the dense positions."""
    removed = space.removed_blocks(mask)
    if removed:  # a block replaced by the identity is not a set of zeroed weights
        raise ValueError(f"the mask removes whole blocks {removed}, which "
                         "torch.nn.utils.prune cannot express (it zeroes weights)")
    dropped = dropped_entries(dense, space, mask)
    target = {name: value.detach().cpu().clone() for name, value in dense.state_dict().items()}
    values = packed_state({name: value.detach().cpu() for name, value in
                           pruned.state_dict().items()}, set(target))
    for name, value in values.items():
        kept = ~dropped[name].cpu() if name in dropped else None
        if kept is None:
            kept = _kept_buffer(name, dropped, target[name].shape)
        if kept is None:
            target[name] = value.clone()
            continue
        full = torch.zeros_like(target[name])
        if value.numel() == int(kept.sum()):
            full[kept] = value.reshape(-1)
        elif value.shape == full.shape:  # unstructured: pruned in place
            full[kept] = value[kept]
        else:
            raise ValueError(f"{name} of the pruned model holds {value.numel()} entries where "
                             f"the mask keeps {int(kept.sum())} (an LSTM compacted with an "
                             "idle unit), so it has no torch.nn.utils.prune form")
        target[name] = full
    state: dict[str, torch.Tensor] = {}
    for name, value in target.items():
        if name in dropped and bool(dropped[name].any()):
            state[f"{name}_orig"] = value
            state[f"{name}_mask"] = (~dropped[name].cpu()).to(value.dtype)
        else:
            state[name] = value
    return state


def _kept_buffer(name: str, dropped: dict, shape: torch.Size):
    """BatchNorm statistics follow their layer's weight: the same kept channels."""
    module, _, kind = name.rpartition(".")
    weight = dropped.get(f"{module}.weight")
    if kind in ("running_mean", "running_var") and weight is not None and weight.dim() == 1:
        return ~weight.cpu()
    return None
