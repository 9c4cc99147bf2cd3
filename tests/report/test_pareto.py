import json

import pytest

from evoprune.report.pareto import (
    REFERENCE_COST,
    chance_accuracy,
    dominates,
    hypervolume,
    non_dominated,
    plot_pareto,
    reference_point,
    write_pareto,
)

REF10 = reference_point(10)


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
    ref = reference_point(num_classes)
    assert chance_accuracy(num_classes) == ref[0] == pytest.approx(chance)
    # a mask that guesses (or does worse) adds nothing, however cheap it is
    assert hypervolume([(chance, 0.01)], ref) == 0.0
    assert hypervolume([(chance / 2, 0.01)], ref) == 0.0
    # only the accuracy above chance counts
    assert hypervolume([(chance + 0.1, 0.5)], ref) == pytest.approx(0.1 * (REFERENCE_COST - 0.5))


@pytest.mark.parametrize("bad", [1, 0, 2.5, True, "10"])
def test_reference_refuses_bad_class_counts(bad):
    with pytest.raises(ValueError, match=f"num_classes must be an integer >= 2, got {bad!r}"):
        reference_point(bad)


def test_bad_points():
    with pytest.raises(ValueError, match="finite \\(val_acc, macs_ratio\\) pair"):
        hypervolume([(0.5, float("nan"))], REF10)
    with pytest.raises(ValueError, match="pair"):
        non_dominated([(0.5, 0.2, 1.0)])


def test_write_pareto(tmp_path):
    front = [{"val_acc": 0.9, "macs_ratio": 0.6, "mask": {"groups": []}},
             {"val_acc": 0.7, "macs_ratio": 0.2, "mask": {"groups": []}}]
    paths = write_pareto(front, tmp_path / "out", reference=REF10,
                         dense={"val_acc": 0.92, "macs_ratio": 1.0},
                         baselines={"uniform": {"val_acc": 0.8, "macs_ratio": 0.5}})
    data = json.loads(paths["json"].read_text())
    assert [e["macs_ratio"] for e in data["front"]] == [0.2, 0.6]
    assert data["hypervolume"] == pytest.approx(hypervolume([(0.9, 0.6), (0.7, 0.2)], REF10))
    assert data["reference"] == [0.1, REFERENCE_COST]
    assert data["baselines"]["uniform"]["val_acc"] == 0.8 and data["dense"]["macs_ratio"] == 1.0
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pareto.json", "pareto.png"]


def test_write_pareto_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="non-empty front"):
        write_pareto([], tmp_path, reference=REF10)
    with pytest.raises(ValueError, match="missing \\['macs_ratio'\\]"):
        write_pareto([{"val_acc": 0.5}], tmp_path, reference=REF10)


def test_plot_marks_budget_chosen_member_and_baselines_before_and_after_fine_tuning(tmp_path):
    front = [{"val_acc": 0.9, "macs_ratio": 0.6}, {"val_acc": 0.7, "macs_ratio": 0.2}]
    baselines = {"uniform": {"val_acc": 0.6, "macs_ratio": 0.4, "val_acc_after_finetune": 0.8},
                 "lamp": {"val_acc": 0.5, "macs_ratio": 0.35}}
    chosen = {"name": "nsga2", "val_acc": 0.7, "macs_ratio": 0.2, "val_acc_after_finetune": 0.85}
    [ax] = plot_pareto(front, reference=REF10, baselines=baselines, chosen=chosen,
                       budget=0.4).axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["budget 0.4"].get_xdata()) == [0.4, 0.4]  # a vertical line at the budget
    ring = lines["nsga2: fine-tuned member, before fine-tuning"]
    assert (list(ring.get_xdata()), list(ring.get_ydata())) == ([0.2], [0.7])
    assert list(lines["nsga2 after fine-tuning"].get_ydata()) == [0.85]
    assert list(lines["baselines, before fine-tuning"].get_ydata()) == [0.6]  # first of two
    after = lines["baselines, after fine-tuning"]  # only the one fine-tuned figure known
    assert (list(after.get_xdata()), list(after.get_ydata())) == ([0.4], [0.8])
    assert {text.get_text() for text in ax.texts} == {"uniform", "lamp"}
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "baselines, before fine-tuning" in legend and "budget 0.4" in legend

    paths = write_pareto(front, tmp_path, reference=REF10, baselines=baselines, chosen=chosen,
                         budget=0.4)
    data = json.loads(paths["json"].read_text())
    assert data["budget"] == 0.4 and data["chosen"] == chosen
    assert data["baselines"]["uniform"]["val_acc_after_finetune"] == 0.8


def test_plot_without_budget_or_chosen_member_draws_neither():
    [ax] = plot_pareto([{"val_acc": 0.9, "macs_ratio": 0.6}], reference=REF10).axes
    assert [line.get_label() for line in ax.get_lines()] == ["Pareto front (1)"]
