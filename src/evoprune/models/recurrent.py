"""Recurrent classifiers for sequences (MNIST-1D: one feature over 40 steps).

Layout: an optional convolutional front end (Conv1d -> BatchNorm -> ReLU per entry of
``conv_channels``, the length kept), then one ``nn.GRU``/``nn.LSTM``/``nn.RNN`` over the steps,
then a linear head on the ``readout`` of its output sequence: the last step, the mean over
steps, or every step (``flatten``, the MNIST-1D paper's GRU: the head sees each step's state,
so a unit's removal takes ``steps`` columns of the head with it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from evoprune.models.mlp import positive_ints

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}
READOUTS = ("last", "mean", "flatten")


class RecurrentClassifier(nn.Module):
    """Sequence classifier: (conv front end) -> recurrent layer(s) -> linear head.

    Args:
        input_shape, num_classes: from the data; ``input_shape`` is ``(features, steps)``.
        cell: ``gru``, ``lstm`` or ``rnn`` (tanh).
        hidden: hidden units per direction and layer.
        num_layers: stacked recurrent layers.
        bidirectional: run every layer in both directions.
        proj_size: LSTM only: project each step's hidden state to this many units (0: none).
        conv_channels: output channels of each front-end convolution (empty: none).
        kernel_size: the front-end convolutions' (odd) kernel size.
        readout: what the head reads of the output sequence: the ``last`` step, the ``mean``
            over steps, or every step (``flatten``).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        cell: str = "gru",
        hidden: int = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        proj_size: int = 0,
        conv_channels: Sequence[int] = (),
        kernel_size: int = 5,
        readout: str = "flatten",
    ) -> None:
        super().__init__()
        owner = "RecurrentClassifier"
        shape = tuple(input_shape)
        if len(shape) != 2:
            raise ValueError(f"{owner} expects input_shape (features, steps), got {list(shape)}; "
                             "use data=mnist1d or another sequence dataset")
        self.input_shape = positive_ints("input_shape", shape, owner)
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), owner)
        if cell not in CELLS:
            raise ValueError(f"{owner} cell must be one of {list(CELLS)}, got {cell!r}")
        if readout not in READOUTS:
            raise ValueError(f"{owner} readout must be one of {list(READOUTS)}, got {readout!r}")
        (hidden, num_layers, kernel_size) = positive_ints(
            "hidden, num_layers and kernel_size", (hidden, num_layers, kernel_size), owner)
        if kernel_size % 2 == 0:
            raise ValueError(f"{owner} kernel_size must be odd so the length is kept, got "
                             f"{kernel_size}")
        if proj_size and cell != "lstm":
            raise ValueError(f"{owner} proj_size needs cell=lstm, got cell={cell!r}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or not (
                0 <= proj_size < hidden):
            raise ValueError(f"{owner} proj_size must be an integer from 0 to hidden - 1 "
                             f"({hidden - 1}), got {proj_size!r}")
        channels = positive_ints("conv_channels", conv_channels, owner)
        layers: list[nn.Module] = []
        width = self.input_shape[0]
        for out in channels:
            layers += [nn.Conv1d(width, out, kernel_size, padding=kernel_size // 2, bias=False),
                       nn.BatchNorm1d(out), nn.ReLU()]
            width = out
        self.front = nn.Sequential(*layers)
        extra = {"proj_size": proj_size} if proj_size else {}
        self.rnn = CELLS[cell](width, hidden, num_layers=num_layers, batch_first=True,
                               bidirectional=bool(bidirectional), **extra)
        self.readout = readout
        directions = 2 if bidirectional else 1
        features = directions * (proj_size or hidden)
        if readout == "flatten":
            features *= self.input_shape[1]
        self.head = nn.Linear(features, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(N, features, steps)`` to logits ``(N, num_classes)``."""
        steps, _ = self.rnn(self.front(x).transpose(1, 2))
        if self.readout == "flatten":  # unit-major (N, units, steps), as a conv's flatten
            return self.head(steps.transpose(1, 2).flatten(1))
        return self.head(steps[:, -1] if self.readout == "last" else steps.mean(dim=1))
