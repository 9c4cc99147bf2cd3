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


def fits_on(device: torch.device, nbytes: int, *, share: float = 0.25,
            free_bytes: int | None = None) -> bool:
    """Whether ``nbytes`` take at most ``share`` of the GPU's free memory (False on a CPU:
    nothing to move)."""
    if device.type != "cuda":
        return False
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    return nbytes <= share * free_bytes


class BatchSource:
    """Training batches of one split on ``device``, by index.

    On a GPU the whole split is copied there once when it takes at most a quarter of the free
    device memory (CIFAR-10's 50,000 float32 images: 0.6 GB; :func:`fits_on`), so a step
    indexes it in place with no host-to-device copy; otherwise each batch is copied from
    page-locked memory, which lets the copy overlap the computation. A split already on
    ``device`` (the CPU, or a GPU copy made by the caller) is indexed where it is.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, device: torch.device, *,
                 free_bytes: int | None = None) -> None:
        if x.device != device and fits_on(device, x.nbytes + y.nbytes, free_bytes=free_bytes):
            x, y = x.to(device), y.to(device)
        self.device, self.x, self.y = device, x, y
        self.resident = x.device == device

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.resident:
            idx = idx.to(self.device)
            return self.x[idx], self.y[idx]
        if self.device.type == "cuda":
            return (self.x[idx].pin_memory().to(self.device, non_blocking=True),
                    self.y[idx].pin_memory().to(self.device, non_blocking=True))
        return self.x[idx].to(self.device), self.y[idx].to(self.device)
