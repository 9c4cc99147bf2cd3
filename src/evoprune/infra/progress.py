"""Console output for long work (training, search), via rich, and its copy in the run's log."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.control import Control
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

LOG_WIDTH = 120  # a log file has no terminal width: tables are laid out at this one


class LoggedConsole(Console):
    """A rich console that also writes what it prints to a log file, in plain text: the
    lines and tables, never the progress bars (a live display redraws itself, it does not
    print) and never colour codes."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._log: Console | None = None

    @contextlib.contextmanager
    def copied_to(self, path: str | Path) -> Iterator[None]:
        """Copy every printed line to ``path`` (appended) while the context lasts."""
        with open(path, "a", encoding="utf-8") as handle:
            previous, self._log = self._log, _plain_console(handle)
            try:
                yield
            finally:
                self._log = previous

    def print(self, *objects, **kwargs) -> None:  # noqa: A003 - rich's name
        super().print(*objects, **kwargs)
        if self._log is not None and not all(isinstance(o, Control) for o in objects):
            try:
                self._log.print(*objects, **kwargs)
            except OSError as err:  # a full disk must not stop the run over a log line
                self._log = None
                super().print(f"[yellow]warning: the log file cannot be written any more "
                              f"({err.strerror or err}); the console keeps everything[/yellow]")


def _plain_console(handle: IO[str]) -> Console:
    return Console(file=handle, width=LOG_WIDTH, color_system=None, force_terminal=False,
                   soft_wrap=True, highlight=False, emoji=False)


# Outside a terminal (CI logs, redirected output) rich would wrap at 80 columns: lines keep
# their length instead (soft wrap) and tables are laid out at LOG_WIDTH.
console = LoggedConsole(width=None if sys.stdout.isatty() else LOG_WIDTH,
                        soft_wrap=not sys.stdout.isatty())


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


def epoch_line(description: str, epoch: int, epochs: int, loss: float, samples_per_s: float,
               seconds_per_epoch: float) -> str:
    """One epoch's summary with the time the remaining epochs will take at this pace: what a
    log shows of a long training, where no progress bar is drawn."""
    left = int(round(seconds_per_epoch * (epochs - epoch)))
    return (f"{description}: epoch {epoch}/{epochs}, loss {loss:.4f}, {samples_per_s:,.0f} "
            f"samples/s, {seconds_per_epoch:.1f} s/epoch, about {left // 3600}:"
            f"{left % 3600 // 60:02d}:{left % 60:02d} left")
