"""Tasks: their losses, metrics (checked against scikit-learn), labels and chance levels."""

import pytest
import torch
from sklearn import metrics as sk

from evoprune.tasks import (
    CLASSIFICATION,
    BadLabels,
    classification,
    custom,
    multilabel,
    regression,
)

GEN = torch.Generator().manual_seed(0)


def test_classification_is_cross_entropy_and_top1_accuracy():
    logits, labels = torch.randn(40, 3, generator=GEN), torch.randint(0, 3, (40,), generator=GEN)
    task = classification()
    assert task.score_name == "accuracy" and CLASSIFICATION.name == "classification"
    assert task.score(logits, labels) == sk.accuracy_score(labels, logits.argmax(1))
    assert torch.allclose(task.loss(logits, labels),
                          torch.nn.functional.cross_entropy(logits, labels))


@pytest.mark.parametrize("shape", [(60,), (60, 2)])
def test_regression_scores_r2_or_negative_rmse(shape):
    labels = torch.randn(shape, generator=GEN)
    outputs = (labels + 0.5 * torch.randn(shape, generator=GEN)).reshape(60, -1)
    r2, rmse = regression("r2"), regression("rmse")
    assert r2.score(outputs, labels) == pytest.approx(sk.r2_score(labels, outputs.reshape(shape)))
    assert rmse.score_name == "neg_rmse"
    assert rmse.score(outputs, labels) == pytest.approx(
        -sk.mean_squared_error(labels, outputs.reshape(shape)) ** 0.5)
    assert torch.allclose(r2.loss(outputs, labels),
                          ((outputs.reshape(shape) - labels) ** 2).mean())


def test_multilabel_scores_map_or_micro_f1():
    logits = torch.randn(80, 4, generator=GEN)
    labels = (torch.rand(80, 4, generator=GEN) > 0.6).float()
    assert multilabel("map").score(logits, labels) == pytest.approx(
        sk.average_precision_score(labels, logits, average="macro"))
    assert multilabel("f1", threshold=0.3).score(logits, labels) == pytest.approx(
        sk.f1_score(labels, torch.sigmoid(logits) >= 0.3, average="micro"))


def test_custom_takes_a_loss_class_and_a_metric_function_either_way_up():
    task = custom({"_target_": "torch.nn.SmoothL1Loss", "beta": 0.5},
                  {"_target_": "tests.tasks.test_tasks.mae"}, higher_is_better=False)
    outputs, labels = torch.zeros(4, 1), torch.tensor([1.0, -1.0, 2.0, 0.0])
    assert task.score_name == "neg_mae" and task.score(outputs, labels) == -1.0
    assert isinstance(task.loss.function, torch.nn.SmoothL1Loss) and task.loss.function.beta == 0.5
    assert custom({"_target_": "torch.nn.L1Loss"}, {"_target_": "tests.tasks.test_tasks.mae"},
                  name="abs").score_name == "abs"


def mae(outputs, labels):
    return float((outputs.reshape(labels.shape) - labels).abs().mean())


@pytest.mark.parametrize("spec, message", [
    ({"_target_": "???"}, "task.loss._target_ is not set"),
    ({"_target_": "no_such_module.loss"}, "cannot be imported"),
    ("torch.nn.L1Loss", "must name a loss or metric"),
])
def test_custom_refuses_a_loss_it_cannot_find(spec, message):
    with pytest.raises(ValueError, match=message):
        custom(spec, {"_target_": "tests.tasks.test_tasks.mae"})


@pytest.mark.parametrize("task, labels, outputs, message", [
    (classification(), torch.randn(5), 3, "must be class indices .* task=regression"),
    (classification(), torch.tensor([0, 3]), 3, r"must be in \[0, 3\)"),
    (regression(), torch.tensor([1, 2]), 1, "must be float .* task=classification"),
    (regression(), torch.randn(4, 2), 1, "do not fit 1 model outputs"),
    (multilabel(), torch.tensor([[0.0, 0.5]]), 2, "must be 0 or 1"),
    (multilabel(), torch.zeros(4), 1, r"must be \(N, labels\)"),
    (regression(), torch.tensor([1.0, float("nan")]), 1, "NaN/inf"),
])
def test_labels_a_task_cannot_read_are_refused_saying_what_it_needs(task, labels, outputs,
                                                                    message):
    with pytest.raises(BadLabels, match=message):
        task.check_labels("data", "train", labels, outputs)


def test_chance_is_what_a_model_ignoring_its_input_scores():
    assert classification().chance(torch.zeros(3), 4) == 0.25
    labels = torch.randn(50, generator=GEN)
    assert regression("r2").chance(labels, 1) == pytest.approx(0.0, abs=1e-9)
    assert regression("rmse").chance(labels, 1) == pytest.approx(
        -float(labels.std(unbiased=False)))
    hot = (torch.rand(50, 3, generator=GEN) > 0.7).float()
    assert multilabel("map").chance(hot, 3) == pytest.approx(float(hot.mean()))
    assert custom({"_target_": "torch.nn.L1Loss"},
                  {"_target_": "tests.tasks.test_tasks.mae"}).chance(labels, 1) is None


@pytest.mark.parametrize("make, message", [
    (lambda: regression("mae"), r"task.metric must be one of \['r2', 'rmse'\]"),
    (lambda: multilabel("auc"), r"task.metric must be one of \['map', 'f1'\]"),
    (lambda: multilabel(threshold=1.5), r"task.threshold must be a number in \(0, 1\)"),
])
def test_settings_out_of_range_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_custom_loss_sees_one_output_per_sample_shaped_like_1d_targets():
    seen = []

    task = custom({"_target_": "torch.nn.L1Loss"}, {"_target_": "tests.tasks.test_tasks.mae"})
    outputs, labels = torch.zeros(5, 1), torch.arange(5.0)
    assert float(task.loss(outputs, labels)) == 2.0  # |0 - k| averaged, not a (5, 5) grid
    record = custom({"_target_": "tests.tasks.test_tasks.mae"},
                    {"_target_": "tests.tasks.test_tasks.mae"})
    record.metric.function = lambda o, y: seen.append(o.shape) or 0.0
    record.score(outputs, labels)
    assert seen == [torch.Size([5])]
    # class indices keep their logits as they are
    assert custom({"_target_": "torch.nn.CrossEntropyLoss"},
                  {"_target_": "tests.tasks.test_tasks.mae"}).counts_classes(torch.tensor([1, 0]))
