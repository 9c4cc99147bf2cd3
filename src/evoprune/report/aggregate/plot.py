"""``compare.png``: accuracy against MACs ratio, after and before fine-tuning, and (with a
searched method) its paired difference from the best baseline per budget."""

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
    panels = 3 if agg.paired else 2
    figure = Figure(figsize=(5.5 * panels, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    first = figure.add_subplot(1, panels, 1)
    axes = [first, figure.add_subplot(1, panels, 2, sharey=first)]
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
        ax.set_title(f"test {agg.metric} {title}")
        ax.grid(True, alpha=0.3)
    if agg.paired:
        _plot_paired(figure.add_subplot(1, panels, 3), agg, log_x)
    axes[0].set_ylabel(f"test {agg.metric} (mean ± std over seeds)")
    axes[0].legend(fontsize="small")
    title = (f"{agg.multirun_dir.name}: {agg.completed} run(s); error bars: sample std "
             "over seeds")
    if agg.debug:  # a figure travels without its markdown: it must say so itself
        title = "DEBUG RUNS, NOT A RESULT: " + ", ".join(
            f"debug={name}" for name in sorted(agg.debug)) + "\n" + title
    figure.suptitle(title, fontsize="medium", color="darkred" if agg.debug else "black")
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))


def _plot_paired(ax, agg: Aggregate, log_x: bool) -> None:
    """Searched − best baseline in points, per budget: the mean over seeds and its 95 %
    t-interval; above zero the search wins."""
    for index, method in enumerate(dict.fromkeys(d.method for d in agg.paired)):
        rows = sorted((d for d in agg.paired if d.method == method), key=lambda d: d.budget)
        means = [100 * d.mean for d in rows]
        errors = [[0 if math.isnan(d.low) else 100 * (d.mean - d.low) for d in rows],
                  [0 if math.isnan(d.high) else 100 * (d.high - d.mean) for d in rows]]
        ax.errorbar([d.budget for d in rows], means, yerr=errors, capsize=3, label=method,
                    marker=MARKERS[index % len(MARKERS)])
    ax.axhline(0, color="black", alpha=0.7)
    if log_x:
        ax.set_xscale("log")
        ax.set_xticks(sorted({d.budget for d in agg.paired}))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("budget (fraction of dense MACs)")
    ax.set_ylabel(f"test {agg.metric} difference, points (x 100)")
    ax.set_title("searched − best baseline, paired by seed (95 % CI)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


def _std(row: Row, metric: str) -> float:
    std = row.stats[metric].std
    return 0.0 if math.isnan(std) else std  # one seed: no error bar
