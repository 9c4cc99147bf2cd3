"""Real multiruns of the app through Hydra (subprocesses), and the aggregation callback."""

from __future__ import annotations

import csv
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf

from evoprune.__main__ import CONFIG_DIR
from evoprune.baselines import registry
from evoprune.config.callbacks import AggregateOnMultirunEnd
from tests.helpers import FAST, app_env, compose_config
from tests.report.test_aggregate import write_fake_multirun

pytestmark = pytest.mark.slow  # multiruns through Hydra's sweepers and launchers (subprocesses)


def run_app(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    """``python -m evoprune OVERRIDES`` in a fresh process, with the dense cache in tmp."""
    process = subprocess.run([sys.executable, "-m", "evoprune", *overrides], cwd=tmp_path,
                             env=app_env(tmp_path / "cache"), capture_output=True, text=True,
                             timeout=600)
    assert process.returncode == 0, process.stdout[-4000:] + process.stderr[-4000:]
    return process


def compare_rows(sweep: Path) -> list[dict]:
    with open(sweep / "compare.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_compare_experiment_is_a_sweep_of_listed_baselines_with_the_callback():
    cfg = compose_config(["experiment=compare", "debug=smoke"])
    assert cfg.baselines == "all"
    assert cfg.logger.kind == "none" and cfg.search.generations == 2
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        hydra_cfg = compose(config_name="config", overrides=["experiment=compare"],
                            return_hydra_config=True).hydra
    assert hydra_cfg.mode == RunMode.MULTIRUN
    assert hydra_cfg.sweeper.params == {"search": "ga,random", "budget": "0.5,0.25,0.1,0.05",
                                        "seed": "0,1,2,3,4"}
    assert hydra_cfg.callbacks.aggregate._target_ == (
        "evoprune.config.callbacks.AggregateOnMultirunEnd")


def test_compare_multirun_aggregates_at_the_end(tmp_path):
    # experiment=compare sets hydra.mode=MULTIRUN: no -m; seed=0 replaces the swept seeds
    sweep = tmp_path / "sweep"
    process = run_app(tmp_path, "experiment=compare", *FAST, "budget=0.5,0.25", "seed=0",
                      f"hydra.sweep.dir={sweep}")
    assert "Launching 4 jobs" in process.stdout + process.stderr  # ga and random, 2 budgets
    assert all((sweep / str(job) / "results.json").is_file() for job in range(4))
    assert len(list((tmp_path / "cache").glob("dense-*.pt"))) == 1  # jobs reuse job 0's model
    rows = compare_rows(sweep)
    expected = ["ga", "random_search", *(  # pruning.granularity=channel: no block baseline,
        name for name in registry.resolve("all", "structured")  # a CNN: no attention heads
        if registry.BASELINES[name].prunes != "blocks" and name != "head_importance")]
    assert [r["method"] for r in rows] == ["dense"] + [m for m in expected for _ in range(2)]
    assert {r["budget"] for r in rows[1:]} == {"0.5", "0.25"}
    assert all(r["n_seeds"] == "1" for r in rows)
    assert all(float(r["macs_ratio_mean"]) <= float(r["budget"]) for r in rows[1:])
    assert (sweep / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert "None: every job wrote its results." in (sweep / "compare.md").read_text()
    assert f"{sweep / 'compare.csv'}" in process.stdout.replace("\n", "")


def test_optuna_sweeper_tunes_ga_hyperparameters(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "sweep"
    run_app(tmp_path, "hparams_search=optuna", *FAST, "hydra.sweeper.n_trials=2",
            f"hydra.sweep.dir={sweep}")
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"search.population_size", "search.mutation_prob",
                                        "search.crossover_prob", "search.tournament_size",
                                        "search.encoding"}
    assert 0.0 <= best["best_value"] <= 1.0
    trials = [yaml.safe_load((sweep / str(n) / ".hydra" / "config.yaml").read_text())["search"]
              for n in (0, 1)]
    for search in trials:  # the sampled values reached the app, over debug=smoke's sizes
        assert search["population_size"] in (16, 32, 64)
        assert 2 <= search["tournament_size"] <= 5 and 0.1 <= search["mutation_prob"] <= 0.9


def test_submitit_local_launcher(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    # one job: each submitit job is a fresh process that imports torch again
    run_app(tmp_path, "experiment=compare", *FAST, "baselines=[uniform_magnitude]", "search=ga",
            "hydra/launcher=submitit_local", "budget=0.5", "seed=0", f"hydra.sweep.dir={sweep}")
    assert (sweep / ".submitit").is_dir()  # submitit's own records are not taken for jobs
    assert [(r["method"], r["budget"]) for r in compare_rows(sweep)] == [
        ("dense", ""), ("ga", "0.5"), ("uniform_magnitude", "0.5")]


def test_callback_aggregates_the_sweep_dir(tmp_path, capsys):
    sweep = write_fake_multirun(tmp_path / "sweep")
    AggregateOnMultirunEnd().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {
        "dir": str(sweep)}}}))
    assert (sweep / "compare.csv").is_file() and (sweep / "compare.png").is_file()
    assert "compare.md" in capsys.readouterr().out


def test_callback_aggregates_after_each_job_even_a_failed_one(tmp_path, caplog):
    sweep = write_fake_multirun(tmp_path / "sweep")  # includes a crashed and a corrupt job
    config = OmegaConf.create({"hydra": {"job": {"num": 3}, "sweep": {"dir": str(sweep)}}})
    failed = JobReturn(status=JobStatus.FAILED, _return_value=RuntimeError("boom"))
    with caplog.at_level(logging.WARNING, logger="evoprune.config.callbacks"):
        AggregateOnMultirunEnd().on_job_end(config, failed)
    [record] = caplog.records
    assert "job 3 failed" in record.message and "Missing runs" in record.message
    report = (sweep / "compare.md").read_text()
    assert "Missing runs" in report and (sweep / "compare.csv").is_file()
    # before any job has written results there is nothing to aggregate, and no error
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    empty = OmegaConf.create({"hydra": {"job": {"num": 0}, "sweep": {"dir": str(fresh)}}})
    AggregateOnMultirunEnd().on_job_end(empty, JobReturn(status=JobStatus.COMPLETED))
    assert not (fresh / "compare.csv").exists()
