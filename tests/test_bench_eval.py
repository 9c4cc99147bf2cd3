"""experiments/bench_eval.py runs at a tiny size and prints one valid JSON object."""

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO, app_env

pytestmark = pytest.mark.slow  # the benchmark scripts (subprocesses)

FIGURES = ("limit_ms", "dense_ms", "evoprune_ms_per_candidate", "naive_ms_per_candidate",
           "ratio_to_limit", "speedup_vs_naive", "limit_bn_ms", "evoprune_bn_ms_per_candidate")


def test_benchmark_prints_its_figures(tmp_path):
    env = app_env(tmp_path / "cache")
    process = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "bench_eval.py"), "--data", "synthetic",
         "--model", "mlp", "--population", "4", "--samples", "64", "--repeats", "1",
         "--generations", "1", "--override", "model.hidden=[32,16]",
         "--override", "train.epochs=1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout)
    assert result["population"] == 4 and result["samples"] == 64 and result["threads"] >= 1
    assert all(result[name] > 0 for name in FIGURES)
    assert 0 < result["mean_macs_ratio"] <= 0.5
    search = result["search"]
    # 4 masks, then 2 offspring beside the 2 elites (whose scores are kept)
    assert search["evaluations"] <= search["requests"] == 6
    assert 0 <= search["cache_hit_rate"] < 1


def test_benchmark_refuses_bad_sizes(tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "bench_eval.py"), "--population", "0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert process.returncode == 2 and "--population must be >= 1, got 0" in process.stderr


def test_cifar_benchmark_prints_throughputs(tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "bench_cifar.py"), "--device", "cpu",
         "--blocks", "1", "--train-steps", "1", "--population", "2", "--samples", "16",
         "--batch-size", "8", "--modes", "auto,batched", "--batch-candidates", "2",
         "--proxy-steps", "2", "--promote", "0.5"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout)
    assert result["device"] == "cpu" and result["model"] == "ResNet-8"
    rates = result["scored_candidates_per_s"]
    assert result["train_images_per_s"] > 0 and set(rates) == {"auto", "batched"}
    for mode, rate in rates.items():
        assert rate > 0 and result["ga_20x32_minutes"][mode] == pytest.approx(640 / rate / 60)
    assert result["modes_agree"] is True
    proxy_s = result["proxy_s_per_candidate"]
    assert result["proxy_steps"] == 2 and proxy_s > 0
    assert result["ga_20x32_minutes_promoted"] == pytest.approx(
        (640 / max(rates.values()) + 640 * 0.5 * proxy_s) / 60)


def test_depth_benchmark_prints_latency_of_blocks_against_channels(tmp_path):
    process = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "bench_depth.py"), "--device", "cpu",
         "--blocks", "2", "--budgets", "0.7", "--batch-size", "4", "--repeats", "2",
         "--rounds", "1"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout)
    assert result["model"] == "ResNet-14" and result["removable_blocks"] == 4
    rows = {row["method"]: row for row in result["rows"]}
    assert rows["block_magnitude"]["blocks_removed"] >= 1
    assert rows["uniform_magnitude"]["blocks_removed"] == 0
    for row in rows.values():
        assert row["macs_ratio"] <= 0.7 and row["latency_ms"] > 0
