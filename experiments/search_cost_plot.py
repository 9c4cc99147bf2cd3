"""The best candidate's accuracy after fine-tuning against what its search cost.

    python experiments/search_cost_plot.py experiments/search_cost/cnn1d/compare.csv

Reads an aggregate's ``compare.csv`` (``python -m evoprune.report.aggregate``) and draws one
panel per budget: each searched method (each fidelity variant of it) at its mean search
seconds and mean test accuracy after fine-tuning (bars: one standard deviation over the
seeds), and the best baseline's accuracy as a dashed line (a baseline searches nothing).
Writes ``accuracy_vs_search_s.png`` beside the CSV, or to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["budget"]]


def number(value: str) -> float:
    return float(value) if value else math.nan


def plot(rows: list[dict], out: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    budgets = sorted({float(row["budget"]) for row in rows}, reverse=True)
    figure = Figure(figsize=(4.2 * len(budgets), 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(budgets), squeeze=False)[0]
    for ax, budget in zip(axes, budgets):
        at = [row for row in rows if float(row["budget"]) == budget]
        searched = [row for row in at if row["search_s_mean"]]
        baselines = [row for row in at if not row["search_s_mean"]]
        for index, row in enumerate(searched):
            ax.errorbar(number(row["search_s_mean"]), number(row["test_acc_mean"]),
                        yerr=number(row["test_acc_std"]), xerr=number(row["search_s_std"]),
                        fmt="o", capsize=2, color=f"C{index % 10}", label=row["method"])
        if baselines:
            best = max(baselines, key=lambda row: number(row["test_acc_mean"]))
            ax.axhline(number(best["test_acc_mean"]), color="0.4", linestyle="--",
                       linewidth=1, label=f"best baseline ({best['method']})")
        ax.set_xscale("log")
        ax.set_title(f"budget {budget:g}")
        ax.set_xlabel("search seconds (mean over seeds)")
    axes[0].set_ylabel("test accuracy after fine-tuning")
    axes[-1].legend(fontsize="x-small", loc="lower right")
    figure.savefig(out, dpi=120)
    return out


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="an aggregate's compare.csv")
    parser.add_argument("--out", type=Path, help="the PNG (default: beside the CSV)")
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        parser.error(f"{args.csv} is not a file: give an aggregate's compare.csv")
    rows = read_rows(args.csv)
    if not any(row["search_s_mean"] for row in rows):
        parser.error(f"{args.csv} has no searched method with a search time")
    path = plot(rows, args.out or args.csv.parent / "accuracy_vs_search_s.png")
    print(f"written: {path}")
    return path


if __name__ == "__main__":
    main()
