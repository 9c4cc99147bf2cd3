"""``compare.csv`` (every figure, mean and std), ``compare.md`` and the console table."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from rich.table import Table

from evoprune.infra.atomic import write_atomic
from evoprune.report.aggregate.collect import METRICS, Aggregate, PairedDifference, Row

CSV_COLUMNS = ["method", "budget", "n_seeds", "seeds"] + [
    f"{metric}_{part}" for metric in METRICS for part in ("mean", "std")
]
HEADERS = ["method", "budget", "MACs ratio", "test acc (after FT)", "test acc (before FT)",
           "params", "latency ms", "search evaluations", "search s", "n"]
PAIRED_HEADERS = ["searched", "budget", "best baseline", "n", "mean difference", "95 % CI",
                  "paired t-test p", "seeds ahead"]
PAIRED_NOTE = ("test accuracy after fine-tuning, searched method minus the baseline with the "
               "highest mean at that budget, seed by seed; in points (1 point = 0.01)")


def paired_note(metric: str = "accuracy") -> str:
    """:data:`PAIRED_NOTE` for the runs' ``metric``."""
    return PAIRED_NOTE.replace("test accuracy", f"test {metric}")
COST_NOTE = ("MACs = multiply-accumulates per sample (conv, linear, recurrent and attention "
             "layers; FLOPs = 2 × MACs); MACs ratio = pruned MACs / dense MACs")


def write_csv(agg: Aggregate, path: Path) -> None:
    """One row per method × budget, dense first; empty cells where a figure does not apply
    (dense has no budget and no before-fine-tuning accuracy) or a std needs two seeds."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for row in agg.dense + agg.rows:
                writer.writerow(_csv_row(row))

    write_atomic(path, write)


def _csv_row(row: Row) -> dict:
    out = {"method": row.method, "budget": "" if row.budget is None else row.budget,
           "n_seeds": row.n_seeds, "seeds": " ".join(str(s) for s in row.seeds)}
    for metric in METRICS:
        stat = row.stats.get(metric)
        out[f"{metric}_mean"] = "" if stat is None else stat.mean
        out[f"{metric}_std"] = "" if stat is None or math.isnan(stat.std) else stat.std
    return out


def cells(row: Row, pm: str = " ± ") -> list[str]:
    """The displayed figures of one row, in :data:`HEADERS` order (``pm`` joins mean and std)."""
    def show(metric: str, fmt: str) -> str:
        stat = row.stats.get(metric)
        if stat is None:
            return "–"
        if math.isnan(stat.std):  # a single seed: no spread to show
            return format(stat.mean, fmt)
        return f"{format(stat.mean, fmt)}{pm}{format(stat.std, fmt)}"

    return [row.method, "–" if row.budget is None else f"{row.budget:g}",
            show("macs_ratio", ".3f"), show("test_acc", ".4f"),
            show("test_acc_before_finetune", ".4f"), show("params", ",.0f"),
            show("latency_ms", ".3f"), show("evaluations", ",.0f"), show("search_s", ",.0f"),
            str(row.n_seeds)]


def headers(metric: str = "accuracy") -> list[str]:
    """:data:`HEADERS`, with the score columns named by the runs' ``metric``."""
    return HEADERS if metric == "accuracy" else \
        [h.replace("test acc", f"test {metric}") for h in HEADERS]


def score_note(metric: str) -> str:
    """What the score columns hold, in words."""
    if metric == "accuracy":
        return "Accuracies are fractions of the test split"
    return (f"Scores are the task's {metric} on the test split (higher is better; differences "
            "below are in its units x 100)")


