"""What the model is trained for and scored by: a loss, a metric, and the labels they read.

A :class:`Task` is chosen by the ``task`` config group: ``classification`` (the default:
cross-entropy, top-1 accuracy), ``regression`` (mean squared error; R² or negative RMSE),
``multilabel`` (binary cross-entropy per label; mean average precision or F1), or ``custom``
(any loss and metric, by ``_target_``). Training and every fine-tune minimise its loss; the
search, the selection among finalists, the baselines' comparison and the report all read its
score, which is higher-is-better (a lower-is-better metric is negated and named ``neg_...``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from evoprune.infra.errors import UserError
from evoprune.tasks import metrics

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Callable[[torch.Tensor, torch.Tensor], float]


class BadLabels(UserError, ValueError):
    """Labels the task cannot read (a class index for classification, a float target for
    regression, a 0/1 vector for multilabel)."""


@dataclass(frozen=True)
class Task:
    """A loss to train with and a metric to score with, over a model's outputs and the labels.

    ``metric`` maps a whole split's outputs ``(N, outputs)`` and labels to one number;
    :meth:`score` makes it higher-is-better. ``labels``: ``class`` (int64 ``(N,)`` indices in
    ``[0, outputs)``), ``target`` (float32 ``(N,)`` or ``(N, outputs)``), ``multi_hot``
    (float32 ``(N, outputs)`` of 0/1), or ``any`` (a custom task: not checked).
    """

    name: str
    loss: Loss
    metric: Metric
    metric_name: str
    higher_is_better: bool = True
    labels: str = "class"

    @property
    def score_name(self) -> str:
        """What :meth:`score` reports, e.g. ``accuracy``, ``r2``, ``neg_mae``."""
        return self.metric_name if self.higher_is_better else f"neg_{self.metric_name}"

    def label(self, split: str) -> str:
        """How console lines name the score on ``split``: ``val_acc`` / ``test_acc`` for
        accuracy (the keys results.json holds it under), ``val r2`` and so on otherwise."""
        return f"{split}_acc" if self.score_name == "accuracy" else f"{split} {self.score_name}"

    def score(self, outputs: torch.Tensor, labels: torch.Tensor) -> float:
        """The metric, higher is better, on outputs and labels of one whole split."""
        value = float(self.metric(outputs.float(), labels))
        return value if self.higher_is_better else -value

    def check_labels(self, source: str, split: str, labels: torch.Tensor, outputs: int) -> None:
        """Refuse labels this task cannot read, naming the split, what it found and what it
        needs (``outputs``: the model's output width)."""
        if self.labels == "any":
            return
        if self.labels == "class":
            if labels.dtype != torch.int64 or labels.ndim != 1:
                raise BadLabels(f"{source}: {split} labels must be class indices (int64, shape "
                                f"(N,)) for task={self.name}, got {labels.dtype} of shape "
                                f"{tuple(labels.shape)}; a float target needs task=regression")
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high >= outputs:
                raise BadLabels(f"{source}: {split} labels must be in [0, {outputs}) for "
                                f"num_classes={outputs}, found {low}..{high}")
            return
        if not labels.is_floating_point():
            raise BadLabels(f"{source}: {split} labels must be float for task={self.name}, got "
                            f"{labels.dtype}" + ("; class indices need task=classification"
                                                 if self.labels == "target" else ""))
        width = 1 if labels.ndim == 1 else int(labels.shape[1])
        if labels.ndim > 2 or width != outputs or (self.labels == "multi_hot"
                                                   and labels.ndim != 2):
            shapes = "(N,) or (N, outputs)" if self.labels == "target" else "(N, labels)"
            raise BadLabels(f"{source}: {split} labels of shape {tuple(labels.shape)} do not fit "
                            f"{outputs} model outputs for task={self.name}: they must be "
                            f"{shapes}")
        if not bool(torch.isfinite(labels).all()):
            raise BadLabels(f"{source}: {split} labels hold NaN/inf values")
        if self.labels == "multi_hot" and not bool(((labels == 0) | (labels == 1)).all()):
            raise BadLabels(f"{source}: {split} labels must be 0 or 1 for task=multilabel")

    def counts_classes(self, labels: torch.Tensor) -> bool:
        """Whether ``labels`` are class indices (a custom task's 1-D integer labels too):
        the model then has one output per class."""
        return self.labels == "class" or (self.labels == "any" and labels.ndim == 1
                                          and not labels.is_floating_point())

    def outputs_for(self, labels: torch.Tensor, classes: int | None) -> int:
        """The model's output width these labels call for: ``classes`` (or the largest
        label + 1) for class indices, else the labels' width."""
        if self.counts_classes(labels):
            return int(classes) if classes is not None else int(labels.max()) + 1
        return 1 if labels.ndim == 1 else int(labels.shape[1])

    def chance(self, labels: torch.Tensor, outputs: int) -> float | None:
        """The score of a model that ignores its input (the floor a Pareto front's
        hypervolume is measured from), or None when the task cannot say (custom)."""
        if self.name == "classification":
            return 1.0 / outputs
        if self.name == "regression":  # always predicting the mean: R² 0, RMSE the spread
            mean = labels.float().mean(0, keepdim=True)
            return self.score(mean.expand_as(labels).reshape(len(labels), -1), labels)
        if self.name == "multilabel":  # ranking at random: AP is the prevalence; all positive
            prevalence = float(labels.float().mean())
            return prevalence if self.metric_name == "map" else \
                2 * prevalence / (1 + prevalence)
        return None


def _classification_loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, labels)


