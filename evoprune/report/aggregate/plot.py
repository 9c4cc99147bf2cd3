"""``compare.png``: accuracy against MACs ratio, after and before fine-tuning."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter, ScalarFormatter

from evoprune.infra.atomic import write_atomic
from evoprune.report.aggregate.collect import Aggregate, Row

MARKERS = "osD^v<>phX*"


def plot(agg: Aggregate, path: Path) -> None:
    """Two panels sharing the y axis: test accuracy after fine-tuning (left) and before (right)
    against the mean MACs ratio, error bars = sample std over seeds, one line per method, the
    dense model as a horizontal line. The x axis is logarithmic when budgets span 10× or more
    (otherwise the small budgets crowd into a corner)."""
    # the Agg canvas directly, not pyplot: no global backend switch, safe inside Hydra jobs
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2, sharey=True)
    methods = list(dict.fromkeys(row.method for row in agg.rows))
    budgets = [row.budget for row in agg.rows]
    # 0.5 / 0.05 is 10.000000000000002 in floating point: compare with a little slack
    log_x = bool(budgets) and max(budgets) / min(budgets) >= 10 * (1 - 1e-9)
    for ax, metric, title in zip(axes, ("test_acc", "test_acc_before_finetune"),
                                 ("after fine-tuning", "before fine-tuning")):
        for index, method in enumerate(methods):
            rows = sorted((r for r in agg.rows if r.method == method and metric in r.stats),
                          key=lambda r: r.stats["macs_ratio"].mean)
            if not rows:  # e.g. gradual_magnitude has no before-fine-tuning accuracy
                continue
            ax.errorbar([r.stats["macs_ratio"].mean for r in rows],
                        [r.stats[metric].mean for r in rows],
                        yerr=[_std(r, metric) for r in rows],
                        xerr=[_std(r, "macs_ratio") for r in rows],
                        marker=MARKERS[index % len(MARKERS)], capsize=3, label=method)
        for index, dense in enumerate(agg.dense):
            # the dense model has no before-fine-tuning figure: its test accuracy is the
            # reference in both panels
            ax.axhline(dense.stats["test_acc"].mean, color="black", alpha=0.7,
                       linestyle=("--", ":", "-.")[index % 3], label=dense.method)
        if log_x:
            ax.set_xscale("log")
            # ticks at the budgets, in plain numbers: log-scale labels like 4×10⁻¹ collide
            ax.set_xticks(sorted(set(budgets)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("MACs ratio (pruned / dense multiply-accumulates per sample)")
        ax.set_title(f"test accuracy {title}")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("test accuracy (mean ± std over seeds)")
    axes[0].legend(fontsize="small")
    title = (f"{agg.multirun_dir.name}: {agg.completed} run(s); error bars: sample std "
             "over seeds")
    if agg.debug:  # a figure travels without its markdown: it must say so itself
        title = "DEBUG RUNS, NOT A RESULT: " + ", ".join(
            f"debug={name}" for name in sorted(agg.debug)) + "\n" + title
    figure.suptitle(title, fontsize="medium", color="darkred" if agg.debug else "black")
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))


def _std(row: Row, metric: str) -> float:
    std = row.stats[metric].std
    return 0.0 if math.isnan(std) else std  # one seed: no error bar
