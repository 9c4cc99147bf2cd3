"""Model families that the pruning search operates on."""

from evoprune.models.cifar import VGG, MobileNetV2
from evoprune.models.cnn import CNN1d, CNN2d
from evoprune.models.mlp import MLP
from evoprune.models.recurrent import RecurrentClassifier
from evoprune.models.resnet import ResNet
from evoprune.models.transformer import PatchTransformer

__all__ = ["MLP", "VGG", "CNN1d", "CNN2d", "MobileNetV2", "PatchTransformer", "RecurrentClassifier",
           "ResNet"]