def _regression_loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(outputs.reshape(labels.shape), labels)


def _multilabel_loss(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(outputs, labels)


def classification() -> Task:
    """Cross-entropy on logits; the score is top-1 accuracy."""
    return Task("classification", _classification_loss, metrics.accuracy, "accuracy")


REGRESSION_METRICS = {"r2": metrics.r2, "rmse": metrics.rmse}


def regression(metric: str = "r2") -> Task:
    """Mean squared error; the score is R² (``r2``: 1 is perfect, 0 is predicting the mean) or
    the negative root mean squared error (``rmse``, reported as ``neg_rmse``)."""
    if metric not in REGRESSION_METRICS:
        raise ValueError(f"task.metric must be one of {sorted(REGRESSION_METRICS)} for "
                         f"task=regression, got {metric!r}")
    return Task("regression", _regression_loss, REGRESSION_METRICS[metric], metric,
                higher_is_better=metric == "r2", labels="target")


MULTILABEL_METRICS = ("map", "f1")


def multilabel(metric: str = "map", threshold: float = 0.5) -> Task:
    """Binary cross-entropy on one logit per label; the score is the mean over labels of the
    average precision (``map``) or the micro-averaged F1 at ``threshold`` on the
    probabilities (``f1``)."""
    if metric not in MULTILABEL_METRICS:
        raise ValueError(f"task.metric must be one of {list(MULTILABEL_METRICS)} for "
                         f"task=multilabel, got {metric!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 < threshold < 1:
        raise ValueError(f"task.threshold must be a number in (0, 1), got {threshold!r}")
    scored = metrics.mean_average_precision if metric == "map" else functools.partial(
        metrics.micro_f1, threshold=float(threshold))
    return Task("multilabel", _multilabel_loss, scored, metric, labels="multi_hot")


def custom(loss: Mapping[str, Any], metric: Mapping[str, Any], higher_is_better: bool = True,
           name: str | None = None) -> Task:
    """Your own loss and metric, each named by ``_target_`` (its other keys are its keyword
    arguments): a class is instantiated (``torch.nn.SmoothL1Loss``), a function is called as
    is (``my_metrics.mae``). The loss maps ``(outputs, labels)`` to a scalar tensor, the metric
    a whole split's ``(outputs, labels)`` to a number; ``higher_is_better`` says which way the
    metric points (a lower-is-better one is negated and reported as ``neg_<name>``)."""
    if not isinstance(higher_is_better, bool):
        raise ValueError(f"task.higher_is_better must be true or false, got {higher_is_better!r}")
    loss_fn, loss_name = _callable("task.loss", loss)
    metric_fn, metric_name = _callable("task.metric", metric)
    return Task("custom", ShapedLikeLabels(loss_fn), ShapedLikeLabels(metric_fn),
                name or metric_name, higher_is_better, "any")


class ShapedLikeLabels:
    """A custom loss or metric called with one output per sample shaped like 1-D float
    labels: ``(N, 1)`` outputs against ``(N,)`` targets would broadcast to ``(N, N)`` in most
    losses (``torch.nn.L1Loss`` warns, and trains on the wrong thing)."""

    def __init__(self, function: Callable) -> None:
        self.function = function

    def __call__(self, outputs: torch.Tensor, labels: torch.Tensor):
        if labels.is_floating_point() and labels.ndim == 1 and outputs.ndim == 2 \
                and outputs.shape[1] == 1:
            outputs = outputs[:, 0]
        return self.function(outputs, labels)


def _callable(key: str, spec: Mapping[str, Any]) -> tuple[Callable, str]:
    """The callable ``spec`` names: a class instantiated with the other keys, a function with
    them bound; and a short name for it."""
    from hydra.utils import get_object

    if not isinstance(spec, Mapping) or not isinstance(spec.get("_target_"), str):
        raise ValueError(f"{key}._target_ must name a loss or metric (a dotted path such as "
                         f"torch.nn.SmoothL1Loss or my_metrics.mae), got {spec!r}")
    path = spec["_target_"]
    if path == "???":
        raise ValueError(f"{key}._target_ is not set: name your loss and metric, e.g. "
                         "task.loss._target_=torch.nn.L1Loss task.metric._target_=my_metrics.mae")
    try:
        target = get_object(path)
    except Exception as err:  # noqa: BLE001 - Hydra raises several kinds for a missing path
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"{key}._target_={path} cannot be imported: run from the folder that "
                         f"holds its module, or put it on PYTHONPATH ({reason})") from None
    arguments = {k: v for k, v in spec.items() if not k.startswith("_")}
    if inspect.isclass(target):
        return target(**arguments), target.__name__.lower()
    if not callable(target):
        raise ValueError(f"{key}._target_={path} is not callable")
    return (functools.partial(target, **arguments) if arguments else target), target.__name__


CLASSIFICATION = classification()

__all__ = ["BadLabels", "CLASSIFICATION", "Task", "classification", "custom", "multilabel",
           "regression"]
