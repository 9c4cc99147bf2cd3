import json

import pytest

from evoprune.report.pareto import plot_pareto, write_pareto
from evoprune.search.pareto import REFERENCE_COST, chance_accuracy, hypervolume, reference_point

REF10 = reference_point(chance_accuracy(10))


def test_write_pareto(tmp_path):
    front = [{"val_acc": 0.9, "macs_ratio": 0.6, "mask": {"num_units": 0, "groups": []}},
             {"val_acc": 0.7, "macs_ratio": 0.2, "mask": {"num_units": 0, "groups": []}}]
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
    ring = lines["nsga2: the member fine-tuned"]
    assert (list(ring.get_xdata()), list(ring.get_ydata())) == ([0.2], [0.7])
    assert list(lines["nsga2 after the full fine-tune"].get_ydata()) == [0.85]
    assert list(lines["baselines"].get_ydata()) == [0.6]  # first of two
    after = lines["baselines after the full fine-tune"]  # only the one fine-tuned figure known
    assert (list(after.get_xdata()), list(after.get_ydata())) == ([0.4], [0.8])
    assert {text.get_text() for text in ax.texts} == {"uniform", "lamp"}
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "baselines" in legend and "budget 0.4" in legend
    assert ax.get_ylabel() == "validation accuracy right after pruning (the\nsearch's score)"

    paths = write_pareto(front, tmp_path, reference=REF10, baselines=baselines, chosen=chosen,
                         budget=0.4)
    data = json.loads(paths["json"].read_text())
    assert data["budget"] == 0.4 and data["chosen"] == chosen
    assert data["score"] == "validation accuracy right after pruning (the search's score)"
    assert data["baselines"]["uniform"]["val_acc_after_finetune"] == 0.8


def test_plot_without_budget_or_chosen_member_draws_neither():
    [ax] = plot_pareto([{"val_acc": 0.9, "macs_ratio": 0.6}], reference=REF10).axes
    assert [line.get_label() for line in ax.get_lines()] == ["Pareto front (1)"]
