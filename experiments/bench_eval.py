"""How close candidate scoring gets to the cost of the arithmetic alone.

    python experiments/bench_eval.py                      # cnn1d on MNIST-1D, 32 masks, 512 samples
    python experiments/bench_eval.py --model cnn2d --data digits --population 16 --samples 256
    python experiments/bench_eval.py --device cuda --override train.epochs=1

Prints one JSON object. Every figure is measured in this process, on the same masks:

- ``limit_ms``: median over the candidates of one bare forward pass of the validation subset
  through the candidate's network, compacted beforehand (untimed): the arithmetic alone.
- ``dense_ms``: the same through the dense model.
- ``evoprune_ms_per_candidate``: the evaluator scoring the population (distinct random masks at
  ``--budget``, memo off, no BatchNorm recalibration: the same arithmetic as ``limit_ms``).
- ``evoprune_bn_ms_per_candidate`` / ``limit_bn_ms``: the same with the configured BatchNorm
  recalibration, and its own limit (a forward pass of the calibration inputs as well).
- ``masked_ms_per_candidate``: the evaluator forced to ``mode=masked`` (dense arithmetic with
  the dropped units zeroed), for comparison with the default sliced path.
- ``naive_ms_per_candidate``: what most pruning-search code does: deep-copy the model, remove
  the channels with torch-pruning, run the validation subset through it.
- ``ratio_to_limit``, ``speedup_vs_naive``; ``search``: a short GA's wall time, evaluations and
  memo hit rate.

The model and data come from the app's config groups (``--model``, ``--data``, any other key
with ``--override``); the dense model is trained, or loaded from the cache as in a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from evoprune.config.targets import make_data, make_model
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import constrained
from evoprune.pruning import make_space
from evoprune.pruning.budget import shrink_to_budget
from evoprune.pruning.compact import compact
from evoprune.search.ga import GeneticSearch
from evoprune.search.loop import run_search
from evoprune.training.dense import dense_cache_key, load_or_train_dense
from evoprune.training.train import TrainConfig

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="cnn1d", help="a conf/model option")
    parser.add_argument("--data", default="mnist1d", help="a conf/data option")
    parser.add_argument("--population", type=int, default=32, help="distinct masks scored")
    parser.add_argument("--samples", type=int, default=512, help="validation samples per mask")
    parser.add_argument("--budget", type=float, default=0.5, help="MACs ratio of the masks")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--generations", type=int, default=5, help="GA generations (0: skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--override", action="append", default=[],
                        help="any other config override, e.g. train.epochs=1 (repeatable)")
    args = parser.parse_args(argv)
    for name in ("population", "samples", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.budget <= 1:
        parser.error(f"--budget must be in (0, 1], got {args.budget}")
    return args


def distinct_masks(space, count: int, budget: float, rng: np.random.Generator) -> list:
    """Random masks (each group kept at a random ratio, random units) shrunk to the budget."""
    masks, seen = [], set()
    while len(masks) < count:
        ratios = rng.uniform(np.sqrt(budget), 1.0, size=len(space.groups))
        bits = np.concatenate([rng.random(g.size) < r for g, r in zip(space.groups, ratios)])
        mask = shrink_to_budget(space, space.repair(bits), budget)
        if space.key(mask) not in seen:
            seen.add(space.key(mask))
            masks.append(mask)
    return masks


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"model={args.model}", f"data={args.data}", f"seed={args.seed}", *args.override])
    config = OmegaConf.to_container(cfg, resolve=True)
    torch.manual_seed(args.seed)
    data = make_data(config["data"], args.seed)
    model, _ = load_or_train_dense(
        make_model(config["model"], data.input_shape, data.num_classes), data,
        TrainConfig(**config["train"]), seed=args.seed,
        cache_dir=Path(cfg.cache_dir).expanduser(), progress=False,
        cache_key=dense_cache_key(config["data"], config["model"], config["train"], args.seed,
                                  device="cpu", threads=torch.get_num_threads()))
    model = model.to(device).eval()
    val = data.val
    x_val = val.x[: args.samples].to(device)
    space = make_space(model, x_val[:2], **config["pruning"])
    masks = distinct_masks(space, args.population, args.budget, np.random.default_rng(args.seed))

    compacted = [compact(model, space, mask) for mask in masks]
    settings = dict(val_samples=args.samples, batch_size=max(args.samples, 1), cache=False,
                    calibration=data.train)
    plain = Evaluator(model, space, val, bn_recalibration_batches=0, **settings)
    masked = Evaluator(model, space, val, bn_recalibration_batches=0, mode="masked", **settings)
    bn_batches = cfg.evaluator.bn_recalibration_batches
    with_bn = Evaluator(model, space, val, bn_recalibration_batches=bn_batches,
                        calibration_batch_size=cfg.evaluator.calibration_batch_size, **settings)
    calibration = with_bn.scorer.calibration_batches  # on the model's device
    x_cal = torch.cat(calibration) if calibration else x_val[:0]

    @torch.inference_mode()
    def bare(network, inputs) -> float:
        sync()
        start = time.perf_counter()
        network(inputs)
        sync()
        return (time.perf_counter() - start) * 1e3

    def per_candidate(evaluator) -> float:
        sync()
        start = time.perf_counter()
        evaluator.evaluate(masks)
        sync()
        return (time.perf_counter() - start) * 1e3 / len(masks)

    def naive() -> float:
        sync()
        start = time.perf_counter()
        for mask in masks:
            network = compact(model, space, mask)  # torch-pruning traces with autograd on
            with torch.inference_mode():
                network(x_val).argmax(1)
        sync()
        return (time.perf_counter() - start) * 1e3 / len(masks)

    # Rounds interleave every figure, so that a slow spell of a shared machine hits them alike;
    # each figure is the median over rounds (after one untimed warm-up round).
    figures: dict[str, list[float]] = {}
    for round_ in range(args.repeats + 1):
        measured = {
            "limit_ms": statistics.median(bare(m, x_val) for m in compacted),
            "dense_ms": bare(model, x_val),
            "evoprune_ms_per_candidate": per_candidate(plain),
            "masked_ms_per_candidate": per_candidate(masked),
            "limit_bn_ms": statistics.median(bare(m, x_val) + bare(m, x_cal) for m in compacted),
            "evoprune_bn_ms_per_candidate": per_candidate(with_bn),
            "naive_ms_per_candidate": naive(),
        }
        for name, value in measured.items():
            if round_:
                figures.setdefault(name, []).append(value)
    figures = {name: statistics.median(values) for name, values in figures.items()}
    limit_ms, evoprune_ms = figures["limit_ms"], figures["evoprune_ms_per_candidate"]
    naive_ms, limit_bn_ms = figures["naive_ms_per_candidate"], figures["limit_bn_ms"]
    dense_ms, evoprune_bn_ms = figures["dense_ms"], figures["evoprune_bn_ms_per_candidate"]
    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "model": args.model, "data": args.data, "population": args.population,
        "samples": int(len(x_val)), "budget": args.budget,
        "groups": len(space.groups), "units": space.num_units, "dense_macs": space.dense_macs,
        "mean_macs_ratio": float(np.mean([space.macs_ratio(m) for m in masks])),
        "limit_ms": limit_ms,
        "dense_ms": dense_ms,
        "evoprune_ms_per_candidate": evoprune_ms,
        "naive_ms_per_candidate": naive_ms,
        "masked_ms_per_candidate": figures["masked_ms_per_candidate"],
        "evaluator_mode": "sliced" if plain.scorer.slicer is not None else "masked",
        "ratio_to_limit": evoprune_ms / limit_ms,
        "speedup_vs_naive": naive_ms / evoprune_ms,
        "rounds": args.repeats,
        "bn_recalibration_batches": bn_batches,
        "limit_bn_ms": limit_bn_ms,
        "evoprune_bn_ms_per_candidate": evoprune_bn_ms,
        "ratio_to_limit_bn": evoprune_bn_ms / limit_bn_ms if limit_bn_ms else None,
    }
    if args.generations:
        search_evaluator = Evaluator(model, space, val, bn_recalibration_batches=bn_batches,
                                     calibration_batch_size=cfg.evaluator.calibration_batch_size,
                                     **{**settings, "cache": True})
        searcher = GeneticSearch(population_size=args.population, generations=args.generations,
                                 seed=args.seed)
        found = run_search(searcher, space, search_evaluator, constrained, args.budget)
        result["search"] = {
            "searcher": "ga", "generations": args.generations,
            "wall_time_s": found.wall_time_s, "evaluations": found.evaluations,
            "requests": found.requests,
            "cache_hit_rate": 1 - found.evaluations / found.requests,
            "ms_per_evaluation": 1e3 * found.wall_time_s / found.evaluations,
        }
    json.dump(result, sys.stdout, indent=1)
    print()
    return result


if __name__ == "__main__":
    main()
