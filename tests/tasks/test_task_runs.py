"""Whole runs under each task: the score every stage reads is the task's."""

import json

import pytest

from evoprune.report.results import RESULTS_FILE
from evoprune.run import run
from tests.helpers import compose_config

REGRESSION = ["data=diabetes", "task=regression", "model=mlp", "model.hidden=[32,16]",
              "debug=smoke", "train.epochs=20", "logger=none", "progress=false"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOPRUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_a_regression_run_reports_r2_throughout(tmp_path, cache):
    results = run(compose_config(REGRESSION), tmp_path / "run")
    assert (results["task"], results["metric"]) == ("regression", "r2")
    assert results["searched"] == "ga"
    rows = [results["dense"], *results["methods"].values()]
    assert all(-1 < row["test_acc"] <= 1 for row in rows)
    assert results["dense"]["test_acc"] > 0.2  # the MLP learns the targets
    saved = json.loads((tmp_path / "run" / RESULTS_FILE).read_text())
    assert saved["metric"] == "r2" and saved["config"]["task"]["_target_"].endswith("regression")


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["search=random", "baselines=all"],
                                   ["search=nsga2", "task.metric=rmse"]])
def test_regression_runs_with_every_search_and_baseline(tmp_path, cache, extra):
    results = run(compose_config(REGRESSION + extra), tmp_path / "run")
    assert results["searched"] in ("random_search", "nsga2")
    if "baselines=all" in extra:
        assert {"lamp", "taylor", "slimming", "gradual_magnitude"} <= set(results["methods"])
    else:
        assert results["metric"] == "neg_rmse"
        assert all(row["test_acc"] < 0 for row in results["methods"].values())
        front = json.loads((tmp_path / "run" / "pareto.json").read_text())
        assert "neg_rmse" in front["score"]


def test_a_multilabel_run_reports_map(tmp_path, cache):
    results = run(compose_config(["data=multilabel", "task=multilabel", "model=mlp",
                                  "model.hidden=[32,16]", "debug=smoke", "logger=none",
                                  "progress=false", "data.num_samples=400"]), tmp_path / "run")
    assert (results["task"], results["metric"]) == ("multilabel", "map")
    assert 0 < results["methods"]["ga"]["test_acc"] <= 1


def mean_absolute_error(outputs, labels):
    return float((outputs.reshape(labels.shape) - labels).abs().mean())


def test_a_custom_task_trains_with_its_loss_and_reports_its_metric_negated(tmp_path, cache):
    results = run(compose_config(REGRESSION + [
        "task=custom", "task.loss._target_=torch.nn.L1Loss",
        "task.metric._target_=tests.tasks.test_task_runs.mean_absolute_error",
        "task.higher_is_better=false", "task.name=mae", "search=random"]), tmp_path / "run")
    assert (results["task"], results["metric"]) == ("custom", "neg_mae")
    assert all(row["test_acc"] < 0 for row in results["methods"].values())


@pytest.mark.parametrize("override, message", [
    (["task=classification"], r"must be class indices .* a float target needs task=regression"),
    (["distill.enabled=true"], "distill.enabled=true distils the dense model's class"),
    (["search=rl", "search.reward=mnasnet"], "the mnasnet fitness"),
    (["task.metric=mae"], r"task.metric must be one of \['r2', 'rmse'\]"),
    (["task=custom"], "task.loss._target_, task.metric._target_ must be given"),
])
def test_task_mistakes_stop_before_writing(tmp_path, cache, override, message):
    with pytest.raises(ValueError, match=message):
        run(compose_config(REGRESSION + override), tmp_path / "run")
    assert not (tmp_path / "run" / RESULTS_FILE).exists()
