"""The Pareto front after fine-tuning (``pareto.finetune``): its table on the console and its
figure, ``pareto_finetuned.png``: test accuracy after fine-tuning against MACs ratio, the
searched front's members as one curve and each baseline, pruned at the same MACs ratios, as
another.

``finetuned`` is what :func:`evoprune.finish.along_front.finetune_along_front` returns (and
``pareto.json`` holds under ``finetuned``): ``{"members": [...], "baselines": {name: [...]},
"dense_test_acc": ...}``, each entry with ``macs_ratio`` and accuracies before and after
fine-tuning.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from evoprune.report.pareto import COST_AXES

FIGURE = "pareto_finetuned.png"


def finetuned_table(finetuned: Mapping) -> Table:
    """One row per front member fine-tuned: its MACs ratio, its test accuracy after (and
    before) fine-tuning, and each baseline's at that MACs ratio."""
    names = list(finetuned["baselines"])
    metric = finetuned.get("metric", "accuracy")
    table = Table(title=f"Pareto front after fine-tuning: test {metric} (before fine-tuning)")
    table.add_column("MACs ratio", justify="right")
    table.add_column("front member", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for row, member in enumerate(finetuned["members"]):
        cells = [f"{member['macs_ratio']:.3f}", _cell(member)]
        for name in names:
            entry = finetuned["baselines"][name][row]
            cells.append(f"{_cell(entry)} at {entry['macs_ratio']:.3f}")
        table.add_row(*cells)
    table.caption = ("MACs: multiply-accumulates of conv, linear, recurrent and attention "
                     "layers per sample; baselines pruned at each member's MACs ratio")
    return table


def plot_finetuned(finetuned: Mapping, *, label: str = "front"):
    """The figure (a ``matplotlib.figure.Figure``, Agg canvas): test accuracy after fine-tuning
    against MACs ratio, the front members (``label``) and each baseline as lines, the front
    members before fine-tuning as hollow markers, the dense model's test accuracy as a
    dashed line."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    members = sorted(finetuned["members"], key=lambda e: e["macs_ratio"])
    ax.plot([e["macs_ratio"] for e in members], [e["test_acc_after_finetune"] for e in members],
            marker="o", linewidth=2, label=f"{label} members, after fine-tuning")
    ax.plot([e["macs_ratio"] for e in members], [e["test_acc_before_finetune"] for e in members],
            marker="o", markerfacecolor="none", linestyle=":", color="tab:blue", alpha=0.6,
            label=f"{label} members, before fine-tuning")
    for name, entries in finetuned["baselines"].items():
        entries = sorted(entries, key=lambda e: e["macs_ratio"])
        ax.plot([e["macs_ratio"] for e in entries],
                [e["test_acc_after_finetune"] for e in entries], marker="s", alpha=0.8,
                label=f"{name}, after fine-tuning")
    if finetuned.get("dense_test_acc") is not None:
        ax.axhline(finetuned["dense_test_acc"], color="black", linestyle="--", alpha=0.6,
                   label="dense")
    ax.set_xlabel(COST_AXES["macs_ratio"][1])
    metric = finetuned.get("metric", "accuracy")
    ax.set_ylabel(f"test {metric}")
    ax.set_title(f"{metric} / MACs after the same fine-tune for every mask", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def _cell(entry: Mapping) -> str:
    before = entry.get("test_acc_before_finetune")
    after = f"{entry['test_acc_after_finetune']:.4f}"
    return after if before is None else f"{after} ({before:.4f})"
