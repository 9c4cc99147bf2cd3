"""``kill -9`` a run, resume it with ``resume=true``: the results equal an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from evoprune.config.checks import ConfigError
from evoprune.infra.checkpoint import CheckpointError, NonFiniteWeights
from evoprune.report.results import RESULTS_FILE
from evoprune.run import run
from tests.helpers import FAST, app_env, compose_config, data_and_model

pytestmark = pytest.mark.slow  # killed and resumed runs of the app (subprocesses)

# long enough that a checkpoint is seen well before the search ends
OVERRIDES = [*FAST, "search.population_size=16", "search.generations=40"]
RANDOM = [*FAST, "search=random", "search.samples=640", "search.batch_size=16"]
# figures that are timings, and the one key that differs by design
NOT_COMPARED = {"wall_time_s", "latency_ms", "finetune_s", "resume"}


def app(run_dir: Path, cache: Path, *extra: str, overrides=OVERRIDES) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evoprune", *overrides, f"hydra.run.dir={run_dir}", *extra],
        cwd=run_dir.parent, env=app_env(cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-4000:]
    return output


def without_timings(tree):
    if isinstance(tree, dict):
        return {k: without_timings(v) for k, v in tree.items() if k not in NOT_COMPARED}
    if isinstance(tree, list):
        return [without_timings(v) for v in tree]
    return tree


def outputs(run_dir: Path) -> dict:
    """results.json without timings, every mask file, and the search's history (a resumed
    search replays the rows before the checkpoint, so it holds the whole search)."""
    files = {path.name: json.loads(path.read_text()) for path in run_dir.glob("mask_*.json")}
    return {"results": without_timings(json.loads((run_dir / "results.json").read_text())),
            "history": (run_dir / "search_history.csv").read_text(), **files}


def saved_generation(path: Path, key: str = "generation") -> int | None:
    """The last step the checkpoint holds (the strategy's ``key``), None before the first."""
    try:
        return torch.load(path, weights_only=True)["state"]["strategy"][key]
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return None


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    cache = root / "cache"
    finish(app(root / "run", cache))
    return outputs(root / "run"), cache


def kill_when(process: subprocess.Popen, ready, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run never reached the point to kill it at"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_killed_mid_search_resumes_to_the_same_results(tmp_path, reference):
    expected, cache = reference
    run_dir = tmp_path / "run"
    state = run_dir / "checkpoint" / "search.pt"
    process = app(run_dir, cache)
    kill_when(process, lambda: (saved_generation(state) or 0) >= 3)
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "results.json").exists()
    assert 3 <= saved_generation(state) < 40  # killed mid-search

    output = finish(app(run_dir, cache, "resume=true"))
    assert "GA resumed after gen " in output
    assert outputs(run_dir) == expected


@pytest.mark.slow
def test_killed_random_search_resumes_to_the_same_results(tmp_path):
    cache = tmp_path / "cache"
    finish(app(tmp_path / "reference", cache, overrides=RANDOM))
    run_dir = tmp_path / "run"
    state = run_dir / "checkpoint" / "search.pt"
    process = app(run_dir, cache, overrides=RANDOM)
    kill_when(process, lambda: (saved_generation(state, "step") or 0) >= 3)
    assert 3 <= saved_generation(state, "step") < 39  # killed mid-search

    output = finish(app(run_dir, cache, "resume=true", overrides=RANDOM))
    assert "random search resumed after step " in output
    assert outputs(run_dir) == outputs(tmp_path / "reference")


@pytest.mark.slow
def test_killed_before_the_first_checkpoint_resumes_from_the_start(tmp_path, reference):
    expected, cache = reference
    run_dir = tmp_path / "run"
    process = app(run_dir, cache)
    kill_when(process, (run_dir / "checkpoint" / "config.json").exists)
    assert not (run_dir / "checkpoint" / "search.pt").exists()

    output = finish(app(run_dir, cache, "resume=true"))
    assert "resumed" not in output
    assert outputs(run_dir) == expected


# bad input around resuming and loading files (README "Bad input"), in-process


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOPRUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_resume_in_a_directory_that_never_ran_is_refused(tmp_path, cache):
    with pytest.raises(CheckpointError, match="resume=true but .* holds no checkpoint"):
        run(compose_config([*FAST, "resume=true"]), tmp_path / "fresh")
    assert not (tmp_path / "fresh" / RESULTS_FILE).exists()


def test_resume_with_a_different_config_is_refused_showing_it(tmp_path, cache):
    run_dir = tmp_path / "run"
    run(compose_config(FAST), run_dir)
    with pytest.raises(CheckpointError, match=r"config differs.*\n  budget: 0.5 -> 0.3"):
        run(compose_config([*FAST, "resume=true", "budget=0.3"]), run_dir)
    # logger, progress and resume itself may change
    run(compose_config([*FAST, "resume=true", "progress=true"]), run_dir)


def test_resume_from_a_corrupt_checkpoint_is_refused(tmp_path, cache):
    run_dir = tmp_path / "run"
    run(compose_config(FAST), run_dir)
    state = run_dir / "checkpoint" / "search.pt"
    state.write_bytes(state.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="cannot load checkpoint .*search.pt"):
        run(compose_config([*FAST, "resume=true"]), run_dir)


def test_user_weights_are_pruned_instead_of_training(tmp_path, cache):
    cfg = compose_config(FAST)
    data, model = data_and_model(cfg)
    with torch.no_grad():  # a model that answers class 0 whatever the input
        for parameter in model.parameters():
            parameter.zero_()
        model.classifier.bias[0] = 1.0
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    results = run(compose_config([*FAST, f"weights={tmp_path / 'weights.pt'}"]), tmp_path / "r")
    assert results["dense"]["test_acc"] == pytest.approx(float((data.test.y == 0).float().mean()))
    assert results["methods"] and not cache.exists()  # nothing trained, nothing cached


def test_weights_with_a_nan_are_refused_naming_the_parameter(tmp_path, cache):
    _, model = data_and_model(compose_config(FAST))
    state = model.state_dict()
    name = next(key for key in state if key.endswith("weight"))
    state[name][0, 0] = float("nan")
    torch.save(state, tmp_path / "weights.pt")
    with pytest.raises(NonFiniteWeights, match=f"weights=.*: {name} holds 1 NaN/inf value"):
        run(compose_config([*FAST, f"weights={tmp_path / 'weights.pt'}"]), tmp_path / "r")
    assert not (tmp_path / "r" / "results.json").exists()


@pytest.mark.parametrize("saved, message", [
    ("model", "holds more than tensors and plain values"),
    ("other", "does not fit MLP"),
    ("missing", "no such file"),
])
def test_unsafe_or_unfit_weights_are_refused(tmp_path, cache, saved, message):
    path = tmp_path / "weights.pt"
    if saved == "model":  # a whole pickled module: never unpickled
        torch.save(torch.nn.Linear(2, 2), path)
    elif saved == "other":
        torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises((CheckpointError, ConfigError), match=message):
        run(compose_config([*FAST, f"weights={path}"]), tmp_path / "r")
