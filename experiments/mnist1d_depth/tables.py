"""Tables of the depth study (experiments/mnist1d_depth): ResNet-14 pruned by channels only
(experiments/mnist1d_resnet's runs) against channels and whole blocks (``granularity=both``),
test accuracy after fine-tuning, paired by seed.

    python experiments/mnist1d_depth/tables.py > tables.md
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from evoprune.report.aggregate.collect import paired_differences
from evoprune.report.aggregate.tables import PAIRED_HEADERS, paired_cells

HERE = Path(__file__).resolve().parent
WIDTH = HERE.parent / "mnist1d_resnet" / "runs"
# (where the runs are, which sweeps, the arm's label for the searched methods, whether its
# baselines are taken too: the warm-started runs repeat baselines the others already have)
ARMS = ((WIDTH, ("ga_a", "ga_b", "random_a", "random_b"), "width", True),
        (WIDTH.parent / "warm_start" / "runs", ("ga_warm",), "width, warm start", False),
        (HERE / "runs", ("ga", "random"), "depth+width", True),
        (HERE / "runs", ("ga_warm",), "depth+width, warm start", False))
SEARCHED = {"ga", "random_search"}


def collect():
    """(method, budget) -> [(seed, figures)], the searched methods labelled by arm; and the
    blocks each depth+width answer kept."""
    samples, blocks = defaultdict(list), defaultdict(list)
    for root, sweeps, arm, with_baselines in ARMS:
        for sweep in sweeps:
            for path in sorted((root / sweep).glob("*/results.json")):
                results = json.loads(path.read_text())
                config, dense = results["config"], results["dense"]
                for method, row in results["methods"].items():
                    if method not in SEARCHED and not with_baselines:
                        continue
                    name = f"{method} ({arm})" if method in SEARCHED else method
                    figures = {"test_acc": row["test_acc"], "macs_ratio": row["macs_ratio"],
                               "latency": row["latency_ms"] / dense["latency_ms"]}
                    samples[(name, config["budget"])].append((config["seed"], figures))
                    if "depth" in row["kept_per_group"]:
                        blocks[(name, config["budget"])].append(row["kept_per_group"]["depth"])
    return samples, blocks


def main() -> None:
    samples, blocks = collect()
    budgets = sorted({b for m, b in samples if m.endswith("(depth+width)")}, reverse=True)
    samples = {key: runs for key, runs in samples.items() if key[1] in budgets}
    print("## Test accuracy after fine-tuning (mean ± sd over seeds), MACs ratio, latency\n")
    print("Latency: the pruned model's CPU latency over the dense model's, measured in the same "
          "run (median over seeds); blocks: residual blocks kept (of the 4 removable; mean).\n")
    print("| budget | method | seeds | test acc | MACs ratio | latency / dense | blocks |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for budget in budgets:
        rows = [(m, runs) for (m, b), runs in samples.items() if b == budget]
        for method, runs in sorted(rows, key=lambda r: -np.mean([f["test_acc"]
                                                                  for _, f in r[1]])):
            acc = [f["test_acc"] for _, f in runs]
            kept = blocks.get((method, budget))
            print(f"| {budget:g} | {method} | {len(runs)} | {np.mean(acc):.4f} ± "
                  f"{np.std(acc, ddof=1):.4f} | {np.mean([f['macs_ratio'] for _, f in runs]):.3f}"
                  f" | {np.median([f['latency'] for _, f in runs]):.3f} | "
                  f"{'–' if kept is None else f'{np.mean(kept):.1f}'} |")
    print("\n## Paired by seed (points of test accuracy)\n")
    print("| " + " | ".join(PAIRED_HEADERS) + " |")
    print("| --- | ---: | --- | " + " | ".join("---:" for _ in PAIRED_HEADERS[3:]) + " |")
    searched = {m for m, _ in samples if "(" in m}
    pairs = list(paired_differences(samples, searched))  # each search - the best baseline
    for ours, theirs in (("ga (depth+width)", "ga (width)"),
                         ("ga (depth+width)", "random_search (depth+width)"),
                         ("random_search (depth+width)", "random_search (width)"),
                         ("ga (depth+width, warm start)", "ga (depth+width)"),
                         ("ga (depth+width, warm start)", "ga (width, warm start)"),
                         ("ga (depth+width, warm start)", "random_search (depth+width)")):
        two = {key: runs for key, runs in samples.items() if key[0] in (ours, theirs)}
        pairs += paired_differences(two, {ours})
    for difference in pairs:
        print("| " + " | ".join(paired_cells(difference)) + " |")


if __name__ == "__main__":
    main()