def markdown(agg: Aggregate) -> str:
    """The comparison as a Markdown document: cost unit, table, missing runs."""
    dense_macs = ", ".join(f"{row.stats['macs'].mean:,.0f}" for row in agg.dense)
    lines = [
        "# evoprune: methods compared",
        "",
        f"Multirun `{agg.multirun_dir}`: {agg.completed} completed run(s), "
        f"{len(agg.missing)} missing.",
        "",
        *([f"> **Warning: {agg.debug_note}.**", ""] if agg.debug else []),
        f"{COST_NOTE} (dense: {dense_macs} MACs). {score_note(agg.metric)}, "
        "mean ± sample standard deviation over the n seeds; *before FT* is the pruned model "
        "as the search scored it, before fine-tuning. Latency: median CPU time of one forward "
        "pass of a batch (settings under `latency`). A search's cost: the distinct masks it "
        "scored at full fidelity (*search evaluations*) and its wall time in seconds.",
        "",
        "| " + " | ".join(headers(agg.metric)) + " |",
        "| --- | " + " | ".join("---:" for _ in HEADERS[1:]) + " |",
    ]
    lines += ["| " + " | ".join(_escape(c) for c in cells(row)) + " |"
              for row in agg.dense + agg.rows]
    lines += paired_markdown(agg.paired, agg.metric)
    lines += ["", "## Missing runs", ""]
    if not agg.missing:
        lines.append("None: every job wrote its results.")
    else:
        lines += ["| job | overrides | reason |", "| --- | --- | --- |"]
        for run in agg.missing:
            job = run.job_dir.relative_to(agg.multirun_dir) if run.job_dir != agg.multirun_dir \
                else Path(".")
            overrides = " ".join(run.overrides) or "(unknown)"
            lines.append(f"| `{job}` | `{_escape(overrides)}` | {_escape(run.reason)} |")
    return "\n".join(lines) + "\n"


def paired_cells(d: PairedDifference) -> list[str]:
    """One paired difference as table cells (differences in points)."""
    interval = "–" if math.isnan(d.low) else f"[{100 * d.low:+.2f}, {100 * d.high:+.2f}]"
    return [d.method, f"{d.budget:g}", d.baseline, str(len(d.seeds)), f"{100 * d.mean:+.2f}",
            interval, "–" if math.isnan(d.p) else f"{d.p:.3f}",
            f"{d.wins} of {len(d.seeds)}"]


def paired_markdown(paired: list[PairedDifference], metric: str = "accuracy") -> list[str]:
    """The "searched − best baseline" section of compare.md (empty without a searched
    method and a baseline at the same budget)."""
    if not paired:
        return []
    return ["", "## Searched − best baseline, paired by seed", "", paired_note(metric) + ".", "",
            "| " + " | ".join(PAIRED_HEADERS) + " |",
            "| --- | ---: | --- | " + " | ".join("---:" for _ in PAIRED_HEADERS[3:]) + " |",
            *("| " + " | ".join(_escape(c) for c in paired_cells(d)) + " |" for d in paired)]


def paired_table(agg: Aggregate) -> Table:
    """The paired differences, for the console."""
    table = Table(title="searched − best baseline, paired by seed (points)",
                  caption=paired_note(agg.metric))
    for header in PAIRED_HEADERS:
        table.add_column(header, justify="left" if header in ("searched", "best baseline")
                         else "right")
    for d in agg.paired:
        table.add_row(*paired_cells(d))
    return table


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def write_markdown(agg: Aggregate, path: Path) -> None:
    text = markdown(agg)
    write_atomic(path, lambda tmp: tmp.write_text(text))


def rich_table(agg: Aggregate) -> Table:
    """The same table as ``compare.md``, for the console."""
    title = f"evoprune comparison: {agg.completed} run(s), {len(agg.missing)} missing"
    if agg.debug:
        title += f"\n[bold yellow]{agg.debug_note}[/bold yellow]"
    table = Table(title=title, caption=COST_NOTE)
    # the results table's short headers: the console is often only 120 columns wide
    score = "test acc" if agg.metric == "accuracy" else f"test {agg.metric}"
    # and without the search's cost (compare.md has it)
    for header in ("method", "budget", "MACs ratio", score, "before FT", "params",
                   "latency ms", "n"):
        table.add_column(header, justify="left" if header == "method" else "right",
                         no_wrap=header == "method")
    for row in agg.dense + agg.rows:
        *figures, _, _, n = cells(row, pm="±")
        table.add_row(*figures, n)
    return table
