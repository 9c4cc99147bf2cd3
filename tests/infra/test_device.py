"""device=auto|cpu|cuda, and timing that waits for the device."""

import pytest
import torch

from evoprune.evaluate.latency import measure_latency_ms
from evoprune.infra.device import BatchSource, fits_on, resolve_device


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


def test_cpu_batches_are_the_indexed_samples():
    x, y = torch.randn(10, 3), torch.arange(10)
    batch = BatchSource(x, y, torch.device("cpu"))
    idx = torch.tensor([7, 2, 5])
    bx, by = batch(idx)
    assert torch.equal(bx, x[idx]) and torch.equal(by, y[idx])
    assert batch.resident and batch.x is x  # indexed where it is: nothing copied


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("free_bytes", [None, 0])  # room for the split / none: copied per batch
def test_gpu_batches_are_the_indexed_samples_resident_or_copied(free_bytes):
    x, y = torch.randn(10, 3), torch.arange(10)
    batch = BatchSource(x, y, torch.device("cuda"), free_bytes=free_bytes)
    assert fits_on(torch.device("cuda"), 1, free_bytes=4) and not fits_on(torch.device("cpu"), 1)
    assert batch.resident == (free_bytes is None)
    idx = torch.tensor([7, 2, 5])
    bx, by = batch(idx)
    assert bx.device.type == by.device.type == "cuda"
    assert torch.equal(bx.cpu(), x[idx]) and torch.equal(by.cpu(), y[idx])
