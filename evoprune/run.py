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

from evoprune.checkpoint import SearchCheckpoint, load_weights, start_run
from evoprune.distill import DistillConfig
from evoprune.evaluate.evaluator import Evaluator, check_backend
from evoprune.finish import LatencySettings, dense_row, finish_mask, measure_finished
from evoprune.gradual import gradual_magnitude
from evoprune.pareto import write_pareto
from evoprune.progress import console
from evoprune.pruning import make_space
from evoprune.pruning.budget import check_budget
from evoprune.report import RESULTS_FILE, export_model, results_table, write_json
from evoprune.search.baselines import GRADUAL, BaselineContext, baseline_names, baselines_for
from evoprune.sensitivity import sensitivity, write_sensitivity
from evoprune.tracking import make_tracker
from evoprune.train import TrainConfig, cache_key, load_or_train_dense

COST_RULES = {
    "structured": "MACs: multiply-accumulates of conv and linear layers per sample",
    "unstructured": "MACs: each conv/linear layer's MACs per sample x its weight density "
                    "(kept / total weights); nothing is removed, so latency stays dense",
}


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; searchers reseed their own streams from the same seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_config(cfg: DictConfig) -> None:
    """Refuse bad top-level values before any work starts."""
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool):
        raise ValueError(f"seed must be an integer, got {cfg.seed!r}")
    if not isinstance(cfg.resume, bool):
        raise ValueError(f"resume must be true or false, got {cfg.resume!r}")
    if not isinstance(cfg.budget, (int, float)) or not 0.0 < cfg.budget <= 1.0:
        hint = ""
        if not isinstance(cfg.budget, (int, float, bool)):  # '', [] or a list from a sweep typo
            hint = "; each run takes one budget, sweep several with budget=0.5,0.25 (multirun)"
        raise ValueError(
            f"budget must be a fraction of dense MACs in (0, 1], got {cfg.budget!r}{hint}"
        )
    available = baseline_names(cfg.pruning.kind)
    unknown = sorted(set(cfg.baselines) - set(available))
    if unknown:
        raise ValueError(
            f"baselines {unknown} do not exist for pruning={cfg.pruning.kind}; choose from "
            f"{sorted(available)}"
        )
    if not _search_enabled(cfg) and not cfg.baselines and not cfg.sensitivity.enabled:
        raise ValueError("nothing to run: search=none, baselines=[] and sensitivity off; choose "
                         f"a search or baselines from {sorted(available)}")
    settings = cfg.evaluator
    check_backend(settings.backend, settings.workers, settings.ray_address,
                  settings.worker_threads)
    if settings.backend == "ray":  # fail now, not after training the dense model
        from evoprune.evaluate.ray_backend import import_ray

        import_ray()


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
        evaluator = Evaluator(model, space, data.val, calibration=data.train, **config["evaluator"])
        latency = LatencySettings(**config["latency"])
        dense = dense_row(model, space, data, latency)
        console.print(
            f"dense: val_acc {dense['val_acc']:.4f}, test_acc {dense['test_acc']:.4f}, "
            f"{dense['macs']:,} MACs, {len(space.groups)} prunable groups, {space.num_units} units"
        )

        if cfg.sensitivity.enabled:
            paths = write_sensitivity(
                sensitivity(space, evaluator, ratios=list(cfg.sensitivity.ratios)), run_dir
            )
            console.print(f"sensitivity: {', '.join(str(p) for p in paths)}")

        masks, searched = {}, {}
        if _search_enabled(cfg):
            searcher = instantiate(cfg.search, seed=cfg.seed, progress=cfg.progress)
            fitness = instantiate(cfg.fitness)
            result = searcher.run(space, evaluator, fitness, cfg.budget, callback=tracker.log,
                                  checkpoint=checkpoint)
            console.print(
                f"{searcher.name}: {result.evaluations} evaluations ({result.requests} "
                f"requested), {result.wall_time_s:.1f} s, best val_acc "
                f"{result.objectives.val_acc:.4f} at {result.objectives.macs_ratio:.3f} of dense "
                f"MACs"
            )
            masks[searcher.name] = result.mask
            searched[searcher.name] = {"evaluations": result.evaluations,
                                       "requests": result.requests,
                                       "wall_time_s": result.wall_time_s}
        context = BaselineContext(model, space, data, cfg.budget, cfg.seed)
        available = baselines_for(space.kind)
        masks.update({name: available[name](context) for name in cfg.baselines if name != GRADUAL})
        front = getattr(searcher, "front", None) if searched else None
        if front:  # multi-objective search: the whole accuracy-MACs trade-off it found
            baselines = {name: mask for name, mask in masks.items() if name not in searched}
            _write_front(front, evaluator, space, baselines, run_dir)

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
        results = {"config": config, "cost": COST_RULES[space.kind], "dense": dense,
                   "methods": methods,
                   "searched": next(iter(searched), None),
                   "wall_time_s": time.perf_counter() - start}
        _write_outputs(run_dir, results, masks, models, space, data.test.x[:1])
        if methods:
            console.print(results_table(results, cfg.budget))
        console.print(f"outputs: {run_dir}")
        tracker.summary({"dense": dense, "methods": methods})
        return results
    finally:
        try:
            if evaluator is not None:
                evaluator.close()  # stops Ray workers (and Ray, if the evaluator started it)
        finally:
            tracker.finish()


def _write_front(front, evaluator, space, baselines, run_dir) -> None:
    # the dense model and baselines scored like the front (same validation subset, same
    # BatchNorm recalibration), so that the points are comparable
    def point(mask):
        [objectives] = evaluator.evaluate([mask])
        return {"val_acc": objectives.val_acc, "macs_ratio": objectives.macs_ratio}

    paths = write_pareto(front, run_dir, dense=point(space.full_mask()),
                         baselines={name: point(mask) for name, mask in baselines.items()})
    console.print(f"pareto front: {paths['json']}, {paths['png']}")


def _search_enabled(cfg: DictConfig) -> bool:
    # search=none leaves `search` null, or holding only overrides given on the command line
    return cfg.search is not None and cfg.search.get("_target_") is not None


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
