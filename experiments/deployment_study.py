"""Tables of the deployment study: what rounding widths to a multiple of 8 costs in accuracy
and buys in latency, and how latency-budgeted searches compare with the MACs search at equal
measured latency.

    python experiments/deployment_study.py STUDY_DIR > experiments/deployment/study_tables.md
    python experiments/deployment_study.py STUDY_DIR --plot latency_accuracy.png > ...

STUDY_DIR holds Hydra multiruns (any depth) of one model. Every model a run wrote is timed
again here, in this process, interleaved over all runs (the lowest of ``--rounds`` medians of
``--repeats`` passes of 64 test-shaped inputs on one thread), so that load on a shared machine
hits every model alike: ``model_<method>.pt2`` in torch and, where the run wrote it,
``model_<method>.onnx`` in ONNX Runtime. Sections:

1. Rounding: for each method run with ``pruning.round_to`` 1 and 8 (same seeds and budget),
   test accuracy after fine-tuning, MACs ratio and latency in both runtimes, and round_to 8
   minus round_to 1, paired by seed.
2. Latency-budgeted searches (``evaluator.cost=latency``; ``latency.estimate`` table or
   measured): each seed's searched model against the MACs search's, whose test accuracy is
   read at the latency model's measured latency by linear interpolation between the MACs
   search's budgets (the MACs search must run at several budgets around it), paired by seed;
   and the search's seconds (the table's build included).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from evoprune.evaluate.latency import measure_latency_ms  # noqa: E402
from evoprune.evaluate.runtime import OnnxSession  # noqa: E402
from evoprune.report.aggregate.collect import paired_difference  # noqa: E402
from evoprune.report.aggregate.tables import paired_cells  # noqa: E402


def runs(root: Path) -> list[tuple[Path, dict]]:
    return [(path.parent, json.loads(path.read_text()))
            for path in sorted(root.rglob("results.json"))]


def retime(jobs, args) -> dict[tuple[Path, str, str], float]:
    """(job dir, method, runtime) -> the lowest of the rounds' median milliseconds."""
    models = {}
    for job_dir, results in jobs:
        shape = results["config"]["data"].get("input_shape") or [1, 40]
        inputs = torch.randn(64, *shape, generator=torch.Generator().manual_seed(0))
        for method in results["methods"]:
            program = torch.export.load(str(job_dir / f"model_{method}.pt2")).module()
            models[(job_dir, method, "torch")] = (lambda p=program, x=inputs: p(x), inputs)
            onnx = job_dir / f"model_{method}.onnx"
            if onnx.exists():
                session = OnnxSession(onnx.read_bytes(), threads=1)
                models[(job_dir, method, "onnxruntime")] = (lambda s=session, x=inputs: s(x),
                                                            inputs)
    timings = defaultdict(list)
    for _ in range(args.rounds):  # interleaved: drift hits every model alike
        for key, (call, inputs) in models.items():
            timings[key].append(measure_latency_ms(_Call(call), inputs, repeats=args.repeats,
                                                   warmup=3, threads=1))
    return {key: min(values) for key, values in timings.items()}


class _Call(torch.nn.Module):
    """A callable timed as a module (``measure_latency_ms`` times modules)."""

    def __init__(self, call) -> None:
        super().__init__()
        self.call = call

    def forward(self, inputs):
        return self.call()


