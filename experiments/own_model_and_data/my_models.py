"""A model of your own, as evoprune takes it: any nn.Module of conv, linear and BatchNorm layers.

    PYTHONPATH=/path/to/this/folder python -m evoprune model=custom \
        model._target_=my_models.TinyNet +model.width=24

``TinyNet`` takes ``num_classes`` (evoprune passes it, from the data) but not ``input_shape``
(so evoprune does not pass it); ``width`` comes from the command line.
"""

from torch import nn


class TinyNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.Conv1d(width, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU(),
            nn.AdaptiveAvgPool1d(4), nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))
