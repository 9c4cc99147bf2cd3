"""The latency table: each layer timed alone at a grid of widths, a candidate the sum of its
layers' cells plus what the table does not time, scaled by what the mask keeps."""

import numpy as np
import pytest
import torch
from torch import nn

from evoprune.evaluate import latency_table
from evoprune.evaluate.latency import LatencySettings
from evoprune.evaluate.latency_table import LatencyTable
from evoprune.models import CNN1d, ResNet
from evoprune.models.recurrent import RecurrentClassifier
from evoprune.pruning.macs import count_params
from evoprune.pruning.space import PruningSpace

DENSE_MS = 1000.0  # above the sum of the layers timed alone: the rest is positive


@pytest.fixture
def fake_timings(monkeypatch):
    """A layer alone takes 1 ms per 1,000 parameters; a whole model DENSE_MS. Every layer
    the table builds is recorded."""
    built = []

    def fake(model, inputs, **settings):
        if isinstance(model, (nn.Linear, nn.Conv1d)):
            built.append((type(model).__name__, model.weight.shape[:2]))
            return count_params(model) / 1000
        return DENSE_MS

    monkeypatch.setattr(latency_table, "measure_latency_ms", fake)
    return built


def cnn_space(round_to=1):
    torch.manual_seed(0)
    model = CNN1d((1, 40), 10).eval()
    return model, PruningSpace(model, torch.randn(2, 1, 40), round_to=round_to)


def layer_sum(model, space, mask):
    """What the fake timings make of the compacted model's conv and linear layers."""
    from evoprune.pruning.compact import compact

    return sum(count_params(m) / 1000 for m in compact(model, space, mask).modules()
               if isinstance(m, (nn.Linear, nn.Conv1d)))


def test_the_dense_prediction_is_the_dense_measurement(fake_timings):
    model, space = cnn_space()
    table = LatencyTable(model, space, torch.randn(8, 1, 40), LatencySettings())
    assert table.predict(space.full_mask()) == pytest.approx(DENSE_MS)
    assert table.rest_ms == pytest.approx(DENSE_MS - layer_sum(model, space, space.full_mask()))


def test_widths_on_the_grid_read_their_own_cells(fake_timings):
    # round_to=8 leaves each group at most 16 widths; a grid of 16 times every one of them
    model, space = cnn_space(round_to=8)
    table = LatencyTable(model, space, torch.randn(8, 1, 40), LatencySettings(), grid=16)
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = space.mask_from_ratios(rng.uniform(0.1, 1, len(space.groups)))
        timed = table.predict(mask) - table.rest_ms * table.rest_share(space.layer_widths(mask))
        assert timed == pytest.approx(layer_sum(model, space, mask))


def test_between_grid_points_the_table_interpolates(fake_timings):
    # parameters of a layer are bilinear in its widths: interpolation is exact for them
    model, space = cnn_space()
    table = LatencyTable(model, space, torch.randn(8, 1, 40), LatencySettings(), grid=3)
    mask = space.mask_from_ratios([0.37, 0.61, 0.83, 0.45])
    timed = table.predict(mask) - table.rest_ms * table.rest_share(space.layer_widths(mask))
    assert timed == pytest.approx(layer_sum(model, space, mask), rel=0.02)


def test_smaller_masks_predict_less(fake_timings):
    model, space = cnn_space()
    table = LatencyTable(model, space, torch.randn(8, 1, 40), LatencySettings())
    masks = np.stack([space.mask_from_ratios([r] * 4) for r in np.linspace(0.1, 1, 10)])
    assert np.all(np.diff(table.predict(masks)) > 0)


def test_repeated_layers_are_timed_once(fake_timings):
    model = ResNet((1, 40), 10, blocks_per_stage=3, widths=(8, 16, 16)).eval()
    space = PruningSpace(model, torch.randn(2, 1, 40))
    table = LatencyTable(model, space, torch.randn(4, 1, 40), LatencySettings(), grid=4)
    every_cell = sum(cells.size for *_, cells in table.layers)
    assert len(fake_timings) == table.cells < every_cell


def test_layers_it_cannot_rebuild_scale_the_rest_by_their_macs(fake_timings):
    model = RecurrentClassifier((1, 12), 10, hidden=16, conv_channels=(8,)).eval()
    space = PruningSpace(model, torch.randn(2, 1, 12))
    table = LatencyTable(model, space, torch.randn(4, 1, 12), LatencySettings())
    names = {space.traces[index].name for index in table.untimed}
    assert "rnn" in names
    half = space.mask_from_ratios([0.5] * len(space.groups))
    share = table.rest_share(space.layer_widths(half))[0]
    assert 0 < share < 1 and table.predict(half) < DENSE_MS


def test_the_table_survives_a_checkpoint(fake_timings):
    model, space = cnn_space()
    table = LatencyTable(model, space, torch.randn(8, 1, 40), LatencySettings())
    mask = space.mask_from_ratios([0.3, 0.5, 0.7, 0.9])
    again = LatencyTable(model, space, torch.randn(8, 1, 40), LatencySettings())
    again.rest_ms = -1.0
    again.load_state_dict(table.state_dict())
    assert again.predict(mask) == table.predict(mask)


def test_a_table_times_in_torch_only():
    with pytest.raises(ValueError, match="estimate=table times each layer alone in torch: use "
                                         "runtime=torch"):
        LatencySettings(estimate="table", runtime="onnxruntime")
    with pytest.raises(ValueError, match="estimate must be one of \\['measured', 'table'\\]"):
        LatencySettings(estimate="guess")


def test_real_timings_rank_masks_like_their_macs():
    # a smoke test on real timings: a quarter of every layer is predicted faster than all
    model, space = cnn_space()
    table = LatencyTable(model, space, torch.randn(16, 1, 40),
                         LatencySettings(repeats=5, warmup=1), grid=3)
    quarter = space.mask_from_ratios([0.25] * 4)
    assert 0 < table.predict(quarter) < table.predict(space.full_mask())
    assert table.rest_ms >= 0


def test_the_rest_is_never_negative(monkeypatch):
    # layers alone timed slower than the whole model: the prediction is their sum
    monkeypatch.setattr(latency_table, "measure_latency_ms",
                        lambda model, inputs, **settings: 0.001 if isinstance(
                            model, (nn.Linear, nn.Conv1d)) else 0.002)
    model, space = cnn_space()
    table = LatencyTable(model, space, torch.randn(8, 1, 40), LatencySettings())
    assert table.rest_ms == 0 and table.predict(space.full_mask()) > table.dense_ms