def rounding_section(jobs, latency) -> list[str]:
    by = defaultdict(dict)  # (method, budget, round_to) -> seed -> figures
    for job_dir, results in jobs:
        config = results["config"]
        if config["evaluator"]["cost"] != "macs":
            continue
        for method, row in results["methods"].items():
            figures = {"test_acc": row["test_acc"], "macs_ratio": row["macs_ratio"],
                       **{f"{runtime}_ms": latency[(job_dir, method, runtime)]
                          for runtime in ("torch", "onnxruntime")
                          if (job_dir, method, runtime) in latency}}
            by[(method, config["budget"], config["pruning"]["round_to"])][config["seed"]] = \
                figures
    keys = sorted({(m, b) for m, b, r in by if r == 8 and (m, b, 1) in by})
    lines = ["## 1. Rounding to 8: round_to=8 minus round_to=1, paired by seed", "",
             "Latency: milliseconds for 64 inputs; Δ ms is round_to=8 minus round_to=1, paired "
             "by seed, with its 95 % t-interval.", "",
             "| method | budget | MACs ratio (1 → 8) | test acc (1 → 8) | Δ test acc (95 % CI) "
             "| p | seeds ahead | torch ms (1 → 8) | Δ torch ms | ONNX Runtime ms (1 → 8) | "
             "Δ ONNX Runtime ms |",
             "| --- | ---: | --- | --- | --- | ---: | ---: | --- | --- | --- | --- |"]
    for method, budget in keys:
        one, eight = by[(method, budget, 1)], by[(method, budget, 8)]
        difference = paired_difference(method, budget, list(eight.items()),
                                       {"round_to=1": one}, "test_acc", "round_to=8")
        mean, interval, p, ahead = paired_cells(difference)[4:]
        faster = [_milliseconds(paired_difference(method, budget, list(eight.items()),
                                                  {"round_to=1": one}, name, "round_to=8"))
                  if all(name in f for f in [*one.values(), *eight.values()]) else "–"
                  for name in ("torch_ms", "onnxruntime_ms")]
        lines.append(f"| {method} | {budget:g} | {_means(one, eight, 'macs_ratio')} | "
                     f"{_means(one, eight, 'test_acc')} | {mean} {interval} | {p} | {ahead} | "
                     f"{_means(one, eight, 'torch_ms')} | {faster[0]} | "
                     f"{_means(one, eight, 'onnxruntime_ms')} | {faster[1]} |")
    return lines + [""]


def _means(before: dict, after: dict, name: str) -> str:
    """``mean before → mean after`` of one figure over the seeds (– where a run lacks it)."""
    if not all(name in figures for figures in [*before.values(), *after.values()]):
        return "–"
    return (f"{np.mean([f[name] for f in before.values()]):.4g} → "
            f"{np.mean([f[name] for f in after.values()]):.4g}")


def _milliseconds(difference) -> str:
    """A paired difference of milliseconds: mean [95 % interval] (– without one)."""
    if difference is None or np.isnan(difference.low):
        return "–"
    return f"{difference.mean:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]"


def searches_by_cost(jobs, latency) -> tuple[dict, dict]:
    """The MACs search's runs per seed (measured ms, test acc, seconds, budget), and each
    latency-budgeted search's figures per seed (unrounded runs only)."""
    macs_runs = defaultdict(list)  # seed -> (measured ms, test acc, seconds, budget)
    searches = defaultdict(dict)  # variant -> seed -> figures
    for job_dir, results in jobs:
        config, searched = results["config"], results["searched"]
        if searched is None or config["pruning"]["round_to"] != 1:
            continue
        row = results["methods"][searched]
        ms = latency[(job_dir, searched, "torch")]
        seconds = row["search"]["wall_time_s"] + row["search"].get("latency_table_s", 0.0)
        if config["evaluator"]["cost"] == "macs":
            if searched == "ga":  # the MACs search every latency search is held against
                macs_runs[config["seed"]].append((ms, row["test_acc"], seconds,
                                                  config["budget"]))
            continue
        variant = f"{searched} {config['latency']['estimate']} at {config['budget']:g}"
        searches[variant][config["seed"]] = {"test_acc": row["test_acc"], "ms": ms,
                                             "seconds": seconds,
                                             "cost_ratio": row["search"]["cost_ratio"]}
    return macs_runs, searches


