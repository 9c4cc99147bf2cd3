"""Each method trained from the penalised dense model minus the same method from the plain
one, paired by seed (the two arms of experiments/slimming), as a markdown table.

    python experiments/slimming/arms.py experiments/slimming/runs > arms.md
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

ARMS = ("l0", "l1e-2")  # runs/<arm>/b<budget>_s<seed>/results.json


def main(root: Path) -> None:
    accuracy = defaultdict(dict)  # (method, budget, arm) -> seed -> test accuracy
    for path in sorted(root.glob("*/*/results.json")):
        results = json.loads(path.read_text())
        arm, config = path.parent.parent.name, results["config"]
        accuracy[("dense", None, arm)][config["seed"]] = results["dense"]["test_acc"]
        for method, row in results["methods"].items():
            accuracy[(method, config["budget"], arm)][config["seed"]] = row["test_acc"]
    print("| method | budget | plain | penalised | penalised − plain, points | 95 % CI "
          "| seeds ahead |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    keys = sorted({(m, b) for m, b, _ in accuracy}, key=lambda k: (-(k[1] or 2.0), k[0]))
    for method, budget in keys:
        plain, penalised = (accuracy[(method, budget, arm)] for arm in ARMS)
        seeds = sorted(set(plain) & set(penalised))
        diffs = 100 * np.array([penalised[s] - plain[s] for s in seeds])
        half = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))
        print(f"| {method} | {budget if budget is not None else '–'} "
              f"| {np.mean([plain[s] for s in seeds]):.4f} "
              f"| {np.mean([penalised[s] for s in seeds]):.4f} | {diffs.mean():+.2f} "
              f"| [{diffs.mean() - half:+.2f}, {diffs.mean() + half:+.2f}] "
              f"| {int((diffs > 0).sum())} of {len(diffs)} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
