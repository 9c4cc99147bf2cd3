"""One run, wired from a Hydra config: the only module that calls ``hydra.utils.instantiate``.

config recorded (with resume=true: checked against the recorded one) → seed → data → dense
model (trained or cached) → pruning space → evaluator → search (checkpointed) → baselines at the
same budget → finish every mask the same way → results.json, masks, exported models, console
table, W&B run.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from evoprune.baselines.gradual import gradual_magnitude
from evoprune.baselines.oneshot import GRADUAL, BaselineContext, baselines_for
from evoprune.config.checks import check_config, search_cost, search_enabled
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.fitness import Fitness
from evoprune.evaluate.latency import LatencySettings
from evoprune.finish.distill import DistillConfig
from evoprune.finish.measure import dense_row, finish_mask, measure_finished
from evoprune.finish.train import TrainConfig, cache_key, load_or_train_dense
from evoprune.infra.checkpoint import SearchCheckpoint, load_weights, start_run
from evoprune.infra.progress import console
from evoprune.infra.tracking import make_tracker
from evoprune.pruning import make_space
from evoprune.pruning.budget import check_budget
from evoprune.report.pareto import write_pareto
from evoprune.report.results import RESULTS_FILE, export_model, results_table, write_json
from evoprune.report.sensitivity import sensitivity, write_sensitivity
from evoprune.search.cost import COST_UNITS
from evoprune.search.loop import run_search

COST_RULES = {
    "structured": "MACs: multiply-accumulates of conv and linear layers per sample",
    "unstructured": "MACs: each conv/linear layer's MACs per sample x its weight density "
                    "(kept / total weights); nothing is removed, so latency stays dense",
}


def latency_cost_rule(latency: LatencySettings) -> str:
    """What the budget meant with ``fitness.cost=latency``: for the search, and for baselines."""
    threads = {None: "the run's torch threads", 1: "1 torch thread"}.get(
        latency.threads, f"{latency.threads} torch threads")
    return (
        f"search: latency, the median of {latency.repeats} CPU timings (after "
        f"{latency.warmup} warm-up, on {threads}) of the compacted model on "
        f"{latency.batch_size} samples, as a fraction of the dense model's; baselines: "
        f"{COST_RULES['structured']}"
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; searchers reseed their own streams from the same seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run(cfg: DictConfig, run_dir: Path) -> dict:
    """Run the search and baselines described by ``cfg``; write outputs to ``run_dir``."""
    check_config(cfg)
    start = time.perf_counter()
    seed_everything(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    config = OmegaConf.to_container(cfg, resolve=True)
    checkpoint = SearchCheckpoint(
        start_run(run_dir, config, resume=cfg.resume), every=cfg.checkpoint.every,
        every_episodes=cfg.checkpoint.every_episodes, resume=cfg.resume,
    )
    tracker = make_tracker(cfg.logger.kind, **_tracker_args(cfg, run_dir, config))
    evaluator = None
    try:
        data = instantiate(cfg.data)
        model = instantiate(cfg.model)
        _check_model_accepts(model, data)
        if cfg.weights:
            load_weights(model, cfg.weights)
            model.eval()
            console.print(f"dense model loaded from {cfg.weights}")
        else:
            key = cache_key(config["data"], config["model"], config["train"], cfg.seed)
            model, cached = load_or_train_dense(
                model, data, TrainConfig(**config["train"]), seed=cfg.seed,
                cache_dir=Path(cfg.cache_dir).expanduser(), cache_key=key,
                progress=cfg.progress,
            )
            console.print(f"dense model {'loaded from cache' if cached else 'trained'} "
                          f"(key {key})")
        space = make_space(model, data.train.x[:2], **config["pruning"])
        check_budget(space, cfg.budget)
        latency = LatencySettings(**config["latency"])
        # with no search, nothing is budgeted in latency: baselines prune to MACs
        cost = search_cost(cfg) if search_enabled(cfg) else "macs"
        evaluator = Evaluator(model, space, data.val, calibration=data.train, cost=cost,
                              latency=latency, **config["evaluator"])
        dense = dense_row(model, space, data, latency)
        console.print(
            f"dense: val_acc {dense['val_acc']:.4f}, test_acc {dense['test_acc']:.4f}, "
            f"{dense['macs']:,} MACs, {len(space.groups)} prunable groups, {space.num_units} units"
        )
        if evaluator.dense_latency_ms is not None:
            console.print(f"search cost: latency, dense {evaluator.dense_latency_ms:.3f} ms")
            _warn_if_unsteady(evaluator.dense_latency_ms, dense["latency_ms"])

        if cfg.sensitivity.enabled:
            paths = write_sensitivity(
                sensitivity(space, evaluator, ratios=list(cfg.sensitivity.ratios)), run_dir
            )
            console.print(f"sensitivity: {', '.join(str(p) for p in paths)}")

        masks, searched = {}, {}
        if search_enabled(cfg):
            searcher = instantiate(cfg.search, seed=cfg.seed)
            fitness = make_fitness(cfg.fitness)
            result = run_search(searcher, space, evaluator, fitness, cfg.budget,
                                callback=tracker.log, checkpoint=checkpoint,
                                progress=cfg.progress)
            console.print(
                f"{searcher.name}: {result.evaluations} evaluations ({result.requests} "
                f"requested), {result.wall_time_s:.1f} s, best val_acc "
                f"{result.objectives.val_acc:.4f} at {result.objectives.cost_ratio:.3f} of dense "
                f"{COST_UNITS[cost]}"
            )
            masks[searcher.name] = result.mask
            searched[searcher.name] = {"evaluations": result.evaluations,
                                       "requests": result.requests,
                                       "wall_time_s": result.wall_time_s,
                                       "cost": cost,
                                       "cost_ratio": result.objectives.cost_ratio}
            if cost == "latency":  # as the search measured them (validation inputs)
                searched[searcher.name].update(latency_ms=result.objectives.latency_ms,
                                               dense_latency_ms=evaluator.dense_latency_ms)
        context = BaselineContext(model, space, data, cfg.budget, cfg.seed)
        available = baselines_for(space.kind)
        masks.update({name: available[name](context) for name in cfg.baselines if name != GRADUAL})
        front = result.front if searched else None
        if front:  # multi-objective search: the whole accuracy-cost trade-off it found
            baselines = {name: mask for name, mask in masks.items() if name not in searched}
            _write_front(front, evaluator, space, baselines, run_dir, cost)

        finetune = TrainConfig(**config["finetune"])
        distill = (DistillConfig(alpha=cfg.distill.alpha, temperature=cfg.distill.temperature)
                   if cfg.distill.enabled else None)
        methods, models = {}, {}
        for name, mask in masks.items():
            seed_everything(cfg.seed)  # every method fine-tunes from the same RNG state
            finished = finish_mask(
                name, mask, dense=model, space=space, evaluator=evaluator, data=data,
                finetune=finetune, seed=cfg.seed, latency=latency, distill=distill,
                progress=cfg.progress,
            )
            methods[name], models[name] = finished.row, finished.model
        if GRADUAL in cfg.baselines:  # prunes while it fine-tunes: its own path to a model
            seed_everything(cfg.seed)
            agp = gradual_magnitude(
                model, space, data, budget=cfg.budget, finetune=finetune, seed=cfg.seed,
                steps=cfg.gradual.steps, importance_p=cfg.pruning.importance_p, distill=distill,
                progress=cfg.progress,
            )
            finished = measure_finished(
                GRADUAL, agp.mask, agp.model, space=space, data=data, latency=latency,
                test_acc_before_finetune=None, val_acc_before_finetune=None,
            )
            finished.row["gradual_steps"] = agp.history
            masks[GRADUAL], methods[GRADUAL], models[GRADUAL] = agp.mask, finished.row, agp.model
        for name, figures in searched.items():
            methods[name]["search"] = figures
        rule = latency_cost_rule(latency) if cost == "latency" else COST_RULES[space.kind]
        results = {"config": config, "cost": rule, "dense": dense,
                   "methods": methods,
                   "searched": next(iter(searched), None),
                   "wall_time_s": time.perf_counter() - start}
        _write_outputs(run_dir, results, masks, models, space, data.test.x[:1])
        if methods:
            console.print(results_table(results, cfg.budget, cost=cost))
        console.print(f"outputs: {run_dir}")
        tracker.summary({"dense": dense, "methods": methods})
        return results
    finally:
        try:
            if evaluator is not None:
                evaluator.close()  # stops Ray workers (and Ray, if the evaluator started it)
        finally:
            tracker.finish()


def _write_front(front, evaluator, space, baselines, run_dir, cost) -> None:
    # the dense model and baselines scored like the front (same validation subset, same
    # BatchNorm recalibration, same latency timing), so that the points are comparable
    def point(mask):
        [objectives] = evaluator.evaluate([mask])
        figures = {"val_acc": objectives.val_acc, "macs_ratio": objectives.macs_ratio}
        if cost == "latency":
            figures.update(latency_ms=objectives.latency_ms, latency_ratio=objectives.cost_ratio)
        return figures

    paths = write_pareto(front, run_dir, dense=point(space.full_mask()),
                         baselines={name: point(mask) for name, mask in baselines.items()},
                         cost_key="latency_ratio" if cost == "latency" else "macs_ratio")
    console.print(f"pareto front: {paths['json']}, {paths['png']}")


def _warn_if_unsteady(search_ms: float, report_ms: float, factor: float = 1.5) -> None:
    """Two timings of the dense model, seconds apart, should agree: if they do not, the
    machine is too busy for the search's latency ratios to mean much."""
    if max(search_ms, report_ms) > factor * min(search_ms, report_ms):
        console.print(
            f"[yellow]warning: the dense model timed {search_ms:.3f} ms for the search and "
            f"{report_ms:.3f} ms for the results: CPU timings are unsteady on this machine "
            "(busy cores); latency.threads=1 and more latency.repeats give steadier ones"
            "[/yellow]"
        )


