"""Read a Hydra multirun dir: every job's ``results.json``, summarised per (method, budget).

A job dir is any dir holding ``.hydra/overrides.yaml`` or ``results.json`` (Hydra names them
``0/``, ``1/``, ... by default, but ``hydra.sweep.subdir`` may nest them). A job without a
readable ``results.json`` is listed as missing, with its overrides, and never stops the rest.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from evoprune.infra.checkpoint import CHECKPOINT_DIR, CONFIG_FILE, config_differences
from evoprune.report.results import RESULTS_FILE

# per-method figures summarised over seeds (all documented in the docs' outputs reference)
METRICS = ("test_acc", "test_acc_before_finetune", "val_acc", "macs_ratio", "macs", "params",
           "latency_ms", "evaluations", "search_s")
# a searched method's cost, from its results.json ``search`` figures (baselines have none)
SEARCH_COST = {"evaluations": "evaluations", "search_s": "wall_time_s"}
DENSE_METRICS = ("test_acc", "val_acc", "macs", "params", "latency_ms")

# overrides that never split a method into variants: the swept axes themselves, the choice of
# which methods run (a method's name already says what it is), and settings that change no figure
# compute_matched adds "<name>+compute" rows and changes no other: runs with and without it
# are the same experiment for every other method
_NOT_A_VARIANT = {"seed", "budget", "baselines", "search", "progress", "threads", "cache_dir",
                  "logger", "compute_matched"}
# settings that change only the searched method (and the compute-matched rows, which follow
# its time): a baseline run beside searches that differ in them is one experiment
SEARCH_ONLY = ("proxy", "search", "selection", "warm_start", "pareto", "fitness")


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (ddof=1; NaN when n == 1) of ``n`` runs."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        array = np.asarray(values, dtype=float)
        std = float(array.std(ddof=1)) if array.size > 1 else float("nan")
        return cls(float(array.mean()), std, int(array.size))


@dataclass(frozen=True)
class Row:
    """One method at one budget (``budget`` None for the dense reference) over seeds."""

    method: str
    budget: float | None
    seeds: tuple[int, ...]
    stats: dict[str, Stat]

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)


@dataclass(frozen=True)
class MissingRun:
    """A job dir without a usable ``results.json``."""

    job_dir: Path
    overrides: list[str]
    reason: str


@dataclass(frozen=True)
class PairedDifference:
    """A searched method minus the best baseline at one budget, seed by seed (same data, same
    dense model): test accuracy after fine-tuning. ``low``/``high``: the 95 % t-interval of the
    mean difference; ``p``: the two-sided paired t-test (NaN with fewer than 2 seeds)."""

    method: str
    budget: float
    baseline: str  # the baseline with the highest mean test accuracy at this budget
    seeds: tuple[int, ...]
    mean: float
    low: float
    high: float
    p: float
    wins: int  # seeds on which the searched method is strictly ahead
    variant: str = ""  # the settings both ran with (e.g. finetune.epochs=20), beyond budget


@dataclass
class Aggregate:
    """Everything ``compare.*`` shows; ``files`` is filled once they are written."""

    multirun_dir: Path
    rows: list[Row]
    dense: list[Row]  # one per distinct (data, model, train) config: usually exactly one
    missing: list[MissingRun]
    completed: int
    debug: dict[str, int] = field(default_factory=dict)  # debug=<name> -> completed runs
    paired: list[PairedDifference] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    # what every test_acc holds (results.json's metric; runs from before tasks: accuracy)
    metric: str = "accuracy"

    @property
    def debug_note(self) -> str:
        """Empty, or the warning that (some of) these runs were debug runs."""
        if not self.debug:
            return ""
        runs = ", ".join(f"{n} with debug={name}" for name, n in sorted(self.debug.items()))
        return (f"debug runs: {runs} (of {self.completed}): tiny training, search and "
                "validation sizes, a check of the pipeline, not a comparison of the methods")


def collect(multirun_dir: str | Path, same: Sequence[str] = ()) -> Aggregate:
    """Summarise every completed job under ``multirun_dir`` (nothing is written); keys in
    ``same`` never split a method into variants."""
    root = Path(multirun_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"multirun dir {str(root)!r} does not exist or is not a dir")
    jobs, missing, debug = [], [], defaultdict(int)
    for job_dir in _job_dirs(root):
        overrides = _read_overrides(job_dir)
        results, reason = _read_results(job_dir)
        if results is None:
            missing.append(MissingRun(job_dir, overrides, reason))
        else:
            jobs.append((job_dir, overrides, results))
            choice = _debug_choice(job_dir, overrides)
            if choice:
                debug[choice] += 1
    if not jobs:
        found = f"{len(missing)} job dir(s), none with a readable {RESULTS_FILE}" if missing \
            else f"no job dir (no {RESULTS_FILE}, no .hydra/overrides.yaml)"
        raise ValueError(f"nothing to aggregate in {str(root)!r}: {found}")
    metrics = sorted({results.get("metric", "accuracy") for _, _, results in jobs})
    if len(metrics) > 1:
        raise ValueError(f"the runs under {str(root)!r} report different metrics ({metrics}): "
                         "compare runs of one task and metric at a time")
    labels = _variant_labels([(overrides, results["config"]) for _, overrides, results in jobs],
                             same=same)
    samples, searched, parts = _method_samples(jobs, labels)
    return Aggregate(root, _method_rows(samples, searched), _dense_rows(jobs, labels), missing,
                     completed=len(jobs), debug=dict(debug),
                     paired=paired_differences(samples, searched, parts=parts),
                     metric=metrics[0])


def _job_dirs(root: Path) -> list[Path]:
    dirs = {p.parent.parent for p in root.rglob(".hydra/overrides.yaml")}
    dirs |= {p.parent for p in root.rglob(RESULTS_FILE)}
    # natural order: job 2 before job 10
    return sorted(dirs, key=lambda d: [int(part) if part.isdigit() else part
                                       for part in re.split(r"(\d+)", str(d.relative_to(root)))])


def _read_overrides(job_dir: Path) -> list[str]:
    try:
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return []  # not a Hydra job dir, or its record is damaged: the dir name still shows
    return [str(o) for o in overrides] if isinstance(overrides, list) else []


def _debug_choice(job_dir: Path, overrides: list[str]) -> str | None:
    """The job's ``debug`` config choice (Hydra records every group's choice), if any."""
    try:
        hydra = yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())
        return hydra["hydra"]["runtime"]["choices"].get("debug")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return _override_items(overrides).get("debug")  # no record: what the command said


def _read_results(job_dir: Path) -> tuple[dict | None, str]:
    """The job's parsed results, or None and why they cannot be used."""
    path = job_dir / RESULTS_FILE
    if not path.is_file():
        return None, f"no {RESULTS_FILE} (the job crashed, was interrupted or is still running)"
    try:
        results = json.loads(path.read_text())
        _check_results(results)
    except (OSError, ValueError, TypeError, KeyError) as err:
        return None, f"unreadable {RESULTS_FILE}: {err}"
    stale = _differences_from_run(job_dir, results["config"])
    if stale:
        return None, (f"{RESULTS_FILE} is not this run's: its config differs from the one the "
                      f"run in this dir started with (started -> {RESULTS_FILE}: "
                      f"{'; '.join(stale)})")
    return results, ""


