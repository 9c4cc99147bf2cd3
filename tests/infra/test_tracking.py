"""Tests for evoprune.infra.tracking (W&B runs offline only, read back with wandb's own CLI)."""

from __future__ import annotations

import json
import math
import socket
import threading
from pathlib import Path

import pytest

from evoprune.infra.tracking import (
    ALLOWED_MODES,
    NullTracker,
    Tracker,
    WandbTracker,
    flatten,
    make_tracker,
    resolve_mode,
)
from tests.wandb_runs import read_run

ROWS = [
    {"gen": 0, "best_fitness": 0.5},
    {"gen": 1, "best_fitness": 0.625},
    {"gen": 2, "best_fitness": 0.75},
]
CONFIG = {"search": {"population": 8, "generations": 3}, "seed": 7, "model": "resnet18"}


@pytest.fixture
def wandb_env(tmp_path, monkeypatch):
    """Keep every file wandb writes under tmp_path and refuse network from this process."""
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        path = tmp_path / var.lower()
        path.mkdir()
        monkeypatch.setenv(var, str(path))
    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    # A stray relative ./wandb folder would land in tmp_path too.
    monkeypatch.chdir(tmp_path)

    def no_network(*args, **kwargs):
        raise OSError(f"network access attempted in a test: {args!r}")

    real_connect = socket.socket.connect

    def local_connect(sock, address):
        # wandb talks to its own service process over a Unix socket; allow only that.
        if sock.family != socket.AF_UNIX:
            no_network(address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", local_connect)
    yield tmp_path
    import wandb

    # wandb caches its settings (dirs included) per process; start each test afresh.
    wandb.teardown()


def _user_keys(row):
    return {k: v for k, v in row.items() if not k.startswith("_")}


def test_offline_run_records_history_summary_and_config(wandb_env):
    tracker = WandbTracker(project="evoprune-test", run_dir=wandb_env / "run", config=CONFIG)
    assert tracker.mode == "offline"
    for step, row in enumerate(ROWS):
        tracker.log(row, step=step)
    tracker.summary({"final": {"top1": 0.71, "params": 1234}, "best_gen": 2})
    tracker.finish()

    run_path = tracker.run_path
    assert run_path.parent == wandb_env / "run" / "wandb"
    assert run_path.name.startswith("offline-run-")
    assert tracker.sync_command == f"wandb sync {run_path}"

    history, summary, config = read_run(run_path)
    assert [_user_keys(row) for row in history] == ROWS
    assert [row["_step"] for row in history] == [0, 1, 2]
    # Nested summary values are flattened to "a/b" keys; the last logged row is there too.
    assert _user_keys(summary) == {
        "final/top1": 0.71,
        "final/params": 1234,
        "best_gen": 2,
        **ROWS[-1],
    }
    assert config == CONFIG


def test_large_rows_and_special_values_are_recorded(wandb_env):
    # Rows larger than the 32 KiB block of the run file are stored in several chunks.
    big = "x" * 70_000
    with WandbTracker(project="p", run_dir=wandb_env / "run", config={}) as tracker:
        tracker.log({"text": big, "flag": True, "missing": None, "nan": float("nan")}, step=0)
        tracker.log({"nested": {"a": 1}}, step=1)
    history = read_run(tracker.run_path).history
    assert history[0]["text"] == big
    assert history[0]["flag"] is True and history[0]["missing"] is None
    # JSON has no NaN, so wandb's JSON output writes non-finite floats as strings ("NaN").
    assert math.isnan(float(history[0]["nan"]))
    assert _user_keys(history[1]) == {"nested/a": 1}


def test_offline_run_starts_no_telemetry_export(wandb_env):
    # wandb 0.31 starts OpenTelemetry exporter threads, which contact the W&B server at
    # exit, when only the run (not the process) is offline; WandbTracker prevents that.
    with WandbTracker(project="p", run_dir=wandb_env / "run", config={}, mode="offline") as t:
        t.log({"x": 1})
    names = [thread.name for thread in threading.enumerate()]
    assert not [name for name in names if name.startswith("Otel")], names


def test_several_trackers_coexist(wandb_env):
    first = WandbTracker(project="p", run_dir=wandb_env / "a", config={"i": 1})
    second = WandbTracker(project="p", run_dir=wandb_env / "b", config={"i": 2})
    first.log({"v": 1.0}, step=0)
    second.log({"v": 2.0}, step=0)
    second.finish()
    first.finish()
    assert first.run_path != second.run_path
    assert _user_keys(read_run(first.run_path).history[0]) == {"v": 1.0}
    assert _user_keys(read_run(second.run_path).history[0]) == {"v": 2.0}


def test_finish_is_idempotent_and_closes_the_tracker(wandb_env):
    tracker = WandbTracker(project="p", run_dir=wandb_env / "run", config={})
    tracker.finish()
    tracker.finish()
    tracker.__exit__(None, None, None)
    with pytest.raises(RuntimeError, match="already finished"):
        tracker.log({"x": 1})


def test_decreasing_step_is_rejected(wandb_env):
    with WandbTracker(project="p", run_dir=wandb_env / "run", config={}) as tracker:
        tracker.log({"x": 1}, step=5)
        with pytest.raises(ValueError, match="step 3 is lower than the last logged step 5"):
            tracker.log({"x": 2}, step=3)
        with pytest.raises(ValueError, match="step must be an integer >= 0"):
            tracker.log({"x": 2}, step=-1)


def test_files_and_table_are_stored_in_the_offline_run(wandb_env):
    results = wandb_env / "results"
    (results / "plots").mkdir(parents=True)
    (results / "results.json").write_text('{"top1": 0.7}')
    (results / "plots" / "front.png").write_bytes(b"\x89PNG")
    rows = [{"method": "ga", "acc": 0.7, "search": {"evaluations": 9}, "steps": [1, 2]},
            {"method": "lamp", "acc": 0.6, "extra": None}]
    with WandbTracker(project="p", run_dir=wandb_env / "run", config={}) as tracker:
        tracker.files([results / "results.json", results / "plots" / "front.png"], base=results)
        tracker.table("methods", rows)
    files = tracker.run_path / "files"
    # copies, named as under base: the offline run keeps them wherever it is moved
    assert (files / "results.json").read_text() == '{"top1": 0.7}'
    assert (files / "plots" / "front.png").read_bytes() == b"\x89PNG"
    assert not (files / "results.json").is_symlink()
    [logged] = [row for row in read_run(tracker.run_path).history if "methods._type" in row]
    assert logged["methods._type"] == "table-file"
    table = json.loads((files / logged["methods.path"]).read_text())
    assert table["columns"] == ["method", "acc", "search/evaluations", "steps", "extra"]
    assert table["data"] == [["ga", 0.7, 9, "[1, 2]", None], ["lamp", 0.6, None, None, None]]


def test_disabled_mode_writes_nothing(wandb_env):
    (wandb_env / "a.json").write_text("{}")
    with WandbTracker(project="p", run_dir=wandb_env / "run", config={}, mode="disabled") as t:
        t.log({"x": 1})
        t.summary({"y": 2})
        t.files([wandb_env / "a.json"], base=wandb_env)
        t.table("methods", [{"method": "ga"}])
    assert t.run_path is None and t.sync_command is None
    assert not (wandb_env / "run" / "wandb").exists()


def test_mode_defaults_to_offline():
    assert resolve_mode(None, environ={}) == "offline"
    assert resolve_mode(None, environ={"WANDB_MODE": ""}) == "offline"


def test_mode_env_var_is_respected():
    assert resolve_mode(None, environ={"WANDB_MODE": "disabled"}) == "disabled"
    assert resolve_mode(None, environ={"WANDB_MODE": " Online "}) == "online"


def test_explicit_mode_wins_over_env(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    assert resolve_mode() == "online"
    assert resolve_mode("offline") == "offline"
    assert resolve_mode("disabled", environ={"WANDB_MODE": "online"}) == "disabled"


@pytest.mark.parametrize("mode", ["dryrun", "shared", "ONLINE!", ""])
def test_invalid_explicit_mode_is_rejected(mode):
    with pytest.raises(ValueError, match=r"invalid W&B mode .*allowed: 'offline', 'online'"):
        resolve_mode(mode, environ={})


def test_invalid_env_mode_names_the_variable():
    with pytest.raises(ValueError, match="environment variable WANDB_MODE 'dryrun'"):
        resolve_mode(None, environ={"WANDB_MODE": "dryrun"})


def test_invalid_mode_fails_before_wandb_starts(tmp_path):
    with pytest.raises(ValueError, match="'sometimes'"):
        WandbTracker(project="p", run_dir=tmp_path / "run", config={}, mode="sometimes")
    assert not (tmp_path / "run").exists()


def test_bad_constructor_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="project"):
        WandbTracker(project="", run_dir=tmp_path, config={})
    with pytest.raises(TypeError, match="config must be a mapping"):
        WandbTracker(project="p", run_dir=tmp_path, config=[("a", 1)])
    with pytest.raises(TypeError, match="tags must be a sequence of strings"):
        WandbTracker(project="p", run_dir=tmp_path, config={}, tags="baseline")


def test_make_tracker_none_accepts_calls():
    tracker = make_tracker("none", project="ignored", run_dir="ignored", config={})
    assert isinstance(tracker, NullTracker)
    assert isinstance(tracker, Tracker)
    with tracker as t:
        t.log({"gen": 0, "best_fitness": 0.5}, step=0)
        t.summary({"final": {"top1": 0.7}})
        t.files([Path("ignored.json")], base=Path("."))
        t.table("methods", [{"method": "ga"}])
    tracker.finish()
    assert tracker.run_path is None


def test_make_tracker_unknown_kind_names_kind_and_allowed():
    with pytest.raises(
        ValueError, match=r"unknown tracker kind 'mlflow'; allowed: 'wandb', 'none'"
    ):
        make_tracker("mlflow")


def test_make_tracker_wandb(wandb_env):
    tracker = make_tracker("wandb", project="p", run_dir=wandb_env / "run", config={})
    with tracker:
        assert isinstance(tracker, WandbTracker)


def test_flatten_nested_mappings():
    assert flatten({"a": {"b": {"c": 1}, "d": 2}, "e": 3}) == {"a/b/c": 1, "a/d": 2, "e": 3}
    with pytest.raises(TypeError, match="metric keys must be strings"):
        flatten({1: 2})


def test_allowed_modes_listed():
    assert ALLOWED_MODES == ("offline", "online", "disabled")
