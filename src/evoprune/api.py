"""``evoprune.prune``: one run from Python, on a trained model and torch Datasets or DataLoaders;
``python -m evoprune inspect``: a run's pruning space, before any training.

``prune`` runs exactly what ``python -m evoprune`` runs (the same stages, checks, figures and
files in a run directory), with the data and the dense model handed over as objects instead of
the ``data`` and ``model`` configs and dense training. Every other setting is the config's,
changed by the same overrides the command line takes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf
from torch import nn

from evoprune.config.checks import check_config
from evoprune.config.errors import ConfigError
from evoprune.config.keys import CONFIG_DIR, check_known, check_renamed
from evoprune.config.model_checks import check_model_accepts
from evoprune.config.targets import make_data, make_model, make_task
from evoprune.data.datasets import from_datasets
from evoprune.infra.progress import console
from evoprune.load import load_pruned
from evoprune.pruning.inspection import Inspection, inspect
from evoprune.run import Given, run


@dataclass(frozen=True)
class PruneReport:
    """What :func:`prune` ran and measured: the run directory (every file a command-line run
    writes: results.json, masks, models, plots) and its ``results.json`` as a dict."""

    run_dir: Path
    results: dict
    method: str  # the method whose pruned model prune() returned

    @property
    def row(self) -> dict:
        """The returned model's row of results.json (test_acc, macs_ratio, ...)."""
        return self.results["methods"][self.method]

    @property
    def dense(self) -> dict:
        """The dense model's row."""
        return self.results["dense"]

    def __str__(self) -> str:
        row, dense = self.row, self.dense
        return (f"{self.method}: test_acc {row['test_acc']:.4f} (dense {dense['test_acc']:.4f}) "
                f"at {row['macs_ratio']:.3f} of dense MACs; files in {self.run_dir}")


def prune(model: nn.Module, train, val, *, test=None, budget: float = 0.5, search: str = "ga",
          seed: int = 0, overrides: Sequence[str] = (), output_dir: str | Path | None = None,
          progress: bool = True) -> tuple[nn.Module, PruneReport]:
    """Search a pruning of the trained ``model`` within ``budget`` of its MACs, fine-tune it,
    compare it with the baselines, and return the pruned model and a :class:`PruneReport`.

    Args:
        model: the trained dense model (copied; never changed).
        train, val, test: torch Datasets, or DataLoaders over them, of ``(input, label)``
            pairs (a class index; with ``overrides=["task=regression"]`` or another task, what
            it reads): ``train`` for fine-tuning (and BatchNorm calibration), ``val`` for
            the search's scores and the choice among finalists, ``test`` for the reported
            figures. Without ``test``, they are measured on ``val`` (said at the start: those
            figures then favour what was chosen on it).
        budget: the share of the dense model's MACs the pruned model may keep, in (0, 1].
        search: ``ga``, ``nsga2``, ``rl``, ``random`` or ``none`` (baselines only).
        seed: drives every random choice; the same seed and settings give the same answer.
        overrides: any other setting, as on the command line (``"search.generations=30"``,
            ``"finetune.epochs=10"``, ``"baselines=all"``; docs: reference/configuration).
        output_dir: the run directory (default: ``evoprune_runs/<date>_<time>``).
        progress: rich progress bars.

    Returns:
        The searched method's pruned, fine-tuned model (with ``search="none"``, the first
        baseline's), in eval mode on the CPU, and the report.

    Raises:
        evoprune.infra.errors.UserError: a setting, the data or the model refused, with one
            line saying what and what is allowed.
    """
    if not isinstance(model, nn.Module):
        raise ConfigError(f"prune: model must be a torch.nn.Module, got {type(model).__name__}")
    cfg = _config([f"search={search}", f"budget={budget}", f"seed={seed}", "logger=none",
                   f"progress={str(bool(progress)).lower()}", *overrides])
    check_config(cfg, data_and_model=False)  # before the data is read
    task = make_task(OmegaConf.to_container(cfg.task, resolve=True))
    if test is None:
        console.print("prune: no test split given: the test figures are measured on val, the "
                      "split the search chose on", highlight=False)
    splits = from_datasets(train, val, val if test is None else test, seed=seed,
                           source="evoprune.prune", task=task)
    _describe(cfg, model, [train, val, test])
    run_dir = Path(output_dir) if output_dir else _fresh_dir(Path("evoprune_runs"))
    run_dir.mkdir(parents=True, exist_ok=True)
    results = run(cfg, run_dir, Given(splits, model))
    method = results["searched"] or next(iter(results["methods"]))
    return (load_pruned(run_dir, method, model=model),
            PruneReport(run_dir=run_dir, results=results, method=method))


def _fresh_dir(root: Path) -> Path:
    """``root/<date>_<time>``, with a suffix when a run of the same second holds it (a fresh
    run clears the directory it is given)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    candidate, number = root / stamp, 1
    while candidate.exists():
        candidate, number = root / f"{stamp}-{number}", number + 1
    return candidate


def inspect_run(overrides: Sequence[str]) -> Inspection:
    """The pruning space of the run ``overrides`` describe (``python -m evoprune inspect
    <overrides>``): its data made and its model built, untrained; the config checked as a run
    checks it."""
    cfg = _config(list(overrides), command="inspect")
    check_config(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    data = make_data(config["data"], cfg.seed, make_task(config["task"]))
    model = make_model(config["model"], data.input_shape, data.num_classes)
    check_model_accepts(model, data)
    return inspect(model, data.train.inputs(2), **config["pruning"])


def _config(overrides: list[str], command: str = "prune"):
    """The run's config: the defaults with ``overrides``, refused as the command line would."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    check_renamed(overrides)
    check_known({o.lstrip("+~").partition("=")[0].split(".")[0] for o in overrides})
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(f"{command}: {str(error).splitlines()[0]}") from None


def _describe(cfg, model: nn.Module, datasets: list) -> None:
    """results.json's ``data`` and ``model`` say what was given (no config can rebuild it)."""
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.data = {"given": ", ".join(type(d).__name__ for d in datasets if d is not None)}
        cfg.model = {"given": type(model).__name__}
