"""``python -m evoprune.report.aggregate MULTIRUN_DIR [--out DIR]``: compare the methods of a
finished (or partly finished) multirun and print the table."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from evoprune.infra.progress import console
from evoprune.report.aggregate import Aggregate, aggregate, rich_table
from evoprune.report.aggregate.tables import paired_table


def report(agg: Aggregate) -> None:
    """Print the table, the missing runs and where the files are."""
    console.print(rich_table(agg))
    if agg.paired:
        console.print(paired_table(agg))
    for run in agg.missing:
        console.print(f"[yellow]missing[/yellow] {run.job_dir} ({' '.join(run.overrides)}): "
                      f"{run.reason}", highlight=False)
    console.print("comparison written: " + ", ".join(str(p) for p in agg.files.values()),
                  highlight=False)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m evoprune.report.aggregate",
        description="Aggregate the results.json files of a Hydra multirun dir into "
                    "compare.csv, compare.md and compare.png (mean ± std over seeds).",
    )
    parser.add_argument("multirun_dir", help="the sweep dir, e.g. multirun/compare/<date>/<time>")
    parser.add_argument("--out", default=None,
                        help="where to write compare.* (default: MULTIRUN_DIR)")
    parser.add_argument("--same", nargs="+", default=[], metavar="KEY",
                        help="override keys that never split a method into variants (e.g. "
                             "experiment, where one study's sweeps were launched with and "
                             "without experiment=compare)")
    args = parser.parse_args(argv)
    try:
        agg = aggregate(args.multirun_dir, args.out, same=args.same)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    report(agg)


if __name__ == "__main__":
    main()
