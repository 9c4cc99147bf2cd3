"""``compare_recovery.png``: with fine-tune length swept (``finetune.epochs=5,20``), the paired
difference of each searched method from the best baseline (and from the best compute-matched
one) against fine-tune length, one line per budget: where a lead survives recovery."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evoprune.infra.atomic import write_atomic
from evoprune.report.aggregate.collect import (
    Aggregate,
    PairedDifference,
    finetune_epochs,
    is_compute_matched,
)

MARKERS = "osD^v<>phX*"


def recovery_series(agg: Aggregate) -> dict[tuple[str, float, bool], list[PairedDifference]]:
    """The paired differences by (searched method, budget, against compute-matched
    baselines), ordered by fine-tune length; empty unless two or more lengths were run.
    The method keeps the rest of its variant (``ga (proxy.epochs=0)``): runs that differ in
    another setting are separate lines, not one line through both."""
    series: dict[tuple[str, float, bool], list[PairedDifference]] = defaultdict(list)
    for d in agg.paired:
        epochs = finetune_epochs(d.variant)
        if epochs is None:
            continue
        name = d.method.removesuffix(f" ({d.variant})")
        rest = ", ".join(part for part in d.variant.split(", ")
                         if not part.startswith("finetune.epochs="))
        method = f"{name} ({rest})" if rest else name
        series[(method, d.budget, is_compute_matched(d.baseline))].append(d)
    lengths = {finetune_epochs(d.variant) for ds in series.values() for d in ds}
    if len(lengths) < 2:
        return {}
    return {key: sorted(ds, key=lambda d: finetune_epochs(d.variant))
            for key, ds in series.items()}


def plot_recovery(agg: Aggregate, path: Path) -> bool:
    """Write the figure when the runs swept fine-tune length; return whether it did."""
    series = recovery_series(agg)
    if not series:
        return False
    matched = any(key[2] for key in series)
    figure = Figure(figsize=(6.5 * (1 + matched), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 1 + matched, sharey=True, squeeze=False)[0]
    for against, ax in zip((False, True), axes):
        keys = sorted(key for key in series if key[2] == against)
        for index, (method, budget, _) in enumerate(keys):
            rows = series[(method, budget, against)]
            x = [finetune_epochs(d.variant) for d in rows]
            errors = [[0 if math.isnan(d.low) else 100 * (d.mean - d.low) for d in rows],
                      [0 if math.isnan(d.high) else 100 * (d.high - d.mean) for d in rows]]
            ax.errorbar(x, [100 * d.mean for d in rows], yerr=errors, capsize=3,
                        marker=MARKERS[index % len(MARKERS)], label=f"{method} at {budget:g}")
        ax.axhline(0, color="black", alpha=0.7)
        ax.set_xlabel("fine-tune epochs (finetune.epochs)")
        ax.set_title("searched − best " + ("compute-matched baseline" if against
                                           else "baseline") + ", paired by seed (95 % CI)",
                     fontsize="medium")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel(f"test {agg.metric} difference, points (x 100)")
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    return True
