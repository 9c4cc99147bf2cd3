"""Exported models (``model_<method>.pt2``)."""

import pytest
import torch

from evoprune.report.results import export_model


def test_exported_model_takes_any_batch_size(residual_net, tmp_path):
    path = tmp_path / "model.pt2"
    export_model(path, residual_net, torch.randn(2, 1, 32))
    program = torch.export.load(str(path)).module()
    for size in (1, 2, 7):
        x = torch.randn(size, 1, 32)
        with torch.no_grad():
            torch.testing.assert_close(program(x), residual_net(x))


def test_export_refuses_an_example_of_one_sample(residual_net, tmp_path):
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        export_model(tmp_path / "model.pt2", residual_net, torch.randn(1, 1, 32))
    assert not list(tmp_path.iterdir())
