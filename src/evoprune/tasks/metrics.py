"""The built-in tasks' metrics, over a whole split's model outputs and labels."""

from __future__ import annotations

import torch


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of logits ``(N, classes)`` against class indices ``(N,)``."""
    return int((outputs.argmax(dim=1) == labels).sum()) / len(labels)


def r2(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Coefficient of determination, averaged over targets: 1 - SSE / SST (per target)."""
    predicted = outputs.reshape(labels.shape).double()
    labels = labels.double()
    residual = ((labels - predicted) ** 2).sum(0)
    total = ((labels - labels.mean(0)) ** 2).sum(0).clamp(min=1e-12)
    return float((1 - residual / total).mean())


def rmse(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Root mean squared error over every target value."""
    return float(((outputs.reshape(labels.shape).double() - labels.double()) ** 2).mean().sqrt())


def mean_average_precision(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over labels of the average precision of the logits' ranking (labels no sample
    holds are left out: their precision is undefined)."""
    precisions = []
    for scores, truth in zip(outputs.double().T, labels.double().T):
        positives = float(truth.sum())
        if positives == 0:
            continue
        ranked = truth[torch.argsort(scores, descending=True, stable=True)]
        hits = ranked.cumsum(0)
        ranks = torch.arange(1, len(ranked) + 1, dtype=torch.float64)
        precisions.append(float((hits / ranks * ranked).sum() / positives))
    return sum(precisions) / len(precisions) if precisions else 0.0


def micro_f1(outputs: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5) -> float:
    """F1 over every (sample, label) decision, a label predicted when its probability (the
    logit's sigmoid) reaches ``threshold``."""
    predicted = torch.sigmoid(outputs.double()) >= threshold
    truth = labels > 0.5
    true_positive = float((predicted & truth).sum())
    wrong = float((predicted ^ truth).sum())
    return 2 * true_positive / (2 * true_positive + wrong) if true_positive else 0.0
