"""The shared checks: each names the parameter, the value and what is allowed, and takes no
bool for a number."""

import math

import pytest

from evoprune.infra.validators import (
    check_bool,
    check_int,
    check_number,
    check_positive,
    check_probability,
)


@pytest.mark.parametrize("call, message", [
    (lambda: check_int("n", 1.0, 1), "n must be an integer >= 1, got 1.0"),
    (lambda: check_int("n", True, 0), "n must be an integer >= 0, got True"),
    (lambda: check_int("n", 0, 1), "n must be an integer >= 1, got 0"),
    (lambda: check_int("seed", "x"), "seed must be an integer, got 'x'"),
    (lambda: check_int("k", "2", 1, optional=True), "k must be an integer >= 1 or null, got '2'"),
    (lambda: check_bool("flag", 1), "flag must be true or false, got 1"),
    (lambda: check_bool("flag", "yes"), "flag must be true or false, got 'yes'"),
    (lambda: check_number("lr", -1, low=0, low_open=True),
     "lr must be a finite number > 0, got -1"),
    (lambda: check_number("w", math.nan, low=0), "w must be a finite number >= 0, got nan"),
    (lambda: check_number("w", False, low=0), "w must be a finite number >= 0, got False"),
    (lambda: check_number("f", 1.0, low=0, low_open=True, high=1, high_open=True),
     "f must be a number in (0, 1), got 1.0"),
    (lambda: check_number("x", 5, high=4), "x must be a finite number <= 4, got 5"),
    (lambda: check_number("x", "a"), "x must be a finite number, got 'a'"),
    (lambda: check_probability("p", 1.5), "p must be a number in [0, 1], got 1.5"),
    (lambda: check_positive("t", 0), "t must be a finite number > 0, got 0"),
])
def test_a_bad_value_is_named_with_what_is_allowed(call, message):
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value) == message


def test_good_values_pass():
    check_int("n", 3, 1)
    check_int("seed", -7)
    check_int("k", None, 1, optional=True)
    check_bool("flag", False)
    check_number("lr", 1e-3, low=0, low_open=True)
    check_number("f", 0.5, low=0, low_open=True, high=1, high_open=True)
    check_number("n", 2, low=0)  # an int is a number
    check_probability("p", 0)
    check_probability("p", 1)
    check_positive("t", 4.0)
