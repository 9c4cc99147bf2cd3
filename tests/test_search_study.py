"""experiments/search_study.py: its tables from hand-made job dirs, checked by hand."""

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow  # the study script (subprocesses)

SCRIPT = REPO / "experiments" / "search_study.py"


def job(root, name, seed, budget, test_acc, search, finetune=0, history=None, epochs=5,
        proxy=1):
    job_dir = root / f"{name}_{seed}_{budget}_{epochs}_{proxy}"
    job_dir.mkdir(parents=True)
    config = {"seed": seed, "budget": budget, "pareto": {"finetune": finetune},
              "finetune": {"epochs": epochs}, "proxy": {"epochs": proxy}}
    methods = {name: {"test_acc": test_acc, "search": search}}
    (job_dir / "results.json").write_text(json.dumps(
        {"config": config, "searched": name, "methods": methods}))
    if history:
        header = ",".join(history[0])
        rows = [",".join(str(v) for v in row.values()) for row in history]
        (job_dir / "search_history.csv").write_text("\n".join([header, *rows]) + "\n")
    return job_dir


def study(tmp_path):
    for seed, (rl_acc, control_acc) in enumerate([(0.90, 0.88), (0.91, 0.88), (0.89, 0.88)]):
        rl = {"wall_time_s": 2.0, "requests": 20, "evaluations": 10, "greedy_fitness": 0.6,
              "random_median_fitness": 0.4}
        job(tmp_path / "rl", "rl", seed, 0.1, rl_acc, rl,
            history=[{"episode": 0, "best_fitness": 0.5}, {"episode": 1, "best_fitness": 0.55}])
        control = {"wall_time_s": 1.0, "requests": 20, "evaluations": 20}
        # the control reaches 0.5 after 8 masks, 0.7 after 16: RL's 10 masks meet the 0.7 row
        job(tmp_path / "random", "random_search", seed, 0.1, control_acc, control,
            history=[{"step": 0, "evals": 8, "best_fitness": 0.5},
                     {"step": 1, "evals": 8, "best_fitness": 0.7},
                     {"step": 2, "evals": 4, "best_fitness": 0.8}])
    return subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                          text=True, timeout=120)


def test_tables_of_a_small_study(tmp_path):
    process = study(tmp_path)
    assert process.returncode == 0, process.stderr
    out = process.stdout
    # RL − control: +2, +3, +1 points: mean +2.00, ahead on all three seeds
    assert "| rl | 0.1 | random_search | 3 | +2.00 |" in out and "3 of 3 |" in out
    # RL's best is its history's last best or its greedy episode: 0.6; the control's best after
    # 10 masks is 0.7 (the row that took it past 10), after all 0.8
    assert "| 0.1 | 0 | 0.6000 | 0.4000 | 0.6000 | 10 | 0.7000 | 0.8000 |" in out
    assert "| 0.1 | 3 of 3 | 0 of 3 | 0 of 3 |" in out
    # cost: 2 s over 20 scored masks = 100 ms; over 10 distinct = 200 ms
    assert "| rl | 3 | 2.0 | 20 | 10 | 100.0 | 200.0 |" in out


def test_the_control_pairs_within_each_fine_tune_length_and_score(tmp_path):
    """A study of two fine-tune lengths: each GA run against the control of its own length
    (and score; auto resolved as the run did), never the other's."""
    search = {"wall_time_s": 1.0, "requests": 4, "evaluations": 4}
    for seed in range(3):
        for epochs, proxy, ga, control in ((5, 1, 0.90, 0.85), (20, "auto", 0.93, 0.94)):
            job(tmp_path, "ga", seed, 0.1, ga + 0.01 * seed, search, epochs=epochs, proxy=proxy)
            job(tmp_path, "random_search", seed, 0.1, control + 0.01 * seed, search,
                epochs=epochs, proxy=proxy)
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                         text=True, timeout=120).stdout
    assert ("| ga (finetune.epochs=5, proxy.epochs=1) | 0.1 | random_search "
            "(finetune.epochs=5, proxy.epochs=1) | 3 | +5.00 |") in out
    assert ("| ga (finetune.epochs=20, proxy.epochs=0) | 0.1 | random_search "
            "(finetune.epochs=20, proxy.epochs=0) | 3 | -1.00 |") in out


def test_an_empty_dir_is_refused(tmp_path):
    process = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)],
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == 1 and "no results.json under" in process.stderr


def test_front_table_pairs_the_member_within_each_budget_with_the_baselines(tmp_path):
    for seed, member_acc in enumerate([0.93, 0.95]):
        job_dir = job(tmp_path / "nsga2", "nsga2", seed, 0.25, 0.9, {
            "wall_time_s": 1.0, "requests": 4, "evaluations": 4}, finetune=[0.5, 0.1])
        front = [{"macs_ratio": r} for r in (0.08, 0.1, 0.3, 0.49)]
        members = [{"front_index": 1, "macs_ratio": 0.1, "test_acc_after_finetune": 0.8},
                   {"front_index": 3, "macs_ratio": 0.49, "test_acc_after_finetune": member_acc}]
        baselines = {"uniform_magnitude": [
            {"budget": 0.1, "test_acc_after_finetune": 0.78},
            {"budget": 0.49, "test_acc_after_finetune": 0.92}]}
        (job_dir / "pareto.json").write_text(json.dumps(
            {"front": front, "finetuned": {"members": members, "baselines": baselines}}))
    process = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)],
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    out = process.stdout
    assert "| nsga2 front | 0.9400 | 0.8000 |" in out  # budgets 0.5, 0.1: means over seeds
    assert "| uniform_magnitude | 0.9200 | 0.7800 |" in out
    assert "0.5: 0.4900, 0.1: 0.1000" in out  # the members' MACs ratios
    # front − baseline: +1 and +3 points at 0.5 (mean +2.00), +2 at 0.1 on both seeds
    assert "| nsga2 front | 0.5 | uniform_magnitude | 2 | +2.00 |" in out
    assert "| nsga2 front | 0.1 | uniform_magnitude | 2 | +2.00 |" in out


def test_a_searchs_own_settings_name_it_and_it_pairs_with_the_control(tmp_path):
    for seed in range(3):
        for generations, acc in ((20, 0.90), (40, 0.92)):
            job_dir = job(tmp_path / f"ga{generations}", "ga", seed, 0.1, acc + seed / 100,
                          {"wall_time_s": 1.0, "requests": 10, "evaluations": 5})
            results = json.loads((job_dir / "results.json").read_text())
            results["config"]["search"] = {"generations": generations, "population_size": 32}
            (job_dir / "results.json").write_text(json.dumps(results))
        job(tmp_path / "random", "random_search", seed, 0.1, 0.88 + seed / 100,
            {"wall_time_s": 1.0, "requests": 10, "evaluations": 5})
    process = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True,
                             text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-2000:]
    assert "| ga (search.generations=20) | 0.1 | random_search | 3 | +2.00 |" in process.stdout
    assert "| ga (search.generations=40) | 0.1 | random_search | 3 | +4.00 |" in process.stdout
