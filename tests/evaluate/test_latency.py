import pytest
import torch
from torch import nn

from evoprune.evaluate.latency import measure_latency_ms


class ThreadProbe(nn.Module):
    """Records torch's thread count at every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(torch.get_num_threads())
        return x * 2


def test_median_of_repeats_on_the_requested_threads():
    before = torch.get_num_threads()
    probe = ThreadProbe()
    latency = measure_latency_ms(probe, torch.ones(4, 3), repeats=5, warmup=2, threads=1)
    assert latency > 0 and probe.seen == [1] * 7  # warm-up and timed passes
    assert torch.get_num_threads() == before  # restored
    unchanged = ThreadProbe()
    measure_latency_ms(unchanged, torch.ones(4, 3), repeats=1, warmup=0)
    assert unchanged.seen == [before]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"repeats": 0}, "latency repeats must be >= 1 and warmup >= 0, got 0, 5"),
        ({"threads": 0}, "threads must be >= 1 or null, got 0"),
    ],
)
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        measure_latency_ms(ThreadProbe(), torch.ones(1, 3), **settings)
