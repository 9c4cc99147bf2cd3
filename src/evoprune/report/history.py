"""A search's history on disk: ``search_history.csv`` (one row per generation, episode or
batch) and ``convergence.png``, written whatever the tracker, so a run without W&B keeps it.

The rows are the search driver's (``SearchResult.history``): the step's name and number first,
then the strategy's figures, then the driver's (``fit_max``, ``fit_avg``, ``cost_avg`` of the
step; ``best_fitness``, ``best_acc``, ``best_macs``, ``best_latency`` of the best feasible
candidate so far). A resumed search replays its rows, so the files hold the whole search.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from evoprune.infra.atomic import write_atomic

CSV_FILE = "search_history.csv"
PLOT_FILE = "convergence.png"

# the x-axis label, by the first key of the rows (the strategy's step)
STEP_LABELS = {"gen": "generation", "episode": "episode", "step": "step (one batch of masks)"}


def write_history(rows: Sequence[Mapping[str, float]], out_dir: str | Path, *,
                  budget: float | None = None) -> dict[str, Path]:
    """Write ``search_history.csv`` and ``convergence.png`` into ``out_dir`` (each atomically).

    Columns are every key of the rows, in order of first appearance (a row without one, such
    as a row replayed from an older checkpoint, leaves its cell empty). ``budget``, if given,
    is drawn on the cost panel of the plot. Returns the paths written, by name (``csv``,
    ``png``).
    """
    if not rows:
        raise ValueError("write_history needs at least one row")
    out_dir = Path(out_dir)
    paths = {"csv": out_dir / CSV_FILE, "png": out_dir / PLOT_FILE}
    write_atomic(paths["csv"], lambda tmp: _write_csv(rows, tmp))
    figure = plot_convergence(rows, budget=budget)
    write_atomic(paths["png"], lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    return paths


def columns(rows: Sequence[Mapping[str, float]]) -> list[str]:
    """Every key of ``rows``, in order of first appearance (the step's name first)."""
    return list(dict.fromkeys(key for row in rows for key in row))


def plot_convergence(rows: Sequence[Mapping[str, float]], *, budget: float | None = None):
    """The convergence figure (a ``matplotlib.figure.Figure``, Agg canvas): fitness per step
    above (the step's best and mean, and the best feasible so far), the best feasible
    candidate's cost ratio below (with the step's mean cost ratio and the budget).

    Built without pyplot: no display needed, no global figure left behind.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    step = next(iter(rows[0]))
    steps = [row[step] for row in rows]

    def series(key: str) -> list[float]:
        return [float(row.get(key, math.nan)) for row in rows]

    figure = Figure(figsize=(6.5, 5.5), layout="constrained")
    FigureCanvasAgg(figure)
    fitness_axes, cost_axes = figure.subplots(2, 1, sharex=True)
    # a single step would draw no line: markers keep it visible
    marker = "o" if len(rows) == 1 else None
    # one colour per figure in both panels
    fitness_axes.plot(steps, series("fit_avg"), marker=marker, linestyle=":", color="C0",
                      label="mean of the step")
    fitness_axes.plot(steps, series("best_fitness"), marker=marker, color="C2",
                      label="best feasible so far")
    # drawn last: where the step's best is the best feasible so far, the dashes show on it
    fitness_axes.plot(steps, series("fit_max"), marker=marker, linestyle="--", color="C1",
                      label="best of the step")
    fitness_axes.set_ylabel("fitness")
    fitness_axes.set_title("search convergence", fontsize="medium")
    cost_key, unit = ("best_latency", "latency") if "best_latency" in rows[-1] else (
        "best_macs", "MACs")
    cost_axes.plot(steps, series("cost_avg"), marker=marker, linestyle=":", color="C0",
                   label="mean of the step")
    cost_axes.plot(steps, series(cost_key), marker=marker, color="C2",
                   label="best feasible so far")
    if budget is not None:
        cost_axes.axhline(budget, color="tab:red", linestyle="--", label=f"budget {budget:g}")
    cost_axes.set_ylabel(f"cost ratio (of dense {unit})")
    cost_axes.set_xlabel(STEP_LABELS.get(step, step))
    cost_axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    for axes in (fitness_axes, cost_axes):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")
    return figure


def _write_csv(rows: Sequence[Mapping[str, float]], path: Path) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)
