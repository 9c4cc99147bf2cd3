"""Model families that the pruning search operates on."""

from evoprune.models.cnn import CNN1d, CNN2d
from evoprune.models.mlp import MLP
from evoprune.models.recurrent import RecurrentClassifier
from evoprune.models.resnet import ResNet

__all__ = ["MLP", "CNN1d", "CNN2d", "RecurrentClassifier", "ResNet"]
