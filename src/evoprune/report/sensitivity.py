"""``sensitivity.json`` and ``sensitivity.png``: the per-group sensitivity that
:func:`evoprune.evaluate.sensitivity.sensitivity` measures, as a file and a plot."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from evoprune.infra.atomic import write_atomic

JSON_FILE = "sensitivity.json"
PLOT_FILE = "sensitivity.png"


def write_sensitivity(result: Mapping, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``sensitivity.json`` and ``sensitivity.png`` into ``out_dir``; return both paths.

    The plot has validation accuracy against each group's actual keep ratio, one line per
    group, and the dense accuracy as a dashed line. Both files are written atomically.
    """
    out_dir = Path(out_dir)
    json_path, plot_path = out_dir / JSON_FILE, out_dir / PLOT_FILE
    text = json.dumps(result, indent=2) + "\n"
    write_atomic(json_path, lambda tmp: tmp.write_text(text))
    figure = plot_sensitivity(result)
    write_atomic(plot_path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    return json_path, plot_path


def plot_sensitivity(result: Mapping):
    """The sensitivity figure (a ``matplotlib.figure.Figure``, Agg canvas).

    Built without pyplot, so it needs no display, leaves no global figure behind and does not
    change the process-wide backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for group in result["groups"]:
        points = sorted(group["points"], key=lambda p: p["keep_ratio"])
        axes.plot([p["keep_ratio"] for p in points], [p["val_acc"] for p in points],
                  marker="o", label=f"{group['name']} ({group['size']})")
    axes.axhline(result["dense"]["val_acc"], color="black", linestyle="--", label="dense")
    axes.set_xlim(1.02, 0.0)  # left to right: pruning harder
    axes.set_xlabel("keep ratio of the pruned group (all others dense)")
    axes.set_ylabel(f"validation {result.get('metric', 'accuracy')} (no fine-tuning)")
    axes.set_title("per-group pruning sensitivity")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", title="group (units)")
    return figure
