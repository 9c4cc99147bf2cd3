"""One run, wired from a Hydra config.

The stages, in order: check the config → data and dense model → pruning space and evaluator
(then, if asked for, the sensitivity analysis) → search (and the selection among its
finalists) → baselines (and a multi-objective
search's Pareto front, scored beside them) → finish each method (and, with ``pareto.finetune``,
front members and baselines at their MACs ratios) → report. Every method,
searched or baseline, reaches the finish stage as a :class:`~evoprune.finish.measure.Pruned`.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from evoprune.baselines import registry
from evoprune.config.checks import (
    check_config,
    make_fitness,
    make_strategy,
    search_cost,
    search_enabled,
    search_limits,
)
from evoprune.config.errors import ConfigError
from evoprune.config.model_checks import check_against_model, check_model_accepts
from evoprune.config.targets import make_data, make_model, make_task
from evoprune.data import DataSplits
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.latency import LatencySettings
from evoprune.evaluate.runtime import OnnxExportError
from evoprune.evaluate.sensitivity import sensitivity
from evoprune.finish.along_front import finetune_along_front
from evoprune.finish.measure import dense_row, finish
from evoprune.finish.proxy import FinetunedEvaluator, proxy_epochs, proxy_recipe
from evoprune.finish.records import DenseRow, Results
from evoprune.finish.select import select_by_finetuning
from evoprune.infra.atomic import save_torch_atomic
from evoprune.infra.checkpoint import CHECKPOINT_DIR, SearchCheckpoint, load_weights, start_run
from evoprune.infra.device import resolve_device
from evoprune.infra.errors import UserError
from evoprune.infra.progress import console
from evoprune.infra.threads import torch_threads
from evoprune.infra.tracking import make_tracker
from evoprune.pruning import make_space
from evoprune.pruning.pruned import Pruned
from evoprune.pruning.space import PruningSpace
from evoprune.report.history import write_history
from evoprune.report.pareto import SCORE, write_pareto
from evoprune.report.pareto_finetuned import finetuned_table
from evoprune.report.pruned_model import WEIGHTS_FILE, save_pruned_weights
from evoprune.report.results import (
    RESULTS_FILE,
    cost_rule,
    export_model,
    export_onnx,
    results_table,
    tracked_files,
    write_json,
)
from evoprune.report.sensitivity import write_sensitivity
from evoprune.report.torch_prune import PRUNE_FILE, prune_state_dict
from evoprune.search.base import Scored
from evoprune.search.cost import COST_UNITS
from evoprune.search.fidelity import Promotion
from evoprune.search.loop import run_search
from evoprune.search.pareto import reference_point
from evoprune.training.dense import dense_cache_key, load_or_train_dense
from evoprune.training.distill import DistillConfig
from evoprune.training.train import TrainConfig


@dataclass
class Problem:
    """What the search and the finish stage work on (stages 2 and 3)."""

    data: DataSplits
    model: torch.nn.Module  # the trained dense model
    space: PruningSpace
    evaluator: Evaluator
    dense: DenseRow  # the dense model's row in results.json
    latency: LatencySettings
    cost: str  # what the budget limits for the search: macs | latency
    finetune: TrainConfig  # the same recipe for every method
    distill: DistillConfig | None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch; searchers reseed their own streams from the same seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Given:
    """Data and a trained dense model handed over as Python objects (``evoprune.prune``), in
    place of the ``data`` and ``model`` configs and dense training."""

    data: DataSplits
    model: torch.nn.Module  # trained; copied, never changed


def run(cfg: DictConfig, run_dir: Path, given: Given | None = None) -> dict:
    """Run the search and baselines described by ``cfg`` (on ``given`` data and model, when
    given); write outputs to ``run_dir``. torch runs on ``cfg.threads`` threads meanwhile (0:
    as it was), and on as many as before after."""
    check_config(cfg, data_and_model=given is None)
    with torch_threads(cfg.threads):
        return _run(cfg, run_dir, given)


def _run(cfg: DictConfig, run_dir: Path, given: Given | None = None) -> dict:
    start = time.perf_counter()
    seed_everything(cfg.seed)
    config = OmegaConf.to_container(cfg, resolve=True)
    if cfg.get("note"):
        console.print(f"note: {cfg.note}", highlight=False)
    checkpoint = SearchCheckpoint(
        start_run(run_dir, config, resume=cfg.resume), every=cfg.checkpoint.every,
        every_episodes=cfg.checkpoint.every_episodes, resume=cfg.resume,
    )
    tracker = make_tracker(cfg.logger.kind, **_tracker_args(cfg, run_dir, config))
    problem = None
    try:
        problem = space_and_evaluator(cfg, config, *data_and_dense_model(cfg, config, given))
        if cfg.sensitivity.enabled:
            paths = write_sensitivity(sensitivity(problem.space, problem.evaluator,
                                                  ratios=list(cfg.sensitivity.ratios)), run_dir)
            console.print(f"sensitivity: {', '.join(str(p) for p in paths)}")
        scorer = search_evaluator(cfg, problem) if search_enabled(cfg) else None
        searched, front = search(cfg, problem, scorer, tracker, checkpoint, run_dir)
        others = baselines(cfg, config["baselines"], problem)
        methods = {**searched, **others}
        finished = finish_methods(cfg, problem, methods,
                                  checkpoints=run_dir / CHECKPOINT_DIR,
                                  match_compute=cfg.compute_matched)
        if front:  # a multi-objective search: the whole accuracy-cost trade-off it found
            write_front(front, problem, scorer,
                        score_description(cfg, problem.data.task.score_name), methods, finished,
                        cfg.budget, run_dir, finetune_front(cfg, config, problem, front))
        return report(cfg, config, problem, methods, finished, run_dir,
                      time.perf_counter() - start, tracker)
    finally:
        try:
            if problem is not None:
                problem.evaluator.close()  # stops Ray workers (and Ray, if it started it)
        finally:
            tracker.finish()


def data_and_dense_model(cfg: DictConfig, config: dict, given: Given | None = None
                         ) -> tuple[DataSplits, torch.nn.Module]:
    """Stage 2: the data splits and the trained dense model (the one given, the user's
    weights, a cached model, or one trained now)."""
    if given is None:
        data = make_data(config["data"], cfg.seed, make_task(config["task"]))
        model = make_model(config["model"], data.input_shape, data.num_classes)
    else:
        data, model = given.data, copy.deepcopy(given.model)
    check_model_accepts(model, data)
    # the data is moved where it is used: per training batch (or once, to a GPU with room)
    model = model.to(resolve_device(cfg.device))
    # a layer the space cannot prune or count, or a baseline that cannot prune this model, is
    # refused now, not after training
    space = pruning_space(model, data, config["pruning"])
    trained = given is not None or bool(cfg.weights)
    penalty = check_against_model(config, model, space, data, weights_given=trained)
    if given is not None:
        console.print(f"dense model: the {type(model).__name__} given, as trained")
        return data, model.eval()
    if cfg.weights:
        load_weights(model, cfg.weights)
        model.eval()
        console.print(f"dense model loaded from {cfg.weights}")
        return data, model
    train = TrainConfig(**config["train"])
    key = dense_cache_key(config["data"], config["model"], config["train"], cfg.seed,
                          device=next(model.parameters()).device, threads=torch.get_num_threads(),
                          task=config["task"])
    model, cached = load_or_train_dense(
        model, data, train, seed=cfg.seed, cache_dir=Path(cfg.cache_dir).expanduser(),
        cache_key=key, progress=cfg.progress, penalty=penalty,
    )
    console.print(f"dense model {'loaded from cache' if cached else 'trained'} (key {key})")
    return data, model


def pruning_space(model: torch.nn.Module, data: DataSplits, settings: dict):
    """The model's pruning space; a setting that does not fit the model (a layer name it does
    not have) is a config error naming the key."""
    try:
        return make_space(model, data.train.inputs(2).to(next(model.parameters()).device),
                          **settings)
    except UserError:
        raise
    except ValueError as err:  # the space's checks of its own settings against the model
        raise ConfigError(f"pruning.{err}") from None


def space_and_evaluator(cfg: DictConfig, config: dict, data: DataSplits,
                        model: torch.nn.Module) -> Problem:
    """Stage 3: the pruning space, the evaluator every method is scored by, the dense row."""
    space = pruning_space(model, data, config["pruning"])
    latency = LatencySettings(**config["latency"])
    # with no search, nothing is budgeted in latency: baselines prune to MACs
    cost = search_cost(cfg) if search_enabled(cfg) else "macs"
    evaluator = Evaluator(model, space, data.val, calibration=data.train, latency=latency,
                          task=data.task, **{**config["evaluator"], "cost": cost})
    dense = dense_row(model, space, data, latency, batch_size=evaluator.batch_size)
    if config["evaluator"]["mode"] == "auto" and next(model.parameters()).is_cuda:
        console.print("scoring on the GPU one mask at a time; evaluator.mode=batched runs "
                      f"{config['evaluator']['batch_candidates']} per pass (`python "
                      "experiments/bench_cifar.py --modes auto,batched` says which is faster "
                      "on this GPU)", highlight=False)
    console.print(
        f"dense: {data.task.label('val')} {dense['val_acc']:.4f}, "
        f"{data.task.label('test')} {dense['test_acc']:.4f}, "
        f"{dense['macs']:,} MACs, {len(space.groups)} prunable groups, {space.num_units} units"
    )
    if evaluator.table is not None:
        console.print(f"latency table: {evaluator.table.cells} layer timings in "
                      f"{evaluator.table.build_s:.1f} s")
    if evaluator.dense_latency_ms is not None:
        console.print(f"search cost: latency, dense {evaluator.dense_latency_ms:.3f} ms")
        _warn_if_unsteady(evaluator.dense_latency_ms, dense["latency_ms"])
    return Problem(data, model, space, evaluator, dense, latency, cost,
                   TrainConfig(**config["finetune"]), _distill(cfg))


def search(cfg: DictConfig, problem: Problem, scorer: Evaluator | FinetunedEvaluator | None,
           tracker, checkpoint: SearchCheckpoint,
           run_dir: Path) -> tuple[dict[str, Pruned], list[dict] | None]:
    """Stage 4: the searched method's answer (none with ``search=none``), found by scoring
    candidates with ``scorer``, and its Pareto front when the strategy is multi-objective;
    its history in search_history.csv and convergence.png."""
    if not search_enabled(cfg):
        return {}, None
    strategy = make_strategy(cfg)
    # the one-shot baselines' masks it starts from (warm_start), before any search step
    starts = [answer.mask for answer in baselines(cfg, list(cfg.warm_start), problem,
                                                  progress=False).values()]
    # with the proxy, every candidate gets the plain score and the promoted ones the proxy's
    fidelity = None if scorer is problem.evaluator else Promotion(
        scorer.accuracy, cfg.proxy.promote, problem.space.key)
    result = run_search(strategy, problem.space, problem.evaluator,
                        make_fitness(cfg.fitness),
                        cfg.budget, callback=tracker.log, checkpoint=checkpoint,
                        progress=cfg.progress, finalists=cfg.selection.finalists,
                        starts=starts, fidelity=fidelity, **search_limits(cfg))
    found = result.objectives
    screened = "" if fidelity is None else f", {result.screened} given the plain score"
    console.print(
        f"{strategy.name}: {result.evaluations} evaluations{screened} ({result.requests} "
        f"requested), {result.wall_time_s:.1f} s, best {problem.data.task.label('val')} "
        f"{found.val_acc:.4f} at "
        f"{found.cost_ratio:.3f} of dense {COST_UNITS[problem.cost]}"
    )
    if result.extra:  # the strategy's own figures (RL: its greedy episode against random)
        console.print(f"{strategy.name}: " + ", ".join(
            f"{key} {value:.4f}" for key, value in result.extra.items()), highlight=False)
    history = write_history(result.history, run_dir, budget=cfg.budget)
    console.print(f"search history: {history['csv']}, {history['png']}")
    chosen, selected = select(cfg, problem, result.finalists)
    figures = {"evaluations": result.evaluations, "screened": result.screened,
               "requests": result.requests,
               "wall_time_s": result.wall_time_s, "cost": problem.cost,
               "cost_ratio": chosen.objectives.cost_ratio, **result.extra, **selected}
    if problem.cost == "latency":  # as the search measured them (validation inputs)
        figures.update(latency_ms=chosen.objectives.latency_ms,
                       dense_latency_ms=problem.evaluator.dense_latency_ms)
        if problem.evaluator.table is not None:  # its build comes before the search's clock
            figures.update(latency_table_s=problem.evaluator.table.build_s,
                           latency_table_cells=problem.evaluator.table.cells)
    return {strategy.name: Pruned(chosen.mask, figures={"search": figures})}, result.front


def score_description(cfg: DictConfig, metric: str = "accuracy") -> str:
    """What the search's ``val_acc`` is, in words (pareto.png's axis, pareto.json's score):
    the task's ``metric`` on the validation split, right after pruning or after the proxy's
    brief fine-tune."""
    epochs = proxy_epochs(cfg.proxy.epochs, cfg.finetune.epochs)
    if not epochs:
        return SCORE.replace("accuracy", metric)
    count, unit = (epochs, "epoch") if cfg.proxy.steps is None else (cfg.proxy.steps, "step")
    promoted = "" if cfg.proxy.promote == 1 else (
        f", for the best {cfg.proxy.promote:g} of each step's new candidates by the plain "
        "score (proxy.promote; the others' predicted from it)")
    return (f"validation {metric} after a brief fine-tune of {count} {unit}"
            f"{'s' if count != 1 else ''} (the search's score, proxy){promoted}")


def search_evaluator(cfg: DictConfig, problem: Problem) -> Evaluator | FinetunedEvaluator:
    """The search's full-fidelity score: the evaluator, or with ``proxy.epochs > 0`` the
    evaluator with each candidate's accuracy taken after the proxy's brief fine-tune."""
    epochs = proxy_epochs(cfg.proxy.epochs, cfg.finetune.epochs)
    console.print(f"search score: {score_description(cfg, problem.data.task.score_name)}",
                  highlight=False)
    if not epochs:
        return problem.evaluator
    recipe, samples = proxy_recipe(problem.finetune, epochs, cfg.proxy.steps, cfg.proxy.samples)
    return FinetunedEvaluator(
        problem.evaluator, dense=problem.model, train=problem.data.train,
        val=problem.data.val.head(cfg.evaluator.val_samples), recipe=recipe, seed=cfg.seed,
        samples=samples)


def select(cfg: DictConfig, problem: Problem, finalists: list[Scored]) -> tuple[Scored, dict]:
    """Stage 4b: the searched method's answer among its finalists: the best by fitness, or
    with ``selection.finalists > 1`` the most accurate after a brief fine-tune of each (and
    what the selection saw, for results.json)."""
    if len(finalists) < 2:
        return finalists[0], {}
    recipe = dataclasses.replace(problem.finetune, epochs=cfg.selection.epochs)
    selection = select_by_finetuning(
        finalists, dense=problem.model, space=problem.space,
        calibration_batches=problem.evaluator.calibration_batches, train=problem.data.train,
        val=problem.data.val, recipe=recipe, seed=cfg.seed, samples=cfg.selection.samples,
        progress=cfg.progress, task=problem.data.task,
        batch_size=problem.evaluator.batch_size)
    accuracies, chosen = selection.accuracies, selection.chosen
    console.print(
        f"selection: finalist {chosen + 1} of {len(finalists)} by validation accuracy after "
        f"{recipe.epochs} epoch(s) of fine-tuning ({accuracies[chosen]:.4f}; the best by "
        f"fitness reached {accuracies[0]:.4f})")
    return finalists[selection.chosen], {"selection": {
        "finalists": len(finalists), "chosen_rank": selection.chosen,
        "val_acc_before": [f.objectives.val_acc for f in finalists],
        "val_acc_after_brief_finetune": accuracies}}


def baselines(cfg: DictConfig, names, problem: Problem, *, budget: float | None = None,
              progress: bool | None = None) -> dict[str, Pruned]:
    """Stage 5: the baselines ``names`` (``baselines=``; or the search's ``warm_start``) at
    the run's budget (or at ``budget``, for the front's fine-tuning; ``progress`` overrides
    the config's)."""
    context = registry.BaselineContext(
        problem.model, problem.space, problem.data, cfg.budget if budget is None else budget,
        cfg.seed, finetune=problem.finetune, distill=problem.distill,
        gradual_steps=cfg.gradual.steps, importance_p=cfg.pruning.get("importance_p", 1),
        progress=cfg.progress if progress is None else progress)
    answers = {}
    for name in registry.applicable(names, problem.space)[0]:
        seed_everything(cfg.seed)  # each baseline from the same RNG state, whatever the order
        answers[name] = registry.prune(name, context)
    return answers


def finish_methods(cfg: DictConfig, problem: Problem, methods: dict[str, Pruned], *,
                   progress: bool | None = None, checkpoints: Path | None = None,
                   match_compute: bool = False) -> dict:
    """Stage 6: every method fine-tuned the same way (unless it did so itself) and measured
    (``progress`` overrides the config's); with ``checkpoints``, each fine-tuning keeps an
    epoch checkpoint there, which ``resume=true`` continues from; with ``match_compute``,
    the compute-matched baselines as well (:func:`compute_matched`)."""
    progress = cfg.progress if progress is None else progress
    finished = {}
    for name, pruned in methods.items():
        finished[name] = _finish_one(cfg, problem, name, pruned, problem.finetune, progress,
                                     checkpoints)
    if match_compute:
        finished.update(compute_matched(cfg, problem, methods, finished, progress, checkpoints))
    return finished


def _finish_one(cfg: DictConfig, problem: Problem, name: str, pruned: Pruned,
                recipe: TrainConfig, progress: bool, checkpoints: Path | None):
    """One method fine-tuned with ``recipe`` and measured, its fine-tune timed."""
    seed_everything(cfg.seed)  # every method fine-tunes from the same RNG state
    start = time.perf_counter()
    finished = finish(
        name, pruned, dense=problem.model, space=problem.space, evaluator=problem.evaluator,
        data=problem.data, finetune=recipe, seed=cfg.seed, latency=problem.latency,
        distill=problem.distill, progress=progress,
        checkpoint=checkpoints / f"finetune-{name}.pt" if checkpoints else None)
    if pruned.model is None:  # a method that trains itself has no fine-tune of its own
        finished.row["finetune_s"] = time.perf_counter() - start
    return finished


def compute_matched(cfg: DictConfig, problem: Problem, methods: dict[str, Pruned],
                    finished: dict, progress: bool, checkpoints: Path | None) -> dict:
    """Stage 6c (``compute_matched=true``): every one-shot baseline fine-tuned again for as
    long as the search ran, as extra epochs at the searched method's measured fine-tune
    speed: the ``<name>+compute`` rows."""
    searched = next((name for name, p in methods.items() if "search" in p.figures), None)
    if searched is None or not problem.finetune.epochs:
        return {}
    search_s = float(methods[searched].figures["search"]["wall_time_s"])
    per_epoch = finished[searched].row["finetune_s"] / problem.finetune.epochs
    extra = max(0, round(search_s / per_epoch))
    recipe = dataclasses.replace(problem.finetune, epochs=problem.finetune.epochs + extra)
    console.print(f"compute-matched baselines: the search's {search_s:.1f} s are {extra} "
                  f"extra epochs at {per_epoch:.2f} s/epoch: {recipe.epochs} in all",
                  highlight=False)
    matched = {}
    for name, pruned in methods.items():
        if name == searched or pruned.model is not None:  # not gradual: it trains itself
            continue
        done = _finish_one(cfg, problem, f"{name}+compute", pruned, recipe, progress,
                           checkpoints)
        done.row["compute_matched"] = {"epochs": recipe.epochs, "extra_epochs": extra,
                                       "search_s": search_s, "seconds_per_epoch": per_epoch}
        matched[f"{name}+compute"] = done
    return matched


def finetune_front(cfg: DictConfig, config: dict, problem: Problem,
                   front: list[dict]) -> dict | None:
    """Stage 6b (``pareto.finetune``: a count > 0, or MACs budgets): front members spread by
    MACs ratio or the best within each budget, and every baseline at their MACs ratios, each
    fine-tuned and measured by stage 6's code."""
    if not cfg.pareto.finetune:
        return None
    start = time.perf_counter()
    finetuned = finetune_along_front(
        front, config["pareto"]["finetune"], space=problem.space,
        baselines_at=lambda budget: baselines(cfg, config["baselines"], problem, budget=budget,
                                              progress=False),
        finish_one=lambda name, pruned: finish_methods(cfg, problem, {name: pruned},
                                                       progress=False)[name],
        progress=cfg.progress)
    finetuned["dense_test_acc"] = problem.dense["test_acc"]
    finetuned["metric"] = problem.data.task.score_name
    finetuned["wall_time_s"] = time.perf_counter() - start
    console.print(finetuned_table(finetuned))
    console.print(f"front after fine-tuning: {len(finetuned['members'])} members and the "
                  f"baselines at their MACs ratios, {finetuned['wall_time_s']:.1f} s")
    return finetuned


def report(cfg: DictConfig, config: dict, problem: Problem, methods: dict[str, Pruned],
           finished: dict, run_dir: Path, wall_time_s: float, tracker) -> dict:
    """Stage 7: results.json, a mask and an exported model per method, the console table, the
    tracker's summary, table and files."""
    searched = next((name for name, p in methods.items() if "search" in p.figures), None)
    rows = {name: method.row for name, method in finished.items()}
    results: Results = {"config": config,
               "task": problem.data.task.name, "metric": problem.data.task.score_name,
               "cost": cost_rule(problem.cost, problem.space.kind, problem.latency),
               "dense": problem.dense, "methods": rows, "searched": searched,
               "wall_time_s": wall_time_s}
    for name, pruned in methods.items():
        write_json(run_dir / f"mask_{name}.json", problem.space.describe(pruned.mask))
        program = export_model(run_dir / f"model_{name}.pt2", finished[name].model,
                               problem.data.test.inputs(2))
        if cfg.export.onnx:
            try:
                rows[name]["onnx_max_abs_diff"] = export_onnx(
                    run_dir / f"model_{name}.onnx", program, problem.data.test.inputs(64))
            except OnnxExportError as err:  # said, never silent; the .pt2 stands
                console.print(f"model_{name}.onnx not written: {err}", highlight=False)
        save_pruned_weights(run_dir / WEIGHTS_FILE.format(method=name), finished[name].model,
                            pruned.mask, problem.data.input_shape, problem.data.num_classes)
        try:
            save_torch_atomic(run_dir / PRUNE_FILE.format(method=name), prune_state_dict(
                problem.model, problem.space, pruned.mask, finished[name].model))
        except ValueError as err:  # said, never silent
            console.print(f"{PRUNE_FILE.format(method=name)} not written: {err}",
                          highlight=False)
    write_json(run_dir / RESULTS_FILE, results)  # last: its presence means the run completed
    if rows:
        console.print(results_table(results, cfg.budget, cost=problem.cost))
    console.print(f"outputs: {run_dir}")
    tracker.summary({"dense": problem.dense, "methods": rows})
    tracker.table("methods", [{"method": name, **row}
                              for name, row in {"dense": problem.dense, **rows}.items()])
    tracker.files(tracked_files(run_dir), base=run_dir)
    return results


def write_front(front: list[dict], problem: Problem,
                scorer: Evaluator | FinetunedEvaluator, score: str, methods: dict[str, Pruned],
                finished: dict, budget: float, run_dir: Path,
                finetuned: dict | None = None) -> None:
    """pareto.json / .png: the front, with the dense model and the baselines scored by the
    search's own ``scorer`` (``score`` says what that is: the same validation subset,
    BatchNorm recalibration, latency timing and, with the proxy, brief fine-tune), the
    searched mask (the member fine-tuned) marked, each method's validation accuracy after
    the full fine-tune, and the budget; with ``finetuned`` (stage 6b), that too, and its
    figure pareto_finetuned.png."""
    def point(mask, name=None):
        [objectives] = scorer.evaluate([mask])
        figures = {"val_acc": objectives.val_acc, "macs_ratio": objectives.macs_ratio}
        if problem.cost == "latency":
            figures.update(latency_ms=objectives.latency_ms, latency_ratio=objectives.cost_ratio)
        if name is not None:  # the same mask, fine-tuned (measured on the whole val split)
            figures["val_acc_after_finetune"] = finished[name].row["val_acc"]
        return figures

    searched = next(name for name, p in methods.items() if "search" in p.figures)
    paths = write_pareto(front, run_dir, reference=reference_point(problem.evaluator.chance),
                         dense=point(problem.space.full_mask()),
                         baselines={name: point(p.mask, name) for name, p in methods.items()
                                    if name != searched},
                         chosen={"name": searched, **point(methods[searched].mask, searched)},
                         budget=budget, finetuned=finetuned, score=score,
                         cost_key="latency_ratio" if problem.cost == "latency" else "macs_ratio")
    console.print(f"pareto front: {', '.join(str(path) for path in paths.values())}")


def _distill(cfg: DictConfig) -> DistillConfig | None:
    if not cfg.distill.enabled:
        return None
    return DistillConfig(alpha=cfg.distill.alpha, temperature=cfg.distill.temperature)


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


def _tracker_args(cfg: DictConfig, run_dir: Path, config: dict) -> dict:
    if cfg.logger.kind == "none":
        return {}
    return {"project": cfg.logger.project, "run_dir": run_dir, "config": config,
            "mode": cfg.logger.mode, "tags": list(cfg.logger.tags), "name": run_dir.name}
