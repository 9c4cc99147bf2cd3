"""experiments/deployment_study.py and experiments/bench_latency.py on tiny real runs: the
tables pair the runs by seed and carry the figures the runs wrote."""

import json
import subprocess
import sys

import numpy as np
import pytest

from evoprune.evaluate import latency_table
from evoprune.pruning.macs import count_params
from evoprune.run import run
from tests.helpers import FAST, REPO, app_env, compose_config

pytestmark = pytest.mark.slow  # several runs, then the scripts in subprocesses


def steady_timings(model, inputs, **settings):
    """The table's timings, steady: 0.5 ms plus 1 ms per 1,000 parameters (real ones on a
    busy machine can make the latency budget infeasible)."""
    return 0.5 + count_params(model) / 1000


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(latency_table, "measure_latency_ms", steady_timings)
        _runs(root, results)
    return root, results


def _runs(root, results):
    for seed in (0, 1):
        for round_to in (1, 8):
            results[("rounding", seed, round_to)] = run(compose_config(FAST + [
                f"seed={seed}", f"pruning.round_to={round_to}", "export.onnx=true",
                "baselines=[uniform_magnitude]", "model.hidden=[40,20]"]),
                root / f"rounding_{seed}_{round_to}")
        for budget in (0.3, 0.6):
            results[("macs", seed, budget)] = run(compose_config(FAST + [
                f"seed={seed}", f"budget={budget}", "baselines=[]", "model.hidden=[40,20]"]),
                root / f"macs_{seed}_{budget}")
        results[("table", seed)] = run(compose_config(FAST + [
            f"seed={seed}", "budget=0.7", "baselines=[]", "model.hidden=[40,20]",
            "evaluator.cost=latency", "latency.estimate=table", "latency.repeats=3"]),
            root / f"table_{seed}")


def test_study_tables_pair_by_seed(study, tmp_path):
    root, results = study
    timings, figure = tmp_path / "timings.json", tmp_path / "latency.png"
    command = [sys.executable, str(REPO / "experiments" / "deployment_study.py"), str(root),
               "--rounds", "1", "--repeats", "2", "--timings", str(timings)]
    process = subprocess.run(command + ["--plot", str(figure)], env=app_env(tmp_path / "cache"),
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    assert figure.stat().st_size > 0 and timings.exists()
    again = subprocess.run(command, env=app_env(tmp_path / "cache"), capture_output=True,
                           text=True, timeout=600)  # read back: the same tables, untimed
    assert again.returncode == 0 and again.stdout == process.stdout
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")
            for line in process.stdout.splitlines() if line.startswith("| ")}
    for method in ("ga", "uniform_magnitude"):
        difference = np.mean([results[("rounding", s, 8)]["methods"][method]["test_acc"]
                              - results[("rounding", s, 1)]["methods"][method]["test_acc"]
                              for s in (0, 1)])
        cells = rows[method]
        assert cells[1] == "0.5" and cells[4].startswith(f"{100 * difference:+.2f} ")
        # torch and ONNX Runtime both timed, with paired differences in milliseconds
        assert "→" in cells[7] and "→" in cells[9] and "[" in cells[8] and "[" in cells[10]
    table = rows["ga table at 0.7"]
    assert table[7].endswith("of 2")  # both seeds paired with the MACs search


def test_an_empty_dir_is_refused(tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "deployment_study.py"), str(tmp_path)],
        env=app_env(tmp_path / "cache"), capture_output=True, text=True, timeout=120)
    assert process.returncode == 1 and "no results.json under" in process.stderr


def test_bench_latency_prints_its_figures(tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "bench_latency.py"), "--models", "cnn",
         "--masks", "6", "--rounds", "2", "--repeats", "2", "--budgets", "0.5"],
        env=app_env(tmp_path / "cache"), capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout)
    assert [(row["model"], row["round_to"]) for row in result["table"]] == [("cnn", 1),
                                                                            ("cnn", 8)]
    for row in result["table"]:
        assert -1 <= row["rho_table"] <= 1 and row["table_cells"] > 0 and row["masks"] == 6
    assert {row["round_to"] for row in result["rounding"]} == {1, 8}
    assert all(row["torch_ms"] > 0 and row["onnxruntime_ms"] > 0
               for row in result["rounding"])
