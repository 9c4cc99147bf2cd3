"""Aggregate a Hydra multirun (e.g. ``experiment=compare``) into ``compare.csv``, ``compare.md``
and ``compare.png``: every method at every budget, mean ± std over seeds, next to the dense model;
with fine-tune length swept, ``compare_recovery.png`` as well.

From the command line: ``python -m evoprune.report.aggregate MULTIRUN_DIR [--out DIR]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evoprune.report.aggregate.collect import Aggregate, MissingRun, Row, Stat, collect
from evoprune.report.aggregate.plot import plot
from evoprune.report.aggregate.recovery import plot_recovery
from evoprune.report.aggregate.tables import markdown, rich_table, write_csv, write_markdown

__all__ = ["Aggregate", "MissingRun", "Row", "Stat", "aggregate", "collect", "markdown",
           "rich_table"]


def aggregate(multirun_dir: str | Path, out_dir: str | Path | None = None,
              same: Sequence[str] = ()) -> Aggregate:
    """Summarise every ``results.json`` under ``multirun_dir`` and write ``compare.csv``,
    ``compare.md`` and ``compare.png`` to ``out_dir`` (default: ``multirun_dir``). Keys in
    ``same`` never split a method into variants (runs of one study launched differently).

    Jobs without a readable ``results.json`` are listed under "missing runs", never fatal.
    Raises FileNotFoundError if the dir does not exist, ValueError if it holds no results.
    """
    agg = collect(multirun_dir, same=same)
    out = Path(multirun_dir if out_dir is None else out_dir)
    agg.files = {"csv": out / "compare.csv", "md": out / "compare.md", "png": out / "compare.png"}
    write_csv(agg, agg.files["csv"])
    write_markdown(agg, agg.files["md"])
    plot(agg, agg.files["png"])
    if plot_recovery(agg, out / "compare_recovery.png"):  # fine-tune length was swept
        agg.files["recovery"] = out / "compare_recovery.png"
    return agg
