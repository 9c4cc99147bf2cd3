"""ONNX export and ONNX Runtime: the export runs as torch does, at any batch size; a model it
cannot carry is refused with one line; a missing extra is named with its install command."""

import importlib.util
import sys

import numpy as np
import pytest
import torch
from torch import nn

from evoprune.evaluate import runtime
from evoprune.evaluate.latency import LatencySettings, measure_latency_ms
from evoprune.evaluate.runtime import (
    MissingExtraError,
    OnnxExportError,
    OnnxSession,
    checked_onnx,
    exported_program,
    require_onnx,
)
from evoprune.models import CNN1d


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return CNN1d((1, 40), 10).eval()


def test_onnx_runs_as_torch_at_any_batch_size(cnn):
    x = torch.randn(4, 1, 40)
    model, difference = checked_onnx(exported_program(cnn, x), x)
    assert difference < 1e-5
    session = OnnxSession(model, threads=1)
    for batch in (1, 7):
        inputs = torch.randn(batch, 1, 40)
        with torch.inference_mode():
            assert np.allclose(session(inputs), cnn(inputs).numpy(), atol=1e-5)


@torch.library.custom_op("evoprune_test::shifted", mutates_args=())
def shifted(x: torch.Tensor) -> torch.Tensor:
    return x + 1


@shifted.register_fake
def _(x):
    return torch.empty_like(x)


class Shifted(nn.Module):
    """A linear layer, then an operator ONNX has no translation of."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        return shifted(self.linear(x))


def test_a_model_onnx_cannot_carry_is_one_error():
    x = torch.randn(2, 3)
    with pytest.raises(OnnxExportError) as caught:
        checked_onnx(exported_program(Shifted().eval(), x), x)
    assert "\n" not in str(caught.value)


def test_an_onnx_model_computing_something_else_is_refused(cnn, monkeypatch):
    x = torch.randn(2, 1, 40)
    monkeypatch.setattr(OnnxSession, "__call__", lambda self, inputs: np.zeros((2, 10)))
    with pytest.raises(OnnxExportError, match="outputs differ from torch's by up to"):
        checked_onnx(exported_program(cnn, x), x)


def test_export_needs_two_samples(cnn):
    with pytest.raises(ValueError, match="at least 2 samples"):
        exported_program(cnn, torch.randn(1, 1, 40))


def test_a_missing_extra_is_named_with_its_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(MissingExtraError, match=r"^export.onnx=true needs ONNX export and ONNX "
                                                r"Runtime, and onnxruntime is not installed: "
                                                r"pip install 'evoprune\[onnx\]'$"):
        require_onnx("export.onnx=true")


@pytest.mark.parametrize("batch", [1, 8])
def test_latency_in_onnxruntime(cnn, batch):
    assert measure_latency_ms(cnn, torch.randn(batch, 1, 40), repeats=3, warmup=1, threads=1,
                              runtime="onnxruntime") > 0


def test_latency_on_another_device_leaves_the_model_where_it_is(cnn):
    assert measure_latency_ms(cnn, torch.randn(2, 1, 40), repeats=1, warmup=0,
                              device="cpu") > 0
    assert next(cnn.parameters()).device.type == "cpu"


@pytest.mark.parametrize("settings, message", [
    ({"runtime": "tvm"}, "runtime must be one of \\['torch', 'onnxruntime'\\], got 'tvm'"),
    ({"device": "auto"}, "device must be null \\(the run's device\\) or one of \\['cpu', "
                         "'cuda'\\], got 'auto'"),
])
def test_bad_latency_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        LatencySettings(**settings)


def test_the_exporter_says_nothing(cnn, capfd):
    # a run's logging config (Hydra's) shows INFO lines of every logger on the console
    import logging

    handler = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        x = torch.randn(2, 1, 40)
        runtime.onnx_bytes(exported_program(cnn, x))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
