"""Checks the search strategies share for their settings (each names the parameter)."""

from __future__ import annotations


def check_int(name: str, value: object, low: int) -> None:
    """``value`` must be an integer (not a bool, not a float) of at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_probability(name: str, value: object) -> None:
    """``value`` must be a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")


def check_positive(name: str, value: object) -> None:
    """``value`` must be a number (not a bool) greater than 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
