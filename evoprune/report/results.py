"""Run outputs: ``results.json``, mask files, exported models, and the console table."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch
from rich.table import Table
from torch import nn

from evoprune.infra.atomic import write_atomic

RESULTS_FILE = "results.json"


def write_json(path: Path, payload: Mapping) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))


def export_model(path: Path, model: nn.Module, example_input: torch.Tensor) -> None:
    """Save a standalone model: ``torch.export.load(path).module()`` rebuilds it, no pickle and
    no evoprune needed (the pruned architecture differs from any class in the code)."""
    program = torch.export.export(model.eval(), (example_input,))
    write_atomic(path, lambda tmp: torch.export.save(program, str(tmp)))


def results_table(results: Mapping, budget: float, cost: str = "macs") -> Table:
    """Dense and every method side by side; test accuracy is the headline. ``cost``: what the
    budget limited for the search (``macs`` or ``latency``; baselines are always at MACs)."""
    title = f"budget: {budget:g} of dense MACs"
    if cost == "latency":
        title = f"budget: {budget:g} of dense latency for the search, of dense MACs for baselines"
    table = Table(title=f"evoprune results ({title})", caption=results.get("cost"))
    for column in ("method", "test acc", "before FT", "val acc", "MACs", "MACs ratio",
                   "params", "latency ms"):
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
