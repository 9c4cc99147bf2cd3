"""Reading a locally written W&B run back in tests, with wandb's own ``wandb leet inspect``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

# `--follow` stops at the run's exit record; this bounds the wait for a run that never ends.
IDLE_TIMEOUT = "30s"


class OfflineRun(NamedTuple):
    history: list[dict[str, Any]]  # one dict per logged row, with wandb's `_step` etc.
    summary: dict[str, Any]  # final summary, with wandb's `_step`, `_runtime`, `_timestamp`
    config: dict[str, Any]  # the run's config, without wandb's own `_wandb` key


def _inspect(run_path: Path, *flags: str) -> str:
    # Offline: the CLI then tells wandb-core not to report errors to the W&B server.
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_ERROR_REPORTING": "false"}
    command = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", *flags, str(run_path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def read_run(run_path: str | Path) -> OfflineRun:
    """Read the run in ``run_path`` (a run directory or its ``.wandb`` file).

    wandb-core completes the run file moments after ``finish()`` returns, so the records are
    read with ``--follow``, which waits for the run's exit record.
    """
    run_path = Path(run_path)
    lines = _inspect(run_path, "--follow", "--idle-timeout", IDLE_TIMEOUT).splitlines()
    records = [json.loads(line) for line in lines]
    if not records or records[-1]["type"] != "exit":
        raise AssertionError(f"{run_path}: no exit record within {IDLE_TIMEOUT} of the last write")
    history = [record["history"]["item"] for record in records if record["type"] == "history"]
    state = json.loads(_inspect(run_path, "--summary"))
    config = state["config"]
    config.pop("_wandb", None)
    return OfflineRun(history, state["summary"], config)
