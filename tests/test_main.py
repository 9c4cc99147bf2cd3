"""``python -m evoprune``: a user's mistake is one line and exit status 2, Ctrl-C / SIGTERM one
line saying how to resume (exit status 130); neither prints a traceback."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import FAST, app_env

pytestmark = pytest.mark.slow  # the app as a command (subprocesses)


def app(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "evoprune", *overrides], cwd=tmp_path,
                            env=app_env(tmp_path / "cache"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("case, message", [
    ("weights", "error: weights=.* does not fit MLP"),
    ("budget", "error: budget=0.0001 cannot be met: .* use budget >= "),
    ("penalty", "error: train.l1_bn=0.001 penalises nothing here: no BatchNorm scale"),
    ("depth", "error: pruning.granularity=both: MLP has no residual block"),
    ("batched", "error: evaluator.mode=batched: RecurrentClassifier cannot score masks in "
                "batches: torch.func.vmap cannot run it"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, case, message):
    if case == "weights":
        torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "w.pt")
        extra = [f"weights={tmp_path / 'w.pt'}"]
    else:
        extra = {"budget": ["budget=0.0001"], "penalty": ["train.l1_bn=1e-3"],
                 "depth": ["pruning.granularity=both"],
                 "batched": ["model=gru", "model.hidden=16", "evaluator.mode=batched"]}[case]
    process = app(tmp_path, *FAST, *extra, f"hydra.run.dir={tmp_path / 'run'}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2
    assert "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert re.match(message, line)


@pytest.mark.slow
def test_sigterm_mid_search_stops_with_the_resume_command(tmp_path):
    run_dir = tmp_path / "run"
    process = app(tmp_path, *FAST, "search.population_size=16", "search.generations=400",
                  f"hydra.run.dir={run_dir}")
    state = run_dir / "checkpoint" / "search.pt"
    deadline = time.monotonic() + 300
    while not state.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "Traceback" not in out + err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stopped; the search resumes from its last checkpoint with: python -m")
    assert "search.generations=400" in last and "resume=true" in last
    assert f"hydra.run.dir={run_dir}" in last
    assert not (run_dir / "results.json").exists()


def test_refused_config_leaves_no_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    process = app(tmp_path, *FAST, "budget=1.5", f"hydra.run.dir={run_dir}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2 and "Traceback" not in out + err
    assert err.strip().startswith("error: budget must be a fraction of dense MACs in (0, 1]")
    assert not run_dir.exists()  # aggregate would list an empty dir as a missing run


def test_unwritable_run_dir_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "a_file").write_text("")
    run_dir = tmp_path / "a_file" / "run"
    process = app(tmp_path, *FAST, f"hydra.run.dir={run_dir}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2 and "Traceback" not in out + err
    assert err.strip() == f"error: hydra.run.dir={run_dir} is not writable: Not a directory"
    assert not (tmp_path / "cache").exists()  # nothing trained


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail as on a full disk
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return apply


def test_a_failed_write_mid_run_is_one_line_naming_the_file(tmp_path):
    """As on a full disk: the dense training's first epoch checkpoint (weights and optimiser
    state, over 12 kB here) cannot be written. Before, torch's writer failed with a C++ error
    (or aborted, exit 134) and a traceback."""
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "evoprune", *FAST, f"hydra.run.dir={run_dir}"],
                          cwd=tmp_path, env=app_env(tmp_path / "cache"), capture_output=True,
                          text=True, timeout=300,
                          preexec_fn=_file_size_limit(12_000))
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert re.fullmatch(re.escape(f"error: cannot write {tmp_path / 'cache'}/dense-")
                        + "[0-9a-f]+" + re.escape(".epoch.pt: File too large; a file size "
                                                  "limit (ulimit -f) is in force"), line), line
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]  # no half-written temps
    assert line in (run_dir / "__main__.log").read_text()


def test_the_log_holds_the_console_without_progress_bars(tmp_path):
    run_dir = tmp_path / "run"
    process = app(tmp_path, *[o for o in FAST if o != "progress=false"], "progress=true",
                  f"hydra.run.dir={run_dir}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    log = (run_dir / "__main__.log").read_text()
    for line in ("dense model trained", "dense: val_acc", "ga: ", "outputs: "):
        assert line in log and line in out
    assert "evoprune results (budget: 0.5 of dense MACs)" in log
    assert "━" not in log.split("evoprune results")[0]  # no progress bar before the table
    assert "\x1b[" not in log  # no colour codes
    assert max(len(line) for line in log.splitlines() if "│" in line) <= 120  # the table
    # redirected output keeps each line whole (rich would wrap it at the terminal width)
    [generation] = [line for line in out.splitlines() if line.startswith("gen   0")]
    assert "best feasible: val_acc" in generation and len(generation) > 80


USER_MODELS = '''
import torch
from torch import nn


class HandWritten(nn.Module):
    """A linear map written with its own nn.Parameter, reading the first layer's units."""

    def __init__(self, num_classes):
        super().__init__()
        self.embed = nn.Linear(40, 8)
        self.mix = nn.Parameter(torch.randn(6, 8))
        self.head = nn.Linear(6, num_classes)

    def forward(self, x):
        return self.head(torch.relu(torch.relu(self.embed(x.flatten(1))) @ self.mix.T))


class CellLoop(nn.Module):
    """A recurrent net stepped by hand with a cell, and a transposed convolution."""

    def __init__(self, num_classes):
        super().__init__()
        self.up = nn.ConvTranspose1d(1, 4, 3)
        self.cell = nn.GRUCell(4, 8)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        steps = self.up(x).transpose(1, 2)
        h = steps.new_zeros(steps.shape[0], 8)
        for t in range(steps.shape[1]):
            h = self.cell(steps[:, t], h)
        return self.head(h)
'''


@pytest.mark.parametrize("target, message", [
    ("HandWritten", "error: evoprune cannot count or prune these layers: \\(the model itself\\) "
                    "\\(HandWritten\\). It knows Conv1d, .*MultiheadAttention.*reach the "
                    "model's own parameters in pruning.ignored_layers"),
    ("CellLoop", "error: CellLoop has no prunable layer: .*; layers of a type evoprune does not "
                 "know are kept whole: up \\(ConvTranspose1d\\), cell \\(GRUCell\\)"),
])
def test_a_model_evoprune_cannot_prune_is_refused_before_training(tmp_path, target,
                                                                          message):
    (tmp_path / "user_models.py").write_text(USER_MODELS)
    process = app(tmp_path, "model=custom", f"model._target_=user_models.{target}",
                  "logger=none", "progress=false", f"hydra.run.dir={tmp_path / 'run'}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2 and "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert re.match(message, line), line
    assert "dense model" not in out and not (tmp_path / "cache").exists()  # nothing trained


def test_missing_cifar_files_are_one_line_and_nothing_is_written(tmp_path):
    process = app(tmp_path, "data=cifar10", f"data.root={tmp_path / 'nowhere'}",
                  "model=resnet20", "logger=none", f"hydra.run.dir={tmp_path / 'run'}")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 2 and "Traceback" not in out + err
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: data.root={tmp_path / 'nowhere'} holds no CIFAR-10 python "
                           "batches (missing data_batch_1, ")
    assert "cifar-10-python.tar.gz" in line and "data.download=true" in line
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()

