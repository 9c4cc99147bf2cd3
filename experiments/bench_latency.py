"""Latency where a pruned model runs: the latency table against measured latency, and what
rounding widths to a multiple of 8 does to latency in torch and in ONNX Runtime.

    python experiments/bench_latency.py                     # CNN1d and ResNet-14, MNIST-1D shapes
    python experiments/bench_latency.py --models cnn --masks 32 --rounds 3

Prints one JSON object (latency depends on shapes, not on weights: the models are untrained and
seeded, and everything is timed in this process on ``--threads`` threads):

- ``table``: per model and ``round_to`` (1, 8): seconds to build the table and its layer
  timings; over ``--masks`` random masks (each group's keep ratio uniform in [min, 1]), the
  Spearman rank correlation of the table's predicted latency with measured latency, beside that
  of MACs, and the noise ceiling: the correlation of the measurements' first half of rounds
  with their second half. A mask's measured latency is the lowest of ``--rounds`` medians of
  ``--repeats`` passes, rounds interleaved over all masks so that drift on a shared machine
  hits them alike. Also: milliseconds to predict one mask and to time one mask.
- ``rounding``: per model, at each of ``--budgets`` (of dense MACs), the ``uniform_magnitude``
  and ``global_magnitude`` masks with ``round_to`` 1 and 8: their MACs ratio and latency in
  torch and in ONNX Runtime (needs the onnx extra; left out without it), timed the same way.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from evoprune.baselines.registry import BaselineContext, prune  # noqa: E402
from evoprune.evaluate.latency import LatencySettings, measure_latency_ms  # noqa: E402
from evoprune.evaluate.latency_table import LatencyTable  # noqa: E402
from evoprune.models import CNN1d, ResNet  # noqa: E402
from evoprune.pruning.compact import compact  # noqa: E402
from evoprune.pruning.space import PruningSpace  # noqa: E402

MODELS = {
    "cnn": lambda: CNN1d((1, 40), 10),  # the default run's model
    "resnet14": lambda: ResNet((1, 40), 10, blocks_per_stage=2),
}
METHODS = ("uniform_magnitude", "global_magnitude")


def timed(models: list, inputs: torch.Tensor, args, runtime: str = "torch") -> np.ndarray:
    """``(rounds, models)`` median milliseconds, rounds interleaved over the models."""
    return np.array([[measure_latency_ms(model, inputs, repeats=args.repeats, warmup=3,
                                         threads=args.threads, runtime=runtime)
                      for model in models] for _ in range(args.rounds)])


def table_row(name: str, round_to: int, args) -> dict:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    inputs = torch.randn(args.batch_size, 1, 40)
    space = PruningSpace(model, inputs[:2], round_to=round_to)
    settings = LatencySettings(batch_size=args.batch_size, repeats=args.repeats,
                               threads=args.threads)
    table = LatencyTable(model, space, inputs, settings, grid=args.grid)
    rng = np.random.default_rng(args.seed)
    low = np.array([g.min_keep / g.size for g in space.groups])
    masks = np.stack([space.mask_from_ratios(low + (1 - low) * rng.random(len(low)))
                      for _ in range(args.masks)])
    start = time.perf_counter()
    predicted = table.predict(masks)
    predict_ms = (time.perf_counter() - start) * 1e3 / len(masks)
    start = time.perf_counter()
    models = [compact(model, space, mask).eval() for mask in masks]
    rounds = timed(models, inputs, args)
    measure_ms = (time.perf_counter() - start) * 1e3 / len(masks) / args.rounds
    measured = rounds.min(axis=0)
    half = args.rounds // 2
    return {
        "model": name, "round_to": round_to, "masks": len(masks),
        "table_build_s": round(table.build_s, 2), "table_cells": table.cells,
        "rho_table": round(float(spearmanr(predicted, measured)[0]), 3),
        "rho_macs": round(float(spearmanr(space.macs(masks), measured)[0]), 3),
        "rho_noise_ceiling": (round(float(spearmanr(rounds[:half].min(0),
                                                    rounds[half:].min(0))[0]), 3)
                              if half else None),
        "predict_ms_per_mask": round(predict_ms, 3),
        "measure_ms_per_mask": round(measure_ms, 1),
        "dense_ms": round(table.dense_ms, 3),
    }


def rounding_rows(name: str, args, runtimes: list[str]) -> list[dict]:
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    inputs = torch.randn(args.batch_size, 1, 40)
    rows, models = [], []
    for budget in args.budgets:
        for round_to in (1, 8):
            space = PruningSpace(model, inputs[:2], round_to=round_to)
            context = BaselineContext(model=model, space=space, data=None, budget=budget,
                                      seed=0)
            for method in METHODS:
                mask = prune(method, context).mask
                rows.append({"model": name, "budget": budget, "method": method,
                             "round_to": round_to,
                             "macs_ratio": round(float(space.macs_ratio(mask)), 4)})
                models.append(compact(model, space, mask).eval())
    for runtime in runtimes:
        for row, ms in zip(rows, timed(models, inputs, args, runtime).min(axis=0)):
            row[f"{runtime}_ms"] = round(float(ms), 4)
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--masks", type=int, default=48, help="random masks per table check")
    parser.add_argument("--grid", type=int, default=8, help="latency.grid")
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.5, 0.25])
    parser.add_argument("--batch-size", type=int, default=64, help="latency.batch_size")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved timing rounds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    runtimes = ["torch"] + (["onnxruntime"] if importlib.util.find_spec("onnxruntime")
                            and importlib.util.find_spec("onnxscript") else [])
    out = {"settings": vars(args), "runtimes": runtimes,
           "table": [table_row(name, round_to, args) for name in args.models
                     for round_to in (1, 8)],
           "rounding": [row for name in args.models for row in rounding_rows(name, args,
                                                                            runtimes)]}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
