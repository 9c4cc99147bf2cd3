"""Stage 2: training. The training loop every fit goes through (the dense model, each
method's fine-tune, the proxy's brief fine-tunes), knowledge distillation, and the cached
dense model."""

from evoprune.training.train import TrainConfig, accuracy, score, train_classifier

__all__ = ["TrainConfig", "accuracy", "score", "train_classifier"]
