"""Every config value checked before any work starts, in one place.

The ranges live where the values are used: each section of the config is handed to the
library code that takes it (``TrainConfig`` for ``train`` and ``finetune``, the search strategy
for ``search``, the evaluator's settings check for ``evaluator``, ...), which raises a plain
``ValueError`` about its own parameter (``lr must be a finite number > 0, got -1``). This module
maps that to the dotted key the user typed (``finetune.lr must be ...``) as a
:class:`ConfigError`. Nothing here generates data, trains or writes a file: the checks take well
under a second.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from evoprune.baselines import registry
from evoprune.baselines.gradual import check_steps
from evoprune.config.errors import ConfigError
from evoprune.config.keys import check_known, closest
from evoprune.config.targets import build, call_arguments, make_task
from evoprune.evaluate.evaluator import Objectives, check_settings
from evoprune.evaluate.fitness import Fitness
from evoprune.evaluate.latency import LatencySettings
from evoprune.evaluate.runtime import require_onnx
from evoprune.evaluate.sensitivity import check_ratios
from evoprune.finish.along_front import check_front_finetune
from evoprune.finish.proxy import check_proxy
from evoprune.finish.select import check_selection
from evoprune.infra.checkpoint import SearchCheckpoint, existing_weights
from evoprune.infra.device import resolve_device
from evoprune.infra.tracking import check_settings as check_tracker_settings
from evoprune.infra.validators import check_bool, check_int
from evoprune.pruning import check_space_settings
from evoprune.search.base import STRATEGY_BASES, Strategy
from evoprune.search.cost import COST_UNITS
from evoprune.search.loop import check_search_limits
from evoprune.training.distill import DistillConfig
from evoprune.training.train import TrainConfig

_FIRST_WORD = re.compile(r"[A-Za-z_]\w*")
_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


@contextlib.contextmanager
def section(name: str, keys) -> Iterator[None]:
    """Turn a library error about parameter ``p`` into one about ``name.p`` (``p`` in
    ``keys``), or prefix it with ``name:`` when it is about something else."""
    try:
        yield
    except ConfigError:
        raise
    except (ValueError, TypeError, ImportError, InstantiationException) as err:
        if isinstance(err, InstantiationException):  # Hydra wraps the constructor's error
            if not isinstance(err.__cause__, (ValueError, TypeError)):
                raise
            err = err.__cause__
        message = str(err)
        unexpected = _UNEXPECTED.search(message)
        if unexpected and unexpected.group(1) in keys:
            key = unexpected.group(1)
            raise ConfigError(f"{name}.{key} is not a setting of {name}"
                              f"{closest(key, set(keys) - {key})}") from err
        first = _FIRST_WORD.match(message)
        if first and first.group() in keys:
            raise ConfigError(f"{name}.{message}") from err
        raise ConfigError(f"{name}: {message}") from err


@contextlib.contextmanager
def top_level() -> Iterator[None]:
    """A library error about a top-level key (its message starts with the key) as it is."""
    try:
        yield
    except ValueError as err:
        raise ConfigError(str(err)) from err


def check_config(cfg: DictConfig, *, data_and_model: bool = True) -> None:
    """Refuse any bad value of ``cfg`` before work starts (raises :class:`ConfigError`);
    ``data_and_model=False`` leaves out the ``data`` and ``model`` sections (a run on data and
    a model given as objects)."""
    _check_top_level(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    cost = search_cost(cfg)
    for name in ("train", "finetune"):
        with section(name, config[name]):
            TrainConfig(**config[name])
    with section("evaluator", config["evaluator"]):
        check_settings(**config["evaluator"])
        if cfg.evaluator.backend == "ray":  # fail now, not after training the dense model
            from evoprune.evaluate.ray_backend import import_ray

            import_ray()
    with section("fitness", config["fitness"]):
        fitness = make_fitness(cfg.fitness)
        fitness(Objectives(val_acc=0.5, macs=1000, params=10, macs_ratio=0.5), cfg.budget)
    _check_task(cfg, config)
    if search_enabled(cfg):
        _check_search(cfg, config, cost)
    with section("pruning", config["pruning"]):
        check_space_settings(**config["pruning"])
    if cost == "latency" and cfg.pruning.kind != "structured":
        raise ConfigError(
            f"evaluator.cost=latency needs pruning=structured: pruning={cfg.pruning.kind} removes "
            "nothing, so every mask runs at dense latency; use evaluator.cost=macs")
    for name, check in (("latency", lambda c: LatencySettings(**c)),
                        ("checkpoint", lambda c: SearchCheckpoint("unused", **c)),
                        ("distill", lambda c: DistillConfig(alpha=c["alpha"],
                                                            temperature=c["temperature"])),
                        ("gradual", lambda c: check_steps(c["steps"])),
                        ("selection", lambda c: check_selection(**c)),
                        ("proxy", lambda c: check_proxy(**c)),
                        ("pareto", lambda c: check_front_finetune(**c)),
                        ("sensitivity", lambda c: check_ratios(c["ratios"]))):
        with section(name, config[name]):
            check(config[name])
    with section("export", config["export"]):
        check_bool("onnx", config["export"]["onnx"])
    if cfg.export.onnx or cfg.latency.runtime == "onnxruntime":  # before any training
        require_onnx("export.onnx=true" if cfg.export.onnx else "latency.runtime=onnxruntime")
    if cfg.pareto.finetune and not _multi_objective(cfg):
        raise ConfigError(
            f"pareto.finetune={cfg.pareto.finetune} fine-tunes members of a Pareto front, which "
            "only a multi-objective search makes: use search=nsga2, or pareto.finetune=0")
    with section("logger", config["logger"]):
        check_tracker_settings(**config["logger"])
    with section("baselines", ()):
        names = registry.resolve(config["baselines"], cfg.pruning.kind)
    with section("warm_start", ()):
        starts = registry.check_warm_start(config["warm_start"], cfg.pruning.kind)
    if cfg.compute_matched and not (search_enabled(cfg) and names):
        raise ConfigError("compute_matched=true gives the baselines the search's time as extra "
                          "fine-tuning: it needs a search and baselines (search=none or "
                          "baselines=[] leaves nothing to match)")
    if starts and not (search_enabled(cfg) and strategy_class(cfg).starts_population):
        raise ConfigError(f"warm_start={starts} seeds a first population: use search=ga or "
                          "search=nsga2, or warm_start=[]")
    if not search_enabled(cfg) and not names and not cfg.sensitivity.enabled:
        raise ConfigError("nothing to run: search=none, baselines=[] and sensitivity off; choose "
                          f"a search or baselines from {registry.names_for(cfg.pruning.kind)}")
    if data_and_model:
        _check_data_and_model(cfg, config)


def _check_top_level(cfg: DictConfig) -> None:
    check_known(cfg.keys())
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be given (??? in the config): add "
                          + " ".join(f"{key}=<value>" for key in missing) + " to the command")
    with top_level():
        resolve_device(cfg.device)
        check_int("seed", cfg.seed)
        check_int("threads", cfg.threads, 0)
        for key in ("resume", "progress", "compute_matched", "distill.enabled",
                    "sensitivity.enabled"):
            check_bool(key, OmegaConf.select(cfg, key))
    if not isinstance(cfg.cache_dir, str) or not cfg.cache_dir.strip():
        raise ConfigError(f"cache_dir must be a directory path, got {cfg.cache_dir!r}")
    if cfg.weights is not None:
        try:
            existing_weights(str(cfg.weights))
        except FileNotFoundError as err:
            raise ConfigError(str(err)) from err
    budget = cfg.budget
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 1:
        hint = ""
        if not isinstance(budget, (int, float, bool)):  # '', [] or a list from a sweep typo
            hint = "; each run takes one budget, sweep several with budget=0.5,0.25 (multirun)"
        unit = COST_UNITS.get(search_cost(cfg), "MACs")
        raise ConfigError(
            f"budget must be a fraction of dense {unit} in (0, 1], got {budget!r}{hint}")


def _multi_objective(cfg: DictConfig) -> bool:
    return search_enabled(cfg) and strategy_class(cfg).multi_objective


def strategy_class(cfg: DictConfig) -> type[Strategy]:
    """The search strategy class ``search._target_`` names (search enabled), found and checked
    to be one."""
    config = OmegaConf.to_container(cfg.search, resolve=True)
    with section("search", config):
        strategy = get_class(cfg.search._target_)
    if not (isinstance(strategy, type) and issubclass(strategy, STRATEGY_BASES)):
        raise ConfigError(f"search._target_={cfg.search._target_} is not a search strategy: "
                          "a strategy subclasses evoprune.search.base.AskTellStrategy or "
                          "SelfDrivenStrategy")
    return strategy


def _check_search(cfg: DictConfig, config: dict, cost: str) -> None:
    strategy = strategy_class(cfg)  # what it supports, before its settings
    name = strategy.name
    if cost not in strategy.costs:
        raise ConfigError(
            f"evaluator.cost={cost} is not supported by search={name}, which budgets "
            f"{' or '.join(strategy.costs)}; use evaluator.cost=macs or a search that does")
    if cfg.pruning.kind not in strategy.kinds:
        raise ConfigError(f"search={name} needs pruning={' or '.join(strategy.kinds)}, got "
                          f"pruning={cfg.pruning.kind}")
    if cfg.pruning.kind == "unstructured" and cfg.search.get("encoding") == "mask":
        raise ConfigError("search.encoding=mask needs pruning=structured: unstructured pruning "
                          "keeps weights by magnitude per layer; use search.encoding=ratios")
    with section("search", config["search"]):
        check_search_limits(**search_limits(cfg))
        make_strategy(cfg)  # constructors check their settings


#: keys of ``search`` that the driver reads (every strategy's budget), not the strategy
SEARCH_LIMITS = ("max_evaluations", "max_seconds")


def make_strategy(cfg: DictConfig) -> Strategy:
    """The search strategy ``search`` configures (search enabled), seeded by ``seed``."""
    settings = OmegaConf.to_container(cfg.search, resolve=True)
    for key in SEARCH_LIMITS:
        settings.pop(key, None)
    return instantiate(settings, seed=cfg.seed)


def search_limits(cfg: DictConfig) -> dict:
    """``max_evaluations`` and ``max_seconds`` of the search (None: no limit)."""
    return {key: cfg.search.get(key) for key in SEARCH_LIMITS}


def _check_task(cfg: DictConfig, config: dict) -> None:
    """The task made (its loss and metric found), and what only classification allows."""
    with section("task", config["task"]):
        task = make_task(config["task"])
    if task.name == "classification":
        return
    if cfg.distill.enabled:
        raise ConfigError(f"distill.enabled=true distils the dense model's class probabilities, "
                          f"which task={task.name} has none of: use task=classification, or "
                          "distill.enabled=false")
    reward = (config.get("search") or {}).get("reward")
    if ("mnasnet" in str(config["fitness"].get("_target_")) or reward == "mnasnet") \
            and task.name != "multilabel":
        raise ConfigError(f"the mnasnet fitness multiplies the score by a cost factor, which "
                          f"needs a score >= 0; task={task.name}'s {task.score_name} can be "
                          "negative: use fitness=constrained or weighted")


def _check_data_and_model(cfg: DictConfig, config: dict) -> None:
    """The data loader found, taking its config's keys, and its own argument check
    (``check_arguments``, when it has one: no data is made); the model class found, taking
    its keys, and built once when the data config says the input shape and class count (its
    constructor checks its settings; the run seeds every RNG afterwards, so this build
    changes nothing)."""
    data = config["data"]
    with section("data", data):
        loader, arguments = call_arguments("data", data, {"seed": cfg.seed})
        check = getattr(loader, "check_arguments", None)
        if check is not None:
            check(**arguments)
    shape = {"input_shape": data.get("input_shape"), "num_classes": data.get("num_classes")}
    with section("model", config["model"]):
        if None in shape.values():  # the user's data: known once it is loaded
            call_arguments("model", config["model"], shape)
        else:
            build("model", config["model"], **shape)


def make_fitness(fitness_cfg: DictConfig) -> Fitness:
    """The fitness function ``fitness_cfg`` describes."""
    return instantiate(OmegaConf.to_container(fitness_cfg, resolve=True))


def search_enabled(cfg: DictConfig) -> bool:
    # search=none leaves `search` null, or holding only overrides given on the command line
    return cfg.search is not None and cfg.search.get("_target_") is not None


def search_cost(cfg: DictConfig) -> str:
    """What the search's budget limits: ``evaluator.cost``, ``macs`` or ``latency``."""
    return cfg.evaluator.cost



__all__ = ["ConfigError", "check_config", "make_fitness", "search_cost",
           "search_enabled", "section"]
