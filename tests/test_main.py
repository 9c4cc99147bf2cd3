"""``python -m evoprune``: a user's mistake is one line and exit status 2, Ctrl-C / SIGTERM one
line saying how to resume (exit status 130); neither prints a traceback."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import FAST

REPO = Path(__file__).resolve().parent.parent


def app(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    env = {**os.environ, "EVOPRUNE_CACHE": str(tmp_path / "cache"), "WANDB_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen([sys.executable, "-m", "evoprune", *overrides], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("case, message", [
    ("weights", "error: weights=.* does not fit MLP"),
    ("budget", "error: budget=0.0001 cannot be met: .* use budget >= "),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, case, message):
    if case == "weights":
        torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "w.pt")
        extra = [f"weights={tmp_path / 'w.pt'}"]
    else:
        extra = ["budget=0.0001"]
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
