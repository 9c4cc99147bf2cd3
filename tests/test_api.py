"""evoprune.prune: a run from Python on a trained model and Datasets, the same as the command
line's."""

import re
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import evoprune
from evoprune.infra.errors import UserError
from evoprune.load import PrunedModelNotFound, load_pruned
from evoprune.models import CNN1d
from evoprune.training import TrainConfig, train_classifier
from tests.helpers import REPO, compose_config

SMOKE = ["debug=smoke", "baselines=[uniform_magnitude]", "latency.repeats=1"]


def waves(seed: int = 0):
    """(train, val, test) Datasets of 1-D signals whose class shows in their halves' means."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(480, 1, 32, generator=generator)
    y = (x[:, 0, :16].mean(1) > 0).long() + 2 * (x[:, 0, 16:].mean(1) > 0).long()
    return (TensorDataset(x[:320], y[:320]), TensorDataset(x[320:400], y[320:400]),
            TensorDataset(x[400:], y[400:]))


def trained_model() -> nn.Module:
    torch.manual_seed(0)
    model = CNN1d((1, 32), 4, channels=(8, 16, 16), hidden=32)
    train_classifier(model, evoprune.data.DatasetSplit(waves()[0]), TrainConfig(epochs=2),
                     seed=0, progress=False)
    return model


def comparable(row: dict) -> dict:
    """A results row without what the clock decides."""
    return {k: v for k, v in row.items()
            if "latency" not in k and k not in ("search", "finetune_s")}


@pytest.fixture(scope="module")
def model():
    return trained_model()


def test_prune_returns_the_pruned_model_and_the_run_it_reported(model, tmp_path):
    train, val, test = waves()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruned, report = evoprune.prune(model, DataLoader(train, batch_size=32), val, test=test,
                                    budget=0.5, overrides=SMOKE, output_dir=tmp_path / "run",
                                    progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # unchanged
    assert report.method == "ga" and report.row["macs_ratio"] <= 0.5
    assert (tmp_path / "run" / "results.json").is_file()
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())
    # the returned model is the one measured: its test accuracy is the report's
    x, y = test.tensors
    assert (pruned(x).argmax(1) == y).float().mean().item() == pytest.approx(report.row["test_acc"])
    assert report.results["config"]["model"] == {"given": "CNN1d"}
    assert "ga: test_acc" in str(report)


def test_the_same_settings_give_the_same_answer_as_the_command_line(model, tmp_path):
    """The API run equals a command-line run on the same data (a data function returning the
    Datasets) and the same weights (weights=<file>), row for row; and itself when repeated."""
    from evoprune.run import run

    weights = tmp_path / "dense.pt"
    torch.save(model.state_dict(), weights)
    cli = run(compose_config([
        "data=custom", "data._target_=tests.test_api.waves", "model=custom",
        "model._target_=evoprune.models.CNN1d", "+model.channels=[8,16,16]", "+model.hidden=32",
        f"weights={weights}", "logger=none", "progress=false", *SMOKE]), tmp_path / "cli")
    api = [evoprune.prune(model, *waves()[:2], test=waves()[2], overrides=SMOKE,
                          output_dir=tmp_path / f"api{i}", progress=False)[1].results
           for i in range(2)]
    for name in ("dense", *cli["methods"]):
        rows = [comparable(r["dense"] if name == "dense" else r["methods"][name])
                for r in (cli, *api)]
        assert rows[0] == rows[1] == rows[2], name
    for i in range(2):
        assert (tmp_path / "cli" / "mask_ga.json").read_text() == \
            (tmp_path / f"api{i}" / "mask_ga.json").read_text()


def test_a_given_model_run_reloads_with_a_model_of_its_architecture(model, tmp_path):
    train, val, test = waves()
    pruned, report = evoprune.prune(model, train, val, overrides=SMOKE, search="none",
                                    output_dir=tmp_path, progress=False)
    assert report.method == "uniform_magnitude"
    with pytest.raises(PrunedModelNotFound, match="pass one of the same architecture"):
        load_pruned(tmp_path, "uniform_magnitude")
    again = load_pruned(tmp_path, "uniform_magnitude", model=model)
    x = test.tensors[0][:5]
    assert torch.equal(again(x), pruned(x))


@pytest.mark.parametrize("arguments, message", [
    ({"model": "not a model"}, "model must be a torch.nn.Module, got str"),
    ({"search": "serach"}, "prune: .*serach"),
    ({"overrides": ["fitness.cost=latency"]}, "fitness.cost is now evaluator.cost"),
    ({"budget": 1.5}, "budget"),
    ({"train": 7}, "expected a torch Dataset"),
    ({"train": [1, 2]}, r"train items must be \(input, label\) pairs"),
])
def test_mistakes_are_refused_in_one_line_before_any_work(model, tmp_path, arguments, message):
    train, val, _ = waves()
    given = {"model": model, "train": train, "val": val, **arguments}
    with pytest.raises(UserError, match=message):
        evoprune.prune(given.pop("model"), given.pop("train"), given.pop("val"),
                       output_dir=tmp_path / "run", progress=False, **given)
    assert not (tmp_path / "run" / "results.json").exists()


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    return re.search(r"<!-- python-example.*?-->\n```python\n(.*?)```", text, re.S).group(1)


def test_the_readme_example_is_at_most_ten_lines():
    assert len([line for line in readme_example().splitlines() if line.strip()]) <= 10
    assert "evoprune.prune(" in readme_example()


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path):
    script = readme_example() + "print(report)\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"ga: test_acc 0\.\d+ \(dense 0\.\d+\) at 0\.[0-3]\d* of dense MACs",
                     done.stdout)
    assert list(tmp_path.glob("evoprune_runs/*/results.json"))


def test_inspect_command_prints_the_runs_groups_before_training(capsys):
    from evoprune.__main__ import inspect_command

    inspect_command(["data=synthetic", "model=cnn1d", "pruning.min_keep=0.5"])
    out = capsys.readouterr().out
    assert "CNN1d: 4 prunable groups" in out and "features.0" in out


@pytest.mark.parametrize("overrides, message", [
    (["serach=nsga2"], "serach is not a config key (did you mean search?)"),
    (["pruning.min_keep=3"], "pruning.min_keep must be a number in (0, 1]"),
])
def test_inspect_command_refuses_a_bad_config_in_one_line(capsys, overrides, message):
    from evoprune.__main__ import USAGE_ERROR, inspect_command

    with pytest.raises(SystemExit) as exit_:
        inspect_command(overrides)
    assert exit_.value.code == USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1  # one line, no traceback


def test_prune_takes_the_task_from_its_overrides(tmp_path):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 1, 16, generator=generator)
    y = x[:, 0, :8].sum(1) - x[:, 0, 8:].mean(1)  # a float target
    torch.manual_seed(0)
    model = evoprune.models.MLP((1, 16), 1, hidden=(32, 16))
    data = [TensorDataset(x[i:i + 100], y[i:i + 100]) for i in (0, 100, 200)]
    train_classifier(model, evoprune.data.DatasetSplit(data[0]), TrainConfig(epochs=200, lr=0.01),
                     seed=0, progress=False, task=evoprune.tasks.regression())
    _, report = evoprune.prune(model, data[0], data[1], test=data[2], output_dir=tmp_path,
                               overrides=["task=regression", *SMOKE], progress=False)
    assert report.results["metric"] == "r2" and report.dense["test_acc"] > 0.5
