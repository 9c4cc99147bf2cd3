"""experiments/search_cost_plot.py: a PNG from an aggregate's compare.csv, clear refusals."""

import subprocess
import sys

from evoprune.report.aggregate.tables import CSV_COLUMNS
from tests.helpers import REPO

SCRIPT = REPO / "experiments" / "search_cost_plot.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_csv(path, rows):
    lines = [",".join(CSV_COLUMNS)]
    for row in rows:
        lines.append(",".join(str(row.get(column, "")) for column in CSV_COLUMNS))
    path.write_text("\n".join(lines) + "\n")


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_one_panel_per_budget_from_compare_csv(tmp_path):
    rows = [{"method": "dense", "test_acc_mean": 0.96}]
    for budget in (0.5, 0.25):
        rows += [{"method": "ga (proxy.promote=0.1)", "budget": budget, "test_acc_mean": 0.9,
                  "test_acc_std": 0.01, "search_s_mean": 20, "search_s_std": 2},
                 {"method": "ga (proxy.promote=1.0)", "budget": budget, "test_acc_mean": 0.91,
                  "test_acc_std": 0.01, "search_s_mean": 90, "search_s_std": 5},
                 {"method": "lamp", "budget": budget, "test_acc_mean": 0.89}]
    write_csv(tmp_path / "compare.csv", rows)
    process = run(tmp_path / "compare.csv")
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "accuracy_vs_search_s.png").read_bytes().startswith(PNG_MAGIC)


def test_a_csv_without_a_search_or_no_file_is_refused(tmp_path):
    write_csv(tmp_path / "compare.csv", [{"method": "lamp", "budget": 0.5, "test_acc_mean": 0.9}])
    process = run(tmp_path / "compare.csv")
    assert process.returncode == 2 and "has no searched method" in process.stderr
    process = run(tmp_path / "missing.csv")
    assert process.returncode == 2 and "is not a file" in process.stderr