def make_fitness(fitness_cfg: DictConfig) -> Fitness:
    """The fitness function ``fitness_cfg`` describes. Its ``cost`` key is for the evaluator
    (what the budget limits), not an argument of the function."""
    node = OmegaConf.to_container(fitness_cfg, resolve=True)
    node.pop("cost", None)
    return instantiate(node)


def _write_outputs(run_dir, results, masks, models, space, example) -> None:
    for name, mask in masks.items():
        write_json(run_dir / f"mask_{name}.json", space.describe(mask))
        export_model(run_dir / f"model_{name}.pt2", models[name], example)
    write_json(run_dir / RESULTS_FILE, results)  # last: its presence means the run completed


def _tracker_args(cfg: DictConfig, run_dir: Path, config: dict) -> dict:
    if cfg.logger.kind == "none":
        return {}
    return {"project": cfg.logger.project, "run_dir": run_dir, "config": config,
            "mode": cfg.logger.mode, "tags": list(cfg.logger.tags), "name": run_dir.name}


def _check_model_accepts(model: torch.nn.Module, data) -> None:
    try:
        with torch.no_grad():
            out = model.eval()(data.train.x[:2])
    except RuntimeError as err:
        raise ValueError(
            f"model {type(model).__name__} does not accept {data.name} inputs of shape "
            f"{list(data.input_shape)}: {err}"
        ) from err
    if out.shape != (2, data.num_classes):
        raise ValueError(
            f"model {type(model).__name__} returns shape {list(out.shape[1:])} per sample; "
            f"{data.name} has {data.num_classes} classes"
        )
