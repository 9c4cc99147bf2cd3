"""Console progress for long work (training, search), via rich."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

# Outside a terminal (CI logs, redirected output) rich would wrap at 80 columns; results
# tables and per-generation lines read better wider.
console = Console(width=None if sys.stdout.isatty() else 120)


def progress_bar(*, enabled: bool = True) -> Progress:
    """A progress display: description, bar, count, elapsed and remaining time."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )
