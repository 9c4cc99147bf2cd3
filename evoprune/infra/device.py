"""Where a run computes: ``device=auto|cpu|cuda``."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """The torch device ``name`` stands for: ``auto`` is CUDA when torch sees a GPU, else CPU.
    ``cuda`` without a GPU is refused (a CPU-only torch build, or no driver)."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {list(DEVICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device=cuda, but torch {torch.__version__} sees no CUDA device (a "
                         "CPU-only build, or no driver): use device=auto or device=cpu")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on the CPU): what a timer must do on a GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
