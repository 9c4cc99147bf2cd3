"""experiments/fitness_tau.py: its curve extrapolation, and a tiny run's outputs."""

import importlib.util
import json
import math
import subprocess
import sys

import pytest

from tests.helpers import REPO, app_env

SCRIPT = REPO / "experiments" / "fitness_tau.py"


def tau_names():
    return load_script().PREDICTORS


def load_script():
    spec = importlib.util.spec_from_file_location("fitness_tau", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_curve_reads_an_exact_log_curve_at_the_last_epoch():
    tau = load_script()
    curve = [0.5 + 0.1 * math.log(t) for t in (1, 2, 3)]
    assert tau.extrapolate(curve, 40) == pytest.approx(0.5 + 0.1 * math.log(40))
    # a flat curve predicts itself: no growth is invented
    assert tau.extrapolate([0.8, 0.8, 0.8], 20) == pytest.approx(0.8)


def test_promoted_predictors_race_the_masks_as_one_step():
    tau = load_script()
    figures = {"score": [0.1, 0.4, 0.3, 0.2], "proxy": [0.5, 0.9, 0.7, 0.6],
               "proxy_s": [1.0, 2.0, 3.0, 4.0], "macs_ratio": [0.5] * 4}
    tau.add_promoted(figures)
    # a quarter of 4: the best plain score (mask 1) gets its proxy score, the rest are
    # predicted (the offset +0.5 of the one pair) and capped by that winner's 0.9
    assert figures["promote25"] == pytest.approx([0.6, 0.9, 0.8, 0.7])
    assert figures["promote25_s"] == [0.0, 2.0, 0.0, 0.0]
    assert figures["promote10"] == figures["promote25"]  # ceil(0.1 * 4) = 1 as well


@pytest.mark.slow  # trains a dense model, runs a GA and fine-tunes every mask (a subprocess)
def test_a_tiny_run_writes_every_predictor_against_every_oracle(tmp_path):
    process = subprocess.run(
        [sys.executable, str(SCRIPT), "--seeds", "0", "--budgets", "0.5", "--masks", "3",
         "--oracle-epochs", "2", "3", "--curve-epochs", "2", "--more-epochs", "2",
         "--grad-batches", "1", "--out", str(tmp_path / "tau"),
         "--override", "data=synthetic", "model=mlp", "train.epochs=1"],
        cwd=tmp_path, env=app_env(tmp_path / "cache"), capture_output=True, text=True,
        timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    (row,) = json.loads((tmp_path / "tau" / "tau.json").read_text())["rows"]
    assert row["masks"] == 3 and row["budget"] == 0.5
    figures = row["figures"]
    assert all(ratio <= 0.5 for ratio in figures["macs_ratio"])
    for epochs in (2, 3):
        oracle = figures[f"oracle{epochs}"]
        assert len(oracle) == 3 and all(0 <= value <= 1 for value in oracle)
        assert row[f"best_{epochs}"] == max(oracle)
        for name in tau_names():
            assert -1 <= row[f"tau_{name}_{epochs}"] <= 1 or math.isnan(row[f"tau_{name}_{epochs}"])
            assert row[f"pick_{name}_{epochs}"] in oracle
    assert all(row[f"{name}_s"] > 0 for name in ("proxy", "proxy3", "proxy_lr", "curve",
                                                 "gradnorm", "oracle2", "oracle3"))
    text = (tmp_path / "tau" / "tau.md").read_text()
    assert "Kendall's τ" in text and "| 0.5 | 3 |" in text
