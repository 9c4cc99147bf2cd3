"""Tables of a search study that ``python -m evoprune.report.aggregate`` does not make.

    python experiments/search_study.py STUDY_DIR > study_tables.md

STUDY_DIR holds Hydra multiruns (any depth): single-budget searches (``search=ga``, ``random``,
``rl``) and, optionally, NSGA-II runs with ``pareto.finetune=[budgets]``. Four sections:

1. Each searched method minus the random-search control (test accuracy after fine-tuning),
   paired by seed: what the search adds over sampling as many masks at random.
2. NSGA-II's front after fine-tuning: at each budget, the front member fine-tuned there minus
   the best baseline fine-tuned at the member's MACs ratio, paired by seed.
3. Does the RL agent learn? Per run, its greedy episode against the median random warm-up
   episode, and its best fitness against the random-search control's best after the same
   number of scored masks (the control's history), and after all of its own.
4. Search cost: wall time per scored mask, per method (cache hits counted, as the driver
   reports them), and per distinct model evaluation.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from evoprune.finish.along_front import members_within
from evoprune.finish.proxy import proxy_epochs
from evoprune.report.aggregate.collect import paired_differences, spelt
from evoprune.report.aggregate.tables import paired_cells, paired_markdown

FRONT = "nsga2 front"
CONTROL = "random_search"


def runs(root: Path) -> list[tuple[Path, dict]]:
    """Every finished job under ``root``: its dir and results.json."""
    found = []
    for path in sorted(root.rglob("results.json")):
        found.append((path.parent, json.loads(path.read_text())))
    return found


def front_section(jobs) -> list[str]:
    samples: dict[tuple[str, float], list[tuple[int, dict]]] = defaultdict(list)
    for job_dir, results in jobs:
        pareto_file = job_dir / "pareto.json"
        budgets = results["config"]["pareto"]["finetune"]
        if not pareto_file.exists() or not isinstance(budgets, list):
            continue
        pareto = json.loads(pareto_file.read_text())
        seed = int(results["config"]["seed"])
        ratios = [entry["macs_ratio"] for entry in pareto["front"]]
        members = {m["front_index"]: m for m in pareto["finetuned"]["members"]}
        for budget in budgets:
            [index] = members_within(ratios, [budget]) or [None]
            if index is None:
                continue
            member = members[index]
            samples[(FRONT, budget)].append(
                (seed, {"test_acc": member["test_acc_after_finetune"],
                        "macs_ratio": member["macs_ratio"]}))
            for name, entries in pareto["finetuned"]["baselines"].items():
                entry = next(e for e in entries if e["budget"] == member["macs_ratio"])
                samples[(name, budget)].append(
                    (seed, {"test_acc": entry["test_acc_after_finetune"]}))
    if not samples:
        return []
    budgets = sorted({b for _, b in samples}, reverse=True)
    lines = ["## NSGA-II's front after fine-tuning", "",
             "Test accuracy after the standard fine-tune, mean over seeds: the front member "
             "within each budget, and each baseline pruned at that member's MACs ratio.", "",
             "| method | " + " | ".join(f"{b:g}" for b in budgets) + " |",
             "| --- |" + " ---: |" * len(budgets)]
    for method in dict.fromkeys(m for m, _ in samples):
        cells = [f"{np.mean([f['test_acc'] for _, f in samples[(method, b)]]):.4f}"
                 if samples.get((method, b)) else "–" for b in budgets]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    ratios = [f"{b:g}: {np.mean([f['macs_ratio'] for _, f in samples[(FRONT, b)]]):.4f}"
              for b in budgets]
    lines += ["", "Members' mean MACs ratio per budget: " + ", ".join(ratios) + "."]
    return lines + paired_markdown(paired_differences(samples, {FRONT}))


def control_section(jobs) -> list[str]:
    """Each searched method minus the random-search control, after fine-tuning, by seed,
    within each fine-tune length and search score where the study varies them."""
    samples: dict[tuple[str, float], list[tuple[int, dict]]] = defaultdict(list)
    single = [results for _, results in jobs if results.get("searched")
              and not isinstance(results["config"]["pareto"]["finetune"], list)]
    settings = [_setting(results["config"]) for results in single]
    varied = len(set(settings)) > 1
    parts: dict[str, tuple[str, str]] = {}
    starts = [results["config"].get("warm_start") or [] for results in single]
    tuned = _search_settings(single)
    for results, setting, start, search in zip(single, settings, starts, tuned):
        config, name = results["config"], results["searched"]
        # a warm start and the strategy's own settings are the search's (the control has
        # neither): they name the method; the pairing stays with the control of the setting
        own = ", ".join(filter(None, [setting if varied else "", search,
                                      f"warm_start=[{','.join(start)}]" if start else ""]))
        label = f"{name} ({own})" if own else name
        parts[label] = (name, setting if varied else "")
        samples[(label, float(config["budget"]))].append(
            (int(config["seed"]), results["methods"][name]))
    searched = {label for label, (name, _) in parts.items() if name != CONTROL}
    if not searched or len(searched) == len(parts):
        return []
    lines = ["## Searched − random-search control, paired by seed", "",
             "Test accuracy after fine-tuning, in points; the control stands where the "
             "aggregate's paired table puts the best baseline.", "",
             "| searched | budget | control | n | mean difference | 95 % CI | paired t-test p | "
             "seeds ahead |", "| --- | ---: | --- |" + " ---: |" * 5]
    return lines + ["| " + " | ".join(paired_cells(d)) + " |"
                    for d in paired_differences(samples, searched, parts=parts)]


def _search_settings(runs: list[dict]) -> list[str]:
    """Per run, the ``search.*`` values that differ between runs of its method (e.g.
    ``search.generations=40``), as overrides spell them; empty where none differ."""
    by_method = defaultdict(list)
    for results in runs:
        by_method[results["searched"]].append(results["config"].get("search") or {})
    varying = {name: sorted(key for key in {k for c in configs for k in c}
                            if len({json.dumps(c.get(key)) for c in configs}) > 1)
               for name, configs in by_method.items()}
    return [", ".join(f"search.{key}={spelt(results['config']['search'].get(key))}"
                      for key in varying[results["searched"]]) for results in runs]


def _setting(config: dict) -> str:
    """What a searched run's result depends on besides seed and budget: its fine-tune length
    and the search score (``proxy.epochs`` as it resolved, and with the proxy on, its steps
    and promoted share where the run recorded them)."""
    epochs = config.get("finetune", {}).get("epochs")
    if epochs is None:
        return ""
    settings = config.get("proxy", {})
    proxy = proxy_epochs(settings.get("epochs", 1), epochs)
    text = f"finetune.epochs={epochs}, proxy.epochs={proxy}"
    if proxy:
        text += "".join(f", proxy.{key}={spelt(settings[key])}"
                        for key in ("steps", "promote") if key in settings)
    return text


def best_after(history: Path, scored: int) -> float:
    """The control's best fitness once it had scored ``scored`` masks (its rows count them)."""
    with open(history, newline="") as handle:
        rows = list(csv.DictReader(handle))
    seen = 0
    for row in rows:
        seen += int(row["evals"])
        if seen >= scored:
            return float(row["best_fitness"])
    return float(rows[-1]["best_fitness"])


