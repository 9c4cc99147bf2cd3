"""The recurrent classifiers: shapes, layouts and argument validation."""

import pytest
import torch
from torch import nn

from evoprune.models import RecurrentClassifier


@pytest.mark.parametrize("settings, rnn_type, head_in", [
    ({}, nn.GRU, 64 * 40),
    ({"cell": "lstm", "hidden": 16, "readout": "mean"}, nn.LSTM, 16),
    ({"cell": "lstm", "hidden": 16, "proj_size": 4, "bidirectional": True}, nn.LSTM, 2 * 4 * 40),
    ({"cell": "rnn", "hidden": 8, "num_layers": 2, "readout": "last"}, nn.RNN, 8),
    ({"hidden": 8, "conv_channels": [6, 5], "kernel_size": 3}, nn.GRU, 8 * 40),
])
def test_layout_and_output_shape(settings, rnn_type, head_in):
    model = RecurrentClassifier((1, 40), 10, **settings).eval()
    assert type(model.rnn) is rnn_type and model.rnn.batch_first
    assert model.head.in_features == head_in
    assert model(torch.randn(3, 1, 40)).shape == (3, 10)


def test_the_readouts_differ_in_what_the_head_reads():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 40)
    last = RecurrentClassifier((1, 40), 4, hidden=6, readout="last").eval()
    steps, _ = last.rnn(x.transpose(1, 2))
    torch.testing.assert_close(last(x), last.head(steps[:, -1]))
    flat = RecurrentClassifier((1, 40), 4, hidden=6).eval()
    steps, _ = flat.rnn(x.transpose(1, 2))
    # unit-major, as a convolution's flatten: the head's first 40 columns read unit 0
    torch.testing.assert_close(flat(x), flat.head(steps.transpose(1, 2).reshape(2, -1)))


@pytest.mark.parametrize("settings, message", [
    ({"cell": "transformer"}, "cell must be one of \\['gru', 'lstm', 'rnn'\\], got 'transformer'"),
    ({"readout": "max"}, "readout must be one of"),
    ({"proj_size": 4}, "proj_size needs cell=lstm, got cell='gru'"),
    ({"cell": "lstm", "hidden": 8, "proj_size": 8}, "proj_size must be an integer from 0 to "
                                                    "hidden - 1 \\(7\\), got 8"),
    ({"kernel_size": 4, "conv_channels": [4]}, "kernel_size must be odd"),
    ({"hidden": 0}, "must be positive integers"),
])
def test_bad_arguments_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        RecurrentClassifier((1, 40), 10, **settings)


def test_images_are_refused_with_a_pointer_to_sequence_data():
    with pytest.raises(ValueError, match="expects input_shape \\(features, steps\\), got "
                                         "\\[1, 8, 8\\]; use data=mnist1d"):
        RecurrentClassifier((1, 8, 8), 10)
