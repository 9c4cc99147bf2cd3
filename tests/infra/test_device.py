"""device=auto|cpu|cuda, and timing that waits for the device."""

import pytest
import torch

from evoprune.evaluate.latency import measure_latency_ms
from evoprune.infra.device import resolve_device


def test_auto_is_the_gpu_when_there_is_one_else_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_unknown_devices_are_refused():
    with pytest.raises(ValueError, match="device must be one of \\['auto', 'cpu', 'cuda'\\]"):
        resolve_device("gpu")


def test_latency_moves_the_inputs_to_the_model():
    model = torch.nn.Linear(4, 2).to(resolve_device("auto"))
    assert measure_latency_ms(model, torch.randn(3, 4), repeats=2, warmup=1) > 0