def rl_section(jobs) -> list[str]:
    controls = {(r["config"]["seed"], r["config"]["budget"]): (d, r) for d, r in jobs
                if r.get("searched") == "random_search"}
    lines = ["## Does the RL agent learn?", "",
             "Fitness (validation accuracy of a feasible mask, scored as the search scores it). "
             "Greedy: the trained agent's own episode, without noise. Random: the median of "
             "its random warm-up episodes. Control: the random search's best after as many "
             "distinct masks as RL scored, and after all of its own.", "",
             "| budget | seed | greedy | random median | RL best | RL distinct masks | "
             "control at that many | control at all |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows, summary = [], defaultdict(list)
    for job_dir, results in jobs:
        if results.get("searched") != "rl":
            continue
        config, search = results["config"], results["methods"]["rl"]["search"]
        key = (config["seed"], config["budget"])
        with open(job_dir / "search_history.csv", newline="") as handle:
            best = float(list(csv.DictReader(handle))[-1]["best_fitness"])
        best = max(best, search["greedy_fitness"])
        control_at = control_all = float("nan")
        if key in controls:
            control_dir, control = controls[key]
            control_at = best_after(control_dir / "search_history.csv", search["evaluations"])
            control_all = best_after(control_dir / "search_history.csv", 10**9)
        rows.append((config["budget"], config["seed"], search["greedy_fitness"],
                     search["random_median_fitness"], best, search["evaluations"],
                     control_at, control_all))
    for budget, seed, greedy, median, best, evaluations, at, everything in sorted(
            rows, key=lambda r: (-r[0], r[1])):
        lines.append(f"| {budget:g} | {seed} | {greedy:.4f} | {median:.4f} | {best:.4f} | "
                     f"{evaluations} | {at:.4f} | {everything:.4f} |")
        summary[(budget, "greedy")].append(greedy > median)
        if not np.isnan(at):  # a control ran at this budget and seed
            summary[(budget, "at")].append(best >= at)
            summary[(budget, "all")].append(best >= everything)
    if not rows:
        return []
    lines += ["", "| budget | greedy > random median | RL best ≥ control at equal masks | "
              "RL best ≥ control at all |", "| ---: | ---: | ---: | ---: |"]
    for budget in sorted({b for b, _ in summary}, reverse=True):
        cells = [f"{sum(summary[(budget, k)])} of {len(summary[(budget, k)])}"
                 for k in ("greedy", "at", "all")]
        lines.append(f"| {budget:g} | " + " | ".join(cells) + " |")
    return lines


def cost_section(jobs) -> list[str]:
    figures = defaultdict(lambda: defaultdict(list))
    for _, results in jobs:
        name = results.get("searched")
        if not name:
            continue
        search = results["methods"][name]["search"]
        figures[name]["wall"].append(search["wall_time_s"])
        figures[name]["requests"].append(search["requests"])
        figures[name]["evaluations"].append(search["evaluations"])
    if not figures:
        return []
    lines = ["## Search cost", "",
             "Mean over the runs (each on one torch thread, while another study job ran on the "
             "other core).", "",
             "| method | runs | wall s | masks scored | distinct evaluations | ms per mask "
             "scored | ms per distinct evaluation |", "| --- | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    for name, f in figures.items():
        wall, requests, evaluations = (np.array(f[k], float) for k in
                                       ("wall", "requests", "evaluations"))
        lines.append(f"| {name} | {len(wall)} | {wall.mean():.1f} | {requests.mean():.0f} | "
                     f"{evaluations.mean():.0f} | {1e3 * (wall / requests).mean():.1f} | "
                     f"{1e3 * (wall / evaluations).mean():.1f} |")
    return lines


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python experiments/search_study.py STUDY_DIR")
    jobs = runs(Path(argv[0]))
    if not jobs:
        sys.exit(f"error: no results.json under {argv[0]}")
    sections = [control_section(jobs), front_section(jobs), rl_section(jobs),
                cost_section(jobs)]
    print("\n\n".join("\n".join(s) for s in sections if s))


if __name__ == "__main__":
    main(sys.argv[1:])
