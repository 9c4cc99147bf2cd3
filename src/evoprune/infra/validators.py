"""The checks every setting goes through, one per kind of value: each names the parameter, the
value it got and what is allowed, in one ``ValueError`` that the config layer turns into a
message about the dotted key (``finetune.lr must be a finite number > 0, got -1``).

YAML and Python both make ``true`` an ``int``; these checks never take a bool for a number.
"""

from __future__ import annotations

import math


def check_int(name: str, value: object, low: int | None = None, *,
              optional: bool = False) -> None:
    """``value`` must be an integer (not a bool, not a float) of at least ``low`` (any, when
    None); with ``optional``, None is allowed too (written ``null`` in a config)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None
                                                                 and value < low):
        bound = "" if low is None else f" >= {low}"
        alternative = " or null" if optional else ""
        raise ValueError(f"{name} must be an integer{bound}{alternative}, got {value!r}")


def check_bool(name: str, value: object) -> None:
    """``value`` must be True or False (not 0, 1 or a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def check_number(name: str, value: object, *, low: float | None = None,
                 high: float | None = None, low_open: bool = False,
                 high_open: bool = False) -> None:
    """``value`` must be a finite int or float (not a bool) within the bounds given: at least
    ``low`` (above it with ``low_open``), at most ``high`` (below it with ``high_open``)."""
    number = not isinstance(value, bool) and isinstance(value, (int, float)) \
        and math.isfinite(value)
    within = number and (low is None or (value > low if low_open else value >= low)) and (
        high is None or (value < high if high_open else value <= high))
    if within:
        return
    if low is not None and high is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        allowed = f"a number in {left}{low:g}, {high:g}{right}"
    elif low is not None:
        allowed = f"a finite number {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        allowed = f"a finite number {'<' if high_open else '<='} {high:g}"
    else:
        allowed = "a finite number"
    raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_probability(name: str, value: object) -> None:
    """``value`` must be a number in [0, 1]."""
    check_number(name, value, low=0, high=1)


def check_positive(name: str, value: object) -> None:
    """``value`` must be a finite number greater than 0."""
    check_number(name, value, low=0, low_open=True)