def latency_section(jobs, latency) -> list[str]:
    macs_runs, searches = searches_by_cost(jobs, latency)
    lines = ["## 2. Latency-budgeted searches against the MACs search at equal measured "
             "latency", "",
             "The MACs search's test accuracy at each latency model's measured latency is "
             "interpolated between its budgets (seed by seed; outside their range, the nearest "
             "budget's).", "",
             "| search | measured ms | test acc | MACs search at that latency | seeds within "
             "the MACs search's range | Δ test acc (95 % CI) | p | seeds ahead | search s "
             "(MACs search s) |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |"]
    for variant, seeds in sorted(searches.items()):
        matched, inside = {}, 0
        for seed, figures in seeds.items():
            points = sorted(macs_runs.get(seed, []))
            if len(points) < 2:
                continue
            matched[seed] = {"test_acc": float(np.interp(
                figures["ms"], [p[0] for p in points], [p[1] for p in points]))}
            inside += points[0][0] <= figures["ms"] <= points[-1][0]
        if not matched:
            continue
        ours = [(seed, seeds[seed]) for seed in matched]
        difference = paired_difference(variant, 0.0, ours, {"macs search": matched},
                                       "test_acc", "")
        mean, interval, p, ahead = paired_cells(difference)[4:]
        macs_seconds = np.mean([p[2] for seed in matched for p in macs_runs[seed]])
        lines.append(
            f"| {variant} | {np.mean([seeds[s]['ms'] for s in matched]):.3f} | "
            f"{np.mean([seeds[s]['test_acc'] for s in matched]):.4f} | "
            f"{np.mean([m['test_acc'] for m in matched.values()]):.4f} | "
            f"{inside} of {len(matched)} | {mean} {interval} | "
            f"{p} | {ahead} | {np.mean([seeds[s]['seconds'] for s in matched]):.1f} "
            f"({macs_seconds:.1f}) |")
    return lines + [""]


def plot(jobs, latency, path: Path) -> None:
    """Test accuracy after fine-tuning against measured torch latency: the MACs search at
    each budget (mean over seeds, joined), each latency-budgeted search (mean ± std), and
    the GA with widths rounded to 8."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    macs_runs, searches = searches_by_cost(jobs, latency)
    figure, ax = plt.subplots(figsize=(6.4, 4.4))
    by_budget = defaultdict(list)
    for points in macs_runs.values():
        for ms, acc, _, budget in points:
            by_budget[budget].append((ms, acc))
    if by_budget:
        budgets = sorted(by_budget)
        ax.plot([np.mean([p[0] for p in by_budget[b]]) for b in budgets],
                [np.mean([p[1] for p in by_budget[b]]) for b in budgets], "o-", color="gray",
                label="GA, MACs budget " + ", ".join(f"{b:g}" for b in budgets))
    for variant, seeds in sorted(searches.items()):
        ms = [f["ms"] for f in seeds.values()]
        acc = [f["test_acc"] for f in seeds.values()]
        ax.errorbar(np.mean(ms), np.mean(acc), xerr=np.std(ms), yerr=np.std(acc), fmt="s",
                    capsize=3, label=f"{variant} of dense latency")
    rounded = [(latency[(d, "ga", "torch")], r["methods"]["ga"]["test_acc"]) for d, r in jobs
               if r["config"]["pruning"]["round_to"] == 8 and "ga" in r["methods"]]
    if rounded:
        ax.plot(np.mean([p[0] for p in rounded]), np.mean([p[1] for p in rounded]), "D",
                color="black", label="GA, pruning.round_to=8")
    ax.set_xlabel("measured latency, ms (torch, 64 inputs, one thread)")
    ax.set_ylabel("test accuracy after fine-tuning")
    ax.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw accuracy against measured latency into this PNG")
    parser.add_argument("--timings", type=Path, default=None,
                        help="JSON of the re-timed latencies: read if it exists (the tables "
                             "and the plot are then remade without timing), else written")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    jobs = runs(args.study_dir)
    if not jobs:
        raise SystemExit(f"no results.json under {args.study_dir}")
    if args.timings is not None and args.timings.exists():
        latency = {(args.study_dir / job, method, runtime): ms for job, method, runtime, ms
                   in json.loads(args.timings.read_text())}
    else:
        latency = retime(jobs, args)
        if args.timings is not None:
            records = [[str(job.relative_to(args.study_dir)), method, runtime, ms]
                       for (job, method, runtime), ms in sorted(latency.items(), key=str)]
            args.timings.write_text(  # a model per line
                "[\n" + ",\n".join(json.dumps(record) for record in records) + "\n]\n")
    print("\n".join(["# Deployment study: tables", "", f"{len(jobs)} runs under "
                     f"`{args.study_dir}`; every model re-timed here, interleaved, the lowest "
                     f"of {args.rounds} medians of {args.repeats} passes of 64 inputs on one "
                     "thread.", ""] + rounding_section(jobs, latency)
                    + latency_section(jobs, latency)))
    if args.plot is not None:
        plot(jobs, latency, args.plot)


if __name__ == "__main__":
    main()
