"""Knowledge distillation from the dense model during fine-tuning (Hinton et al., 2015)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from evoprune.infra.validators import check_positive, check_probability


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation from a teacher (Hinton et al., 2015) for :func:`train_classifier`.

    The loss is ``(1 - alpha) * CE(student, y) + alpha * T^2 * KL(p_teacher || p_student)``
    with both distributions softened by temperature ``T``. The ``T^2`` factor keeps the soft
    term's gradients on the scale of the hard term's whatever ``T`` is.
    """

    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self) -> None:
        check_probability("alpha", self.alpha)
        check_positive("temperature", self.temperature)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    cfg: DistillConfig,
) -> torch.Tensor:
    """``(1 - alpha) * CE + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))``.

    The KL divergence is summed over classes and averaged over the batch ("batchmean"), the
    reduction that matches the mathematical definition (``"mean"`` would divide by classes too).
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            f"teacher logits have shape {list(teacher_logits.shape)}, the student's "
            f"{list(student_logits.shape)}; the teacher must solve the same task"
        )
    hard = F.cross_entropy(student_logits, targets)
    t = float(cfg.temperature)
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,  # log-probabilities on both sides: no log(0) for tiny probabilities
    )
    return (1.0 - cfg.alpha) * hard + cfg.alpha * t * t * soft
