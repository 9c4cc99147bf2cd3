"""``pareto.json`` and ``pareto.png``: a multi-objective search's front, with the dense model and
the baselines beside it (the Pareto math itself is :mod:`evoprune.search.pareto`)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from evoprune.infra.atomic import write_atomic
from evoprune.search.pareto import Point, hypervolume

# what val_acc is when the caller does not say (the search scored masks right after pruning)
SCORE = "validation accuracy right after pruning (the search's score)"

# the cost axis of pareto.json / pareto.png, by the key front entries carry it under
COST_AXES = {
    "macs_ratio": ("MACs", "MACs ratio (pruned / dense multiply-accumulates per sample)"),
    "latency_ratio": ("latency", "latency ratio (pruned / dense median CPU latency)"),
}


def write_pareto(
    front: Sequence[Mapping],
    out_dir: str | Path,
    *,
    reference: Point,
    dense: Mapping | None = None,
    baselines: Mapping[str, Mapping] | None = None,
    chosen: Mapping | None = None,
    budget: float | None = None,
    finetuned: Mapping | None = None,
    cost_key: str = "macs_ratio",
    score: str = SCORE,
) -> dict[str, Path]:
    """Write ``pareto.json`` and ``pareto.png`` into ``out_dir`` (each atomically), and
    ``pareto_finetuned.png`` with ``finetuned``.

    Args:
        front: front members, each a mapping with at least ``val_acc`` and ``cost_key``
            (e.g. ``NSGA2Search.front``); written in order of that cost.
        reference: the hypervolume's reference point (:func:`reference_point`).
        dense: the dense model's ``{"val_acc", cost_key}`` (shown as a star), if known.
        baselines: ``{name: {"val_acc", cost_key, ...}}``, plotted as labelled points so the
            front can be compared with single-budget methods. Their ``val_acc`` is the mask
            as the search scores it (``score``), like the front's; an optional
            ``val_acc_after_finetune`` (after the full fine-tune) is plotted too, at the
            same cost.
        chosen: the front member picked for the budget and fine-tuned, ``{"name", "val_acc",
            cost_key, ...}`` (optional ``val_acc_after_finetune`` as for baselines), marked.
        budget: the largest cost ratio allowed, drawn as a vertical line.
        finetuned: front members and baselines fine-tuned at the same MACs ratios
            (:func:`evoprune.finish.along_front.finetune_along_front`), written as they are
            and plotted by :mod:`evoprune.report.pareto_finetuned`.
        cost_key: the cost objective, ``macs_ratio`` or ``latency_ratio``.
        score: what every ``val_acc`` here is (the search's score: right after pruning, or
            after the proxy's brief fine-tune), written to pareto.json and on the plot's axis.

    Returns the paths written, by name (``json``, ``png``, and ``finetuned_png``).
    """
    if cost_key not in COST_AXES:
        raise ValueError(f"cost_key must be one of {sorted(COST_AXES)}, got {cost_key!r}")
    if not front:
        raise ValueError("write_pareto needs a non-empty front")
    for where, entries in (("front", list(front)), ("dense", [dense] if dense else []),
                           ("baselines", list((baselines or {}).values())),
                           ("chosen", [chosen] if chosen else [])):
        for entry in entries:
            missing = {"val_acc", cost_key} - set(entry)
            if missing:
                raise ValueError(f"every {where} entry needs val_acc and {cost_key}; "
                                 f"missing {sorted(missing)} in {dict(entry)}")
    front = sorted(front, key=lambda e: (e[cost_key], -e["val_acc"]))
    points = [(e["val_acc"], e[cost_key]) for e in front]
    out_dir = Path(out_dir)
    payload = {
        "objectives": {"val_acc": "max", cost_key: "min"},
        "score": score,
        "reference": [float(v) for v in reference],
        "hypervolume": hypervolume(points, reference),
        "front": [dict(entry) for entry in front],
        "dense": dict(dense) if dense else None,
        "baselines": {name: dict(point) for name, point in (baselines or {}).items()},
        "chosen": dict(chosen) if chosen else None,
        "budget": budget,
        "finetuned": dict(finetuned) if finetuned else None,
    }
    paths = {"json": out_dir / "pareto.json", "png": out_dir / "pareto.png"}
    # allow_nan=False: a NaN here is a bug upstream, and strict JSON readers would choke on it
    text = json.dumps(payload, indent=2, allow_nan=False, default=_jsonable)
    write_atomic(paths["json"], lambda tmp: tmp.write_text(text + "\n"))
    figure = plot_pareto(front, reference=reference, dense=dense, baselines=baselines,
                         chosen=chosen, budget=budget, cost_key=cost_key, score=score)
    write_atomic(paths["png"], lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    if finetuned:
        from evoprune.report.pareto_finetuned import FIGURE, plot_finetuned  # imports this

        paths["finetuned_png"] = out_dir / FIGURE
        after = plot_finetuned(finetuned, label=(chosen or {}).get("name", "front"))
        write_atomic(paths["finetuned_png"],
                     lambda tmp: after.savefig(tmp, format="png", dpi=120))
    return paths


def plot_pareto(front: Sequence[Mapping], *, reference: Point, dense: Mapping | None = None,
                baselines: Mapping[str, Mapping] | None = None, chosen: Mapping | None = None,
                budget: float | None = None, cost_key: str = "macs_ratio", score: str = SCORE):
    """The Pareto figure (a ``matplotlib.figure.Figure``, Agg canvas; arguments as for
    :func:`write_pareto`): the front as a step line (the best score reachable at each cost
    ratio), the dense model as a star, each baseline as a labelled point at the same score
    (and after the full fine-tune, when known), the fine-tuned member circled, the budget as
    a vertical line; the accuracy axis says what the score is."""
    # the Agg canvas directly, not pyplot: no global backend switch, safe inside Hydra jobs
    # imported here: matplotlib takes a second to import
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    front = sorted(front, key=lambda e: (e[cost_key], -e["val_acc"]))
    costs = [e[cost_key] for e in front]
    accs = [e["val_acc"] for e in front]
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    # where="post": between two members, the cheaper one's accuracy is what is attainable
    ax.step(costs, accs, where="post", marker="o", label=f"Pareto front ({len(front)})")
    if dense:
        ax.plot([dense[cost_key]], [dense["val_acc"]], marker="*", markersize=12,
                color="black", linestyle="none", label="dense")
    _plot_baselines(ax, baselines or {}, cost_key)
    if chosen:
        name = chosen.get("name", "searched")
        # the same objectives as its front member: a ring around that point
        ax.plot([chosen[cost_key]], [chosen["val_acc"]], marker="o", markersize=13,
                markerfacecolor="none", markeredgewidth=2, color="tab:green",
                linestyle="none", label=f"{name}: the member fine-tuned")
        if chosen.get("val_acc_after_finetune") is not None:
            ax.plot([chosen[cost_key]], [chosen["val_acc_after_finetune"]], marker="^",
                    markersize=9, color="tab:green", linestyle="none",
                    label=f"{name} after the full fine-tune")
    if budget is not None:
        ax.axvline(budget, color="tab:gray", linestyle="--", label=f"budget {budget:g}")
    unit, label = COST_AXES[cost_key]
    ax.set_xlabel(label)
    ax.set_ylabel(textwrap.fill(score, 48), fontsize="small")
    hv = hypervolume([(e["val_acc"], e[cost_key]) for e in front], reference)
    ax.set_title(f"accuracy / {unit} trade-off: hypervolume {hv:.4f} "
                 f"(above accuracy {reference[0]:.3g})",
                 fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def _plot_baselines(ax, baselines: Mapping[str, Mapping], cost_key: str) -> None:
    """Each baseline as the search's score has it (like the front), labelled by name, and
    after the full fine-tune where known, at the same cost (the mask does not change)."""
    for index, (name, point) in enumerate(baselines.items()):
        ax.plot([point[cost_key]], [point["val_acc"]], marker="s", linestyle="none",
                color="tab:red", alpha=0.8,
                label="baselines" if index == 0 else None)
        ax.annotate(name, (point[cost_key], point["val_acc"]), textcoords="offset points",
                    xytext=(4, 4), fontsize="small")
    after = {name: point for name, point in baselines.items()
             if point.get("val_acc_after_finetune") is not None}
    for index, point in enumerate(after.values()):
        ax.plot([point[cost_key]], [point["val_acc_after_finetune"]], marker="D",
                linestyle="none", color="tab:purple", alpha=0.8,
                label="baselines after the full fine-tune" if index == 0 else None)


def _jsonable(value):
    """NumPy scalars and arrays that slipped into a front entry."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to pareto.json")