def _differences_from_run(job_dir: Path, config: dict) -> list[str]:
    """How a results.json's config differs from the config its run dir's last run started
    with (``checkpoint/config.json``, written before any work): a results.json left by an
    earlier run there must not count as this one's."""
    try:
        started = json.loads((job_dir / CHECKPOINT_DIR / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return []  # no record of the start (a results.json copied on its own): nothing to test
    return [line.strip() for line in config_differences(started, config)]


def _check_results(results: dict) -> None:
    for key in ("budget", "seed"):
        if key not in results["config"]:
            raise ValueError(f"config has no {key!r}")
    missing = [k for k in DENSE_METRICS if k not in results["dense"]]
    if missing:
        raise ValueError(f"dense lacks {missing}")
    for name, row in results["methods"].items():
        missing = [k for k in METRICS if k not in row and k not in SEARCH_COST]
        if missing:
            raise ValueError(f"method {name!r} lacks {missing}")


def _override_items(overrides: list[str]) -> dict[str, str]:
    items = {}
    for override in overrides:
        key, _, value = override.partition("=")
        items[key.lstrip("+~")] = value
    return items


def _variant_labels(jobs: list[tuple[list[str], dict]], same: Sequence[str] = ()) -> list[str]:
    """Per job (its overrides and recorded config), the settings that differ between jobs
    (other than seed, budget and method choice), e.g. ``search.encoding=ratios``: without them,
    a sweep over a hyperparameter would silently average different settings into one row.
    Where a job left a varying key at its default, the label takes the value its recorded
    config ran with, not a blank: a default can change between releases, the record cannot.
    Empty when only seeds and budgets vary."""
    items = [_override_items(overrides) for overrides, _ in jobs]
    keys = sorted({k for item in items for k in item})
    varying = [k for k in keys
               if k not in _NOT_A_VARIANT and k not in same
               and not k.startswith(("hydra.", "logger."))
               and len({item.get(k) for item in items}) > 1]
    labels = []
    for item, (_, config) in zip(items, jobs):
        values = {k: item[k] if k in item else _recorded(config, k) for k in varying}
        labels.append(", ".join(f"{k}={v}" for k, v in values.items() if v is not None))
    return labels


def _recorded(config: dict, key: str) -> str | None:
    """The value at dotted ``key`` in a run's recorded config, as an override would spell it
    (None where the config has no such scalar: a key added by ``+key=...`` elsewhere)."""
    value = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, (dict, list)):
        return None
    return spelt(value)


def spelt(value: object) -> str:
    """A scalar config value as an override spells it (``null``, ``true``, ``0.1``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _label(name: str, variant: str) -> str:
    return f"{name} ({variant})" if variant else name


def baseline_variant(variant: str) -> str:
    """A variant label without the settings that change only the search (:data:`SEARCH_ONLY`):
    what the baselines of a job ran with."""
    return ", ".join(part for part in variant.split(", ") if part and
                     part.partition("=")[0].split(".")[0] not in SEARCH_ONLY)


def _variant_of(name: str, variant: str, searched: str | None) -> str:
    """The variant a method of a job is labelled with: the whole of it for the searched method
    and the compute-matched rows, the baseline part for the other baselines."""
    return variant if name == searched or is_compute_matched(name) \
        else baseline_variant(variant)


COMPUTE_MATCHED = "+compute"  # a baseline given the search's time (run.compute_matched)


def is_compute_matched(label: str) -> bool:
    """Whether a method label (``name`` or ``name (variant)``) is a compute-matched
    baseline's."""
    return label.split(" (")[0].endswith(COMPUTE_MATCHED)


def finetune_epochs(variant: str) -> int | None:
    """The fine-tune length a variant label names (``finetune.epochs=20``), or None."""
    for part in variant.split(", "):
        key, _, value = part.partition("=")
        if key == "finetune.epochs" and value.isdigit():
            return int(value)
    return None


def _method_samples(jobs, labels) -> tuple[dict[tuple[str, float], list[tuple[int, dict]]],
                                           set[str], dict[str, tuple[str, str]]]:
    """Every method's figures per (method label, budget), one ``(seed, figures)`` per seed;
    the labels of searched methods; and each label's (method, variant)."""
    samples: dict[tuple[str, float], list[tuple[int, dict]]] = defaultdict(list)
    searched, parts = set(), {}
    for (_, _, results), variant in zip(jobs, labels):
        config = results["config"]
        if results.get("searched"):
            searched.add(_label(results["searched"], variant))
        for name, figures in results["methods"].items():
            own = _variant_of(name, variant, results.get("searched"))
            parts[_label(name, own)] = (name, own)
            if "search" in figures:
                figures = {**figures, **{key: figures["search"].get(recorded)
                                         for key, recorded in SEARCH_COST.items()}}
            key = (_label(name, own), float(config["budget"]))
            seed = int(config["seed"])
            # a method run again at the same budget and seed (baselines in each job of a
            # `search=ga,rl` sweep) is the same experiment: count it once, not as another seed
            if all(seed != seen for seen, _ in samples[key]):
                samples[key].append((seed, figures))
    return samples, searched, parts


def _method_rows(samples, searched) -> list[Row]:
    # searched methods first, then baselines, each in the order first seen
    order = list(dict.fromkeys(method for method, _ in samples))
    keys = sorted(samples, key=lambda k: (k[0] not in searched, order.index(k[0]), -k[1]))
    return [_row(method, budget, samples[(method, budget)], METRICS) for method, budget in keys]


def paired_differences(samples: dict[tuple[str, float], list[tuple[int, dict]]],
                       searched: set[str], metric: str = "test_acc",
                       parts: dict[str, tuple[str, str]] | None = None
                       ) -> list[PairedDifference]:
    """Each searched method minus the best baseline (highest mean ``metric``) at each budget
    and variant (``parts``: each label's method and variant, e.g. a fine-tune length), over
    the seeds both ran: the comparison the study's claim rests on; and, where the runs have
    compute-matched baselines (``<name>+compute``), minus the best of those too. Pairing by
    seed removes what the seed shares (data split, dense model), so it resolves smaller gaps
    than two independent means."""
    parts = parts or {}
    differences = []
    for (method, budget), ours in samples.items():
        if method not in searched:
            continue
        variant = parts.get(method, (method, ""))[1]
        # a rival ran with the same settings, or (a baseline) with those of them that are
        # not the search's own
        settings = {variant, baseline_variant(variant)}
        rivals = {name: dict(runs) for (name, b), runs in samples.items()
                  if b == budget and name not in searched
                  and parts.get(name, (name, ""))[1] in settings}
        for matched in (False, True):
            baselines = {name: runs for name, runs in rivals.items()
                         if is_compute_matched(name) == matched}
            difference = paired_difference(method, budget, ours, baselines, metric, variant)
            if difference is not None:
                differences.append(difference)
    return sorted(differences, key=lambda d: (d.method, -d.budget, d.baseline))


def paired_difference(method: str, budget: float, ours: list[tuple[int, dict]],
                      baselines: dict, metric: str, variant: str) -> PairedDifference | None:
    """``method`` minus the best of ``baselines`` (name -> seed -> figures; the highest mean
    ``metric``), paired by seed (None without one): mean, 95 % t-interval, paired t-test."""
    from scipy import stats  # only when aggregating

    if not baselines:
        return None
    best = max(baselines, key=lambda name: np.mean(
        [figures[metric] for figures in baselines[name].values()]))
    pairs = [(seed, figures[metric], baselines[best][seed][metric])
             for seed, figures in sorted(ours) if seed in baselines[best]]
    if not pairs:
        return None
    diffs = np.array([a - b for _, a, b in pairs])
    mean, n = float(diffs.mean()), len(diffs)
    low = high = p = float("nan")
    if n > 1:
        sem = float(diffs.std(ddof=1)) / np.sqrt(n)
        half = float(stats.t.ppf(0.975, n - 1)) * sem
        low, high = mean - half, mean + half
        if sem > 1e-12:  # the paired t-test: t = mean / sem on n - 1 degrees of freedom
            p = float(2 * stats.t.sf(abs(mean) / sem, n - 1))
        else:  # the same difference on every seed (rounding aside)
            p = 0.0 if abs(mean) > 1e-12 else 1.0
    return PairedDifference(method, budget, best, tuple(s for s, _, _ in pairs), mean, low,
                            high, p, int((diffs > 0).sum()), variant)


def _dense_rows(jobs, labels) -> list[Row]:
    """The dense model is fixed by (data, model, train, seed), like its cache file: one sample
    per seed (latency, measured in every job, averaged over that seed's jobs)."""
    by_config: dict[str, dict[int, list[dict]]] = defaultdict(lambda: defaultdict(list))
    first_label: dict[str, str] = {}
    for (_, _, results), variant in zip(jobs, labels):
        config = results["config"]
        key = json.dumps([_without_seed(config.get(k)) for k in ("data", "model", "train")],
                         sort_keys=True)
        by_config[key][int(config["seed"])].append(results["dense"])
        first_label.setdefault(key, variant)
    rows = []
    for key, per_seed in by_config.items():
        samples = [(seed, {m: float(np.mean([d[m] for d in dense])) for m in DENSE_METRICS})
                   for seed, dense in sorted(per_seed.items())]
        for _, figures in samples:
            figures["macs_ratio"] = 1.0
        label = _label("dense", first_label[key]) if len(by_config) > 1 else "dense"
        rows.append(_row(label, None, samples, (*DENSE_METRICS, "macs_ratio")))
    return rows


def _without_seed(section):
    # data configs carry the run's seed (`seed: ${seed}`): seeds are samples, not settings
    if isinstance(section, dict):
        return {k: v for k, v in section.items() if k != "seed"}
    return section


def _row(method: str, budget: float | None, samples: list[tuple[int, dict]],
         metrics: tuple[str, ...]) -> Row:
    seeds = tuple(seed for seed, _ in samples)
    stats = {}
    for metric in metrics:
        # None marks a figure a method has no honest value for (gradual_magnitude has no
        # one-shot model, so no before-fine-tuning accuracy): the cell stays empty
        values = [figures.get(metric) for _, figures in samples]
        if any(value is not None for value in values):
            stats[metric] = Stat.of([np.nan if v is None else float(v) for v in values])
    return Row(method, budget, seeds, stats)
