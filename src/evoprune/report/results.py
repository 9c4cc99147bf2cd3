"""Run outputs: ``results.json``, mask files, exported models, and the console table."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path

import torch
from rich.table import Table
from torch import nn

from evoprune.evaluate.latency import LatencySettings
from evoprune.evaluate.runtime import checked_onnx, exported_program
from evoprune.infra.atomic import write_atomic, write_bytes_atomic

RESULTS_FILE = "results.json"
COST_RULES = {
    "structured": "MACs: multiply-accumulates of conv, linear, recurrent and attention layers "
                  "per sample",
    "unstructured": "MACs: each conv/linear layer's MACs per sample x its weight density "
                    "(kept / total weights); nothing is removed, so latency stays dense",
}


# what a tracker gets of a finished run, besides its rows and summary
TRACKED_FILES = ("mask_*.json", "pareto.png", "convergence.png", "sensitivity.png", RESULTS_FILE)


def tracked_files(run_dir: Path) -> list[Path]:
    """The run's masks, plots and ``results.json`` that exist, in :data:`TRACKED_FILES` order."""
    return [path for pattern in TRACKED_FILES for path in sorted(Path(run_dir).glob(pattern))]


def cost_rule(cost: str, kind: str, latency: LatencySettings) -> str:
    """What the budget meant, in words for ``results.json``: MACs by the pruning kind's rule,
    or with latency as the search's cost, how the search timed and what baselines used."""
    if cost != "latency":
        return COST_RULES[kind]
    runtime = "torch" if latency.runtime == "torch" else "ONNX Runtime"
    threads = {None: f"the run's {runtime} threads", 1: f"1 {runtime} thread"}.get(
        latency.threads, f"{latency.threads} {runtime} threads")
    device = latency.device or "the run's device"
    timing = (f"the median of {latency.repeats} timings (after {latency.warmup} warm-up, on "
              f"{threads}, on {device})")
    what = (f"{timing} of the compacted model" if latency.estimate == "measured" else
            f"the sum over its layers of a latency table (each conv and linear layer alone at "
            f"up to {latency.grid} widths per dimension, {timing}; the rest of the dense "
            f"model's measured latency scaled by what the mask keeps)")
    return (f"search: latency, {what} on {latency.batch_size} samples, as a fraction of the "
            f"dense model's; baselines: {COST_RULES['structured']}")


def write_json(path: Path, payload: Mapping) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))


def export_model(path: Path, model: nn.Module, example_input: torch.Tensor
                 ) -> torch.export.ExportedProgram:
    """Save a standalone model: ``torch.export.load(path).module()`` rebuilds it, no pickle and
    no evoprune needed (the pruned architecture differs from any class in the code). It takes
    any batch size; ``example_input`` must hold at least 2 samples, since torch.export fixes a
    dimension of size 1. Returns the program (:func:`export_onnx` converts it)."""
    program = exported_program(model, example_input)
    buffer = io.BytesIO()  # in memory first: a failed write is then a Python OSError
    torch.export.save(program, buffer)
    write_bytes_atomic(path, buffer.getvalue())
    return program


def export_onnx(path: Path, program: torch.export.ExportedProgram, inputs: torch.Tensor
                ) -> float:
    """Write ``program`` as an ONNX model (input ``input``, output ``output``, any batch size)
    once ONNX Runtime's outputs on ``inputs`` match the program's
    (:func:`~evoprune.evaluate.runtime.checked_onnx`); returns the largest absolute
    difference. Raises :class:`~evoprune.evaluate.runtime.OnnxExportError`, writing nothing,
    when they do not."""
    model, difference = checked_onnx(program, inputs)
    write_bytes_atomic(path, model)
    return difference


def results_table(results: Mapping, budget: float, cost: str = "macs") -> Table:
    """Dense and every method side by side; the test score (accuracy for classification, the
    task's ``metric`` otherwise) is the headline. ``cost``: what the budget limited for the
    search (``macs`` or ``latency``; baselines are always at MACs)."""
    metric = _short(results.get("metric", "accuracy"))
    title = f"budget: {budget:g} of dense MACs"
    if cost == "latency":
        title = f"budget: {budget:g} of dense latency for the search, of dense MACs for baselines"
    table = Table(title=f"evoprune results ({title})", caption=results.get("cost"))
    runtime = results.get("config", {}).get("latency", {}).get("runtime", "torch")
    latency = "latency ms" if runtime == "torch" else f"latency ms ({runtime})"
    for column in ("method", f"test {metric}", "before FT", f"val {metric}", "MACs",
                   "MACs ratio", "params", latency):
        table.add_column(column, justify="left" if column == "method" else "right")
    dense = results["dense"]
    table.add_row("dense", f"{dense['test_acc']:.4f}", "", f"{dense['val_acc']:.4f}",
                  f"{dense['macs']:,}", "1.000", f"{dense['params']:,}",
                  f"{dense['latency_ms']:.3f}")
    for name, row in results["methods"].items():
        before = row["test_acc_before_finetune"]  # None where a method has no one-shot model
        table.add_row(name, f"{row['test_acc']:.4f}", "—" if before is None else f"{before:.4f}",
                      f"{row['val_acc']:.4f}", f"{row['macs']:,}", f"{row['macs_ratio']:.3f}",
                      f"{row['params']:,}", f"{row['latency_ms']:.3f}")
    return table


def _short(metric: str) -> str:
    """A column's name for ``metric``: ``acc`` for accuracy, as the table always said."""
    return "acc" if metric == "accuracy" else metric
