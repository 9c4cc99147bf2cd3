"""Shared fixtures: small models and data that make every test run in seconds on a CPU."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from evoprune.data import load_synthetic
from evoprune.training.train import TrainConfig, train_classifier


class ResidualNet(nn.Module):
    """Two convs tied by a residual add, flatten → linear, and an output layer."""

    def __init__(self, channels: int = 8, length: int = 32, classes: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, channels, 5, padding=2, bias=False)
        self.stem_bn = nn.BatchNorm1d(channels)
        self.body = nn.Conv1d(channels, channels, 3, padding=1, bias=False)
        self.body_bn = nn.BatchNorm1d(channels)
        self.head = nn.Conv1d(channels, 12, 3, padding=1)
        self.hidden = nn.Linear(12 * length, 16)
        self.out = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem_bn(self.stem(x)))
        x = x + torch.relu(self.body_bn(self.body(x)))
        x = torch.sigmoid(self.head(x))  # not zero-preserving: masking must still be exact
        return self.out(torch.relu(self.hidden(x.flatten(1))))


def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give BatchNorm layers non-trivial statistics so masking mistakes show in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator))
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(size, generator=generator))
            module.bias.data.copy_(torch.randn(size, generator=generator))
    return model.eval()


@pytest.fixture
def residual_net() -> ResidualNet:
    torch.manual_seed(0)
    return randomize_batchnorm(ResidualNet())


@pytest.fixture(scope="session")
def synthetic_data():
    return load_synthetic(num_samples=600, num_classes=4, input_shape=(1, 32), seed=0)


@pytest.fixture(scope="session")
def trained_residual(synthetic_data) -> ResidualNet:
    """A ResidualNet trained on the synthetic data (well above chance)."""
    torch.manual_seed(0)
    model = ResidualNet()
    train_classifier(
        model, synthetic_data.train, TrainConfig(epochs=8, lr=1e-2), seed=0, progress=False
    )
    return model.eval()


@dataclass(frozen=True)
class FinishedRun:
    """A completed run of the app: where it wrote, what it returned, its dense-model cache."""

    run_dir: Path
    results: dict
    cache_dir: Path


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory) -> FinishedRun:
    """One complete run on the fastest settings (GA and the default baselines at budget 0.4),
    shared by the tests that read a run's outputs; they must not modify it."""
    from evoprune.run import run
    from tests.helpers import FAST, compose_config

    root = tmp_path_factory.mktemp("fast_run")
    cache = root / "cache"
    results = run(compose_config(FAST + ["budget=0.4", f"cache_dir={cache}"]), root / "run")
    return FinishedRun(root / "run", results, cache)


@pytest.fixture
def fake_latency(monkeypatch):
    """Deterministic stand-in for the evaluator's CPU timings (which are noisy): 0.5 ms of fixed
    overhead plus 1 ms per 1,000 parameters of the model timed."""
    from evoprune.evaluate import evaluator
    from evoprune.pruning.macs import count_params

    def fake(model: nn.Module, inputs: torch.Tensor, **settings) -> float:
        return 0.5 + count_params(model) / 1000

    monkeypatch.setattr(evaluator, "measure_latency_ms", fake)


def app_outputs(root: Path) -> list[Path]:
    """The ``results.json`` and ``pareto.json`` files under ``root`` that the app wrote: a run
    dir's results beside its ``checkpoint/config.json``, a front beside its ``pareto.png``
    (not the stand-ins tests write to feed the aggregation)."""
    results = [path for path in root.rglob("results.json")
               if (path.parent / "checkpoint" / "config.json").is_file()]
    fronts = [path for path in root.rglob("pareto.json")
              if (path.parent / "pareto.png").is_file()]
    return sorted(results + fronts)


def schema_violations(paths: list[Path]) -> list[str]:
    """The ways each ``results.json`` / ``pareto.json`` of ``paths`` breaks its schema
    (:mod:`evoprune.report.schema`), one line each: ``<path>: <field>: <why>``."""
    import json

    import jsonschema

    from evoprune.report.schema import SCHEMAS

    problems = []
    for path in paths:
        validator = jsonschema.Draft202012Validator(SCHEMAS[path.stem])
        problems += [f"{path}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
                     for error in validator.iter_errors(json.loads(path.read_text()))]
    return problems


@pytest.fixture(scope="session", autouse=True)
def written_outputs_follow_their_schemas(tmp_path_factory):
    """After the session: every results.json and pareto.json the app wrote in any test (under
    pytest's temporary directories) is valid against its schema."""
    yield
    problems = schema_violations(app_outputs(tmp_path_factory.getbasetemp()))
    if problems:
        pytest.fail("written outputs break their schema:\n" + "\n".join(problems[:20]),
                    pytrace=False)
