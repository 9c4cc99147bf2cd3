"""Hardware-friendly widths (``pruning.round_to``): which keep counts a group may have.

Inference kernels run fastest at channel counts that are multiples of the vector width (8 is
usual: AMC rounds to it, and ONNX Runtime on CPU was reported several times slower at odd
widths). With ``round_to=N`` every group of channels, neurons or recurrent units keeps a
multiple of N units or all of them; its minimum rises to the first such count. Heads and
residual blocks are counted, not widths, and keep ``step`` 1. Every piece of code that turns
ratios, counts or rankings into masks goes through :func:`legal_count`, so each mask a search
or baseline proposes is one the space accepts (``PruningSpace.check``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from evoprune.infra.validators import check_int

# group kinds whose units are a layer's width
ROUNDED_KINDS = ("channel", "neuron", "recurrent", "projection")
HOW = ("nearest", "down", "up")


def check_round_to(round_to: object) -> None:
    check_int("round_to", round_to, 1)


def with_step(group, round_to: int):
    """``group`` with its keep counts on multiples of ``round_to`` (its minimum raised to the
    first multiple, or to the whole group where none fits); other kinds unchanged."""
    if round_to == 1 or group.kind not in ROUNDED_KINDS:
        return group
    least = min(-(-group.min_keep // round_to) * round_to, group.size)
    return dataclasses.replace(group, step=round_to, min_keep=least)


def legal_count(group, count: float, how: str = "nearest") -> int:
    """``count`` clipped to the group's ``[min_keep, size]`` and moved to a count it may keep:
    a multiple of its ``step`` or the whole group. ``how``: the nearest such count (ties go
    up), the one below or the one above. Non-decreasing in ``count`` for every ``how``, so
    bisections over counts or ratios stay valid."""
    if how not in HOW:
        raise ValueError(f"how must be one of {HOW}, got {how!r}")
    count = min(max(int(count), group.min_keep), group.size)
    down = int(floor_counts(group, count))
    if how == "down" or down == count:
        return down
    up = min(down + group.step, group.size)
    if how == "up":
        return up
    return up if up - count <= count - down else down


def floor_counts(group, counts) -> np.ndarray:
    """Each of ``counts`` clipped to ``[min_keep, size]`` and moved down to a count the group
    may keep (:func:`legal_count` with ``how="down"``), at numpy speed. The minimum is itself
    a multiple of the step (or the whole group), so nothing moves below it."""
    counts = np.clip(np.asarray(counts, dtype=np.int64), group.min_keep, group.size)
    if group.step == 1:
        return counts
    return np.where(counts == group.size, counts, counts // group.step * group.step)


__all__ = ["ROUNDED_KINDS", "check_round_to", "floor_counts", "legal_count", "with_step"]
