"""Cache entries (the trained dense models) that prove they are intact.

Each entry stores its state dict beside a SHA-256 of every tensor's name, dtype, shape and
bytes. Loading recomputes it: a file damaged in place (same size, other bytes), which torch
would load without complaint, is refused as surely as a truncated one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from evoprune.infra.atomic import save_torch_atomic
from evoprune.infra.checkpoint import load_checkpoint

FORMAT = 1


class CorruptCacheEntry(ValueError):
    """A cache entry that cannot be read, or whose contents do not match its checksum."""


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the tensors of ``state``, by name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_entry(path: str | Path, state: dict[str, torch.Tensor]) -> None:
    """Write ``state`` and its checksum to ``path``, atomically."""
    save_torch_atomic(path, {"format": FORMAT, "state_dict": state,
                             "sha256": state_digest(state)})


def load_entry(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict at ``path`` (``weights_only``), or :class:`CorruptCacheEntry`."""
    try:
        payload = load_checkpoint(path)
    except ValueError as err:
        raise CorruptCacheEntry(str(err)) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CorruptCacheEntry(f"{path} is not a checksummed cache entry (format {FORMAT})")
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor)
                                              for t in state.values()):
        raise CorruptCacheEntry(f"{path} holds no state dict")
    if state_digest(state) != payload.get("sha256"):
        raise CorruptCacheEntry(f"{path} does not match its checksum: the file was changed "
                                "or damaged after it was written")
    return state
