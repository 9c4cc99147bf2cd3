import pytest

from evoprune.search.pareto import (
    REFERENCE_COST,
    chance_accuracy,
    dominates,
    hypervolume,
    non_dominated,
    reference_point,
)

REF10 = reference_point(chance_accuracy(10))


def test_dominates():
    assert dominates((0.9, 0.5), (0.8, 0.5))
    assert dominates((0.9, 0.4), (0.9, 0.5))
    assert not dominates((0.9, 0.5), (0.9, 0.5))  # equal: neither dominates
    assert not dominates((0.9, 0.6), (0.8, 0.5))  # a trade-off


def test_non_dominated_hand_case():
    points = [(0.8, 0.5), (0.9, 0.6), (0.7, 0.6), (0.8, 0.5), (0.6, 0.2), (0.6, 0.3)]
    # (0.7, 0.6) is beaten by (0.8, 0.5); (0.6, 0.3) by (0.6, 0.2); the second (0.8, 0.5) repeats
    assert non_dominated(points) == [0, 1, 4]
    assert non_dominated([]) == []


def test_hypervolume_hand_cases():
    ref = (0.0, 1.0)
    assert hypervolume([], ref) == 0.0
    assert hypervolume([(0.5, 0.5)], ref) == pytest.approx(0.25)
    # strips: [0.2, 0.5) x 0.6, [0.5, 1.0) x 0.8
    assert hypervolume([(0.6, 0.2), (0.8, 0.5)], ref) == pytest.approx(0.3 * 0.6 + 0.5 * 0.8)
    # a dominated point and a duplicate change nothing; order does not matter
    points = [(0.8, 0.5), (0.7, 0.6), (0.6, 0.2), (0.8, 0.5)]
    assert hypervolume(points, ref) == pytest.approx(0.58)
    # points beyond the reference add nothing; another reference shifts the base
    assert hypervolume([(0.9, 1.2), (0.0, 0.1)], ref) == 0.0
    assert hypervolume([(0.6, 0.2)], (0.5, 1.0)) == pytest.approx(0.8 * 0.1)
    # a classifier's reference keeps a dense (macs_ratio 1.0) member visible
    assert hypervolume([(0.9, 1.0)], REF10) == pytest.approx(0.8 * (REFERENCE_COST - 1.0))
    assert hypervolume([(0.9, 1.0)], REF10) > 0


@pytest.mark.parametrize("num_classes", [2, 4, 10])
def test_reference_sits_at_chance_accuracy(num_classes):
    chance = 1 / num_classes
    ref = reference_point(chance_accuracy(num_classes))
    assert chance_accuracy(num_classes) == ref[0] == pytest.approx(chance)
    # a mask that guesses (or does worse) adds nothing, however cheap it is
    assert hypervolume([(chance, 0.01)], ref) == 0.0
    assert hypervolume([(chance / 2, 0.01)], ref) == 0.0
    # only the accuracy above chance counts
    assert hypervolume([(chance + 0.1, 0.5)], ref) == pytest.approx(0.1 * (REFERENCE_COST - 0.5))


@pytest.mark.parametrize("bad", [1, 0, 2.5, True, "10"])
def test_chance_accuracy_refuses_bad_class_counts(bad):
    with pytest.raises(ValueError, match=f"num_classes must be an integer >= 2, got {bad!r}"):
        chance_accuracy(bad)


def test_bad_points():
    with pytest.raises(ValueError, match="finite \\(val_acc, macs_ratio\\) pair"):
        hypervolume([(0.5, float("nan"))], REF10)
    with pytest.raises(ValueError, match="pair"):
        non_dominated([(0.5, 0.2, 1.0)])
