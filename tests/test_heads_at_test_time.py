"""experiments/heads_at_test_time.py: heads removed at test time, weakest first."""

import subprocess
import sys

import pytest

from tests.helpers import REPO, app_env

SCRIPT = REPO / "experiments" / "heads_at_test_time.py"


@pytest.mark.slow
def test_heads_go_one_at_a_time_until_each_layer_keeps_one(tmp_path):
    process = subprocess.run(
        [sys.executable, str(SCRIPT), "--seeds", "0", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=900, env=app_env(tmp_path / "cache"))
    assert process.returncode == 0, process.stderr
    rows = [line for line in process.stdout.splitlines() if line.startswith("| ") and
            line.split("|")[1].strip().isdigit()]
    # 3 layers of 4 heads: one by one until the next would empty a layer (at most 9 go)
    removed = [int(row.split("|")[1]) for row in rows]
    assert removed == list(range(len(removed))) and 2 <= len(removed) <= 10
    assert rows[0].rstrip(" |").endswith("0.00")  # nothing removed: no drop
