"""The checks a run's config must pass before any work starts (each error names the value and
what is allowed), and the two questions about a config that both the checks and ``run.py`` ask."""

from __future__ import annotations

from hydra.utils import get_class
from omegaconf import DictConfig

from evoprune.baselines.oneshot import baseline_names
from evoprune.evaluate.evaluator import COSTS, check_backend
from evoprune.evaluate.latency import LatencySettings
from evoprune.evaluate.scorer import MODES
from evoprune.search.cost import COST_UNITS


def check_config(cfg: DictConfig) -> None:
    """Refuse bad top-level values before any work starts."""
    if not isinstance(cfg.seed, int) or isinstance(cfg.seed, bool):
        raise ValueError(f"seed must be an integer, got {cfg.seed!r}")
    if not isinstance(cfg.resume, bool):
        raise ValueError(f"resume must be true or false, got {cfg.resume!r}")
    cost = search_cost(cfg)
    if cost not in COSTS:
        raise ValueError(f"fitness.cost must be one of {sorted(COSTS)}, got {cost!r}")
    if not isinstance(cfg.budget, (int, float)) or not 0.0 < cfg.budget <= 1.0:
        hint = ""
        if not isinstance(cfg.budget, (int, float, bool)):  # '', [] or a list from a sweep typo
            hint = "; each run takes one budget, sweep several with budget=0.5,0.25 (multirun)"
        raise ValueError(
            f"budget must be a fraction of dense {COST_UNITS[cost]} in (0, 1], got "
            f"{cfg.budget!r}{hint}"
        )
    if cost == "latency" and cfg.pruning.kind != "structured":
        raise ValueError(
            f"fitness.cost=latency needs pruning=structured: pruning={cfg.pruning.kind} removes "
            "nothing, so every mask runs at dense latency; use fitness.cost=macs"
        )
    if cost == "latency" and search_enabled(cfg):
        searcher = get_class(cfg.search._target_)
        if cost not in getattr(searcher, "costs", ("macs",)):
            name = getattr(searcher, "name", searcher.__name__)
            raise ValueError(
                f"fitness.cost=latency is not supported by search={name}, which budgets MACs "
                "analytically; use search=ga or search=nsga2, or fitness.cost=macs"
            )
    available = baseline_names(cfg.pruning.kind)
    unknown = sorted(set(cfg.baselines) - set(available))
    if unknown:
        raise ValueError(
            f"baselines {unknown} do not exist for pruning={cfg.pruning.kind}; choose from "
            f"{sorted(available)}"
        )
    if not search_enabled(cfg) and not cfg.baselines and not cfg.sensitivity.enabled:
        raise ValueError("nothing to run: search=none, baselines=[] and sensitivity off; choose "
                         f"a search or baselines from {sorted(available)}")
    LatencySettings(**cfg.latency)  # checks its values
    if cfg.evaluator.mode not in MODES:
        raise ValueError(f"evaluator.mode must be one of {list(MODES)}, got {cfg.evaluator.mode!r}")
    settings = cfg.evaluator
    check_backend(settings.backend, settings.workers, settings.ray_address,
                  settings.worker_threads)
    if settings.backend == "ray":  # fail now, not after training the dense model
        from evoprune.evaluate.ray_backend import import_ray

        import_ray()


def search_enabled(cfg: DictConfig) -> bool:
    # search=none leaves `search` null, or holding only overrides given on the command line
    return cfg.search is not None and cfg.search.get("_target_") is not None


def search_cost(cfg: DictConfig) -> str:
    """What the search's budget limits: ``fitness.cost``, ``macs`` (default) or ``latency``."""
    return cfg.fitness.get("cost", "macs") if cfg.get("fitness") is not None else "macs"
