"""experiments/kept_units.py: the mean kept units per group, from hand-made job dirs."""

import json
import subprocess
import sys

from tests.helpers import REPO

SCRIPT = REPO / "experiments" / "kept_units.py"


def write_job(root, seed, budget, masks):
    job = root / f"{seed}_{budget}"
    job.mkdir(parents=True)
    (job / "results.json").write_text(json.dumps({"config": {"seed": seed, "budget": budget}}))
    for method, kept in masks.items():
        groups = [{"name": "attn", "kind": "head", "size": 4, "kept": kept[0]},
                  {"name": "mlp", "kind": "neuron", "size": 16, "kept": kept[1]}]
        (job / f"mask_{method}.json").write_text(json.dumps({"groups": groups}))


def test_mean_kept_units_per_method_budget_and_group(tmp_path):
    write_job(tmp_path, 0, 0.5, {"ga": (4, 6), "lamp": (2, 10)})
    write_job(tmp_path, 1, 0.5, {"ga": (3, 9), "lamp": (2, 10)})
    write_job(tmp_path, 0, 0.25, {"ga": (1, 4)})
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert "| method | attn (head, 4) | mlp (neuron, 16) |" in out
    budget_half, budget_quarter = out.split("### Budget 0.25")[0], out.split("### Budget 0.25")[1]
    assert "| ga | 3.5 | 7.5 |" in budget_half and "| lamp | 2.0 | 10.0 |" in budget_half
    assert "| ga | 1.0 | 4.0 |" in budget_quarter and "lamp" not in budget_quarter


def test_a_dir_without_masks_is_refused(tmp_path):
    process = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                             text=True, timeout=60)
    assert process.returncode == 1 and "no results.json with mask files" in process.stderr
