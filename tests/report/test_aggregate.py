"""Aggregation of a multirun dir, on fake results.json files with known means and stds."""

from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import pytest
import yaml

from evoprune.report.aggregate import aggregate, collect
from evoprune.report.aggregate.__main__ import main
from evoprune.report.aggregate.recovery import recovery_series
from evoprune.report.aggregate.tables import CSV_COLUMNS

OFFSET = {"ga": 0.0, "uniform_magnitude": -0.05}  # 2 methods
BUDGETS = [0.5, 0.25]
SEEDS = [0, 1, 2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_results(budget: float, seed: int, extra_config: dict | None = None) -> dict:
    """A results.json whose figures are simple functions of method, budget and seed."""
    methods = {
        name: {"val_acc": budget + offset + 0.03 * seed,
               "test_acc": budget + offset + 0.01 * seed,
               "test_acc_before_finetune": budget / 2 + offset + 0.02 * seed,
               "val_acc_before_finetune": budget / 2,
               "macs": int(1000 * budget) - 10 * seed, "macs_ratio": budget - 0.01 * seed,
               "params": 400 * budget + seed, "latency_ms": 1.0 + 0.5 * seed,
               "kept_per_group": {"conv1": 3, "conv2": 4}}
        for name, offset in OFFSET.items()
    }
    config = {"seed": seed, "budget": budget, "data": {"seed": seed, "n": 10},
              "model": {"hidden": [8]}, "train": {"epochs": 1}, **(extra_config or {})}
    dense = {"val_acc": 0.9, "test_acc": 0.90 + 0.01 * seed, "macs": 1000, "params": 500,
             "latency_ms": 2.0 + seed}
    return {"config": config, "task": "classification", "metric": "accuracy", "cost": "MACs",
            "dense": dense, "methods": methods, "searched": "ga", "wall_time_s": 1.0}


def write_job(root: Path, num: int, overrides: list[str], results: dict | str | None) -> Path:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if isinstance(results, dict):
        (job / "results.json").write_text(json.dumps(results))
    elif isinstance(results, str):
        (job / "results.json").write_text(results)
    return job


def write_fake_multirun(root: Path) -> Path:
    """6 completed jobs (2 budgets × 3 seeds, 2 methods each), one crashed, one corrupt."""
    num = 0
    for budget in BUDGETS:
        for seed in SEEDS:
            write_job(root, num, [f"budget={budget}", f"seed={seed}", "experiment=compare"],
                      fake_results(budget, seed))
            num += 1
    write_job(root, num, ["budget=0.05", "seed=2", "experiment=compare"], None)
    write_job(root, num + 1, ["budget=0.1", "seed=0", "experiment=compare"], '{"config": ')
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


@pytest.fixture
def multirun(tmp_path) -> Path:
    return write_fake_multirun(tmp_path / "multirun")


def test_mean_and_sample_std_over_seeds(multirun):
    agg = aggregate(multirun)
    rows = {(row.method, row.budget): row for row in agg.rows}
    assert list(rows) == [("ga", 0.5), ("ga", 0.25), ("uniform_magnitude", 0.5),
                          ("uniform_magnitude", 0.25)]
    for (method, budget), row in rows.items():
        expected = [fake_results(budget, seed)["methods"][method] for seed in SEEDS]
        assert row.n_seeds == 3 and row.seeds == (0, 1, 2)
        for metric in ("test_acc", "test_acc_before_finetune", "val_acc", "macs_ratio",
                       "params", "latency_ms"):
            values = [figures[metric] for figures in expected]
            assert row.stats[metric].mean == pytest.approx(statistics.mean(values))
            assert row.stats[metric].std == pytest.approx(statistics.stdev(values))  # ddof=1
            assert row.stats[metric].n == 3
    ga = rows[("ga", 0.5)].stats
    assert ga["test_acc"].mean == pytest.approx(0.51) and ga["test_acc"].std == pytest.approx(0.01)
    assert ga["latency_ms"].std == pytest.approx(0.5)


def test_dense_reference_is_one_sample_per_seed(multirun):
    [dense] = aggregate(multirun).dense
    # each seed's dense model appears in 2 jobs (one per budget) but counts once
    assert dense.method == "dense" and dense.budget is None and dense.n_seeds == 3
    assert dense.stats["test_acc"].mean == pytest.approx(0.91)
    assert dense.stats["test_acc"].std == pytest.approx(0.01)
    assert dense.stats["macs_ratio"].mean == 1.0


def test_missing_and_unreadable_runs_are_listed_not_fatal(multirun):
    agg = aggregate(multirun)
    assert agg.completed == 6
    missing = {run.job_dir.name: run for run in agg.missing}
    assert set(missing) == {"6", "7"}
    assert missing["6"].overrides == ["budget=0.05", "seed=2", "experiment=compare"]
    assert "no results.json" in missing["6"].reason
    assert "unreadable results.json" in missing["7"].reason
    text = (multirun / "compare.md").read_text()
    missing_section = text.split("## Missing runs")[1]
    assert "`6`" in missing_section and "budget=0.05 seed=2 experiment=compare" in missing_section
    assert "`7`" in missing_section


def test_csv_columns_and_values(multirun):
    aggregate(multirun)
    with open(multirun / "compare.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == CSV_COLUMNS
    for metric in ("test_acc", "test_acc_before_finetune", "val_acc", "macs_ratio", "params",
                   "latency_ms"):
        assert {f"{metric}_mean", f"{metric}_std"} <= set(CSV_COLUMNS)
    assert [(r["method"], r["budget"]) for r in rows] == [
        ("dense", ""), ("ga", "0.5"), ("ga", "0.25"), ("uniform_magnitude", "0.5"),
        ("uniform_magnitude", "0.25")]
    uniform = rows[4]
    assert uniform["n_seeds"] == "3" and uniform["seeds"] == "0 1 2"
    assert float(uniform["test_acc_mean"]) == pytest.approx(0.25 - 0.05 + 0.01)
    assert float(uniform["test_acc_before_finetune_std"]) == pytest.approx(0.02)
    assert rows[0]["test_acc_before_finetune_mean"] == ""  # dense: not applicable


def test_markdown_and_png(multirun, tmp_path):
    agg = aggregate(multirun, tmp_path / "out")
    assert set(agg.files) == {"csv", "md", "png"}
    assert all(path.parent == tmp_path / "out" for path in agg.files.values())
    text = agg.files["md"].read_text()
    assert "MACs = multiply-accumulates per sample" in text
    assert "| ga | 0.5 | 0.490 ± 0.010 | 0.5100 ± 0.0100 | 0.2700 ± 0.0200 |" in text
    assert "| dense | – | 1.000 ± 0.000 | 0.9100 ± 0.0100 | – |" in text
    png = agg.files["png"].read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic writes left no temp file


def test_single_seed_has_no_std(tmp_path):
    write_job(tmp_path, 0, ["budget=0.5"], fake_results(0.5, 0))
    agg = aggregate(tmp_path)
    assert agg.rows[0].n_seeds == 1 and math.isnan(agg.rows[0].stats["test_acc"].std)
    assert "| ga | 0.5 | 0.500 | 0.5000 | 0.2500 |" in (tmp_path / "compare.md").read_text()


def test_swept_hyperparameter_splits_methods_into_variants(tmp_path):
    for num, encoding in enumerate(["mask", "ratios"]):
        write_job(tmp_path, num, ["budget=0.5", "seed=0", f"search.encoding={encoding}"],
                  fake_results(0.5, 0))
    methods = [row.method for row in collect(tmp_path).rows]
    # searched methods first, then baselines; a search setting leaves the baselines one
    # experiment (the same seed counted once)
    assert methods == ["ga (search.encoding=mask)", "ga (search.encoding=ratios)",
                       "uniform_magnitude"]
    assert [row.method for row in collect(tmp_path).dense] == ["dense"]
    paired = collect(tmp_path).paired
    assert {(d.method, d.baseline) for d in paired} == {
        ("ga (search.encoding=mask)", "uniform_magnitude"),
        ("ga (search.encoding=ratios)", "uniform_magnitude")}


def test_a_setting_beyond_the_search_splits_the_baselines_too(tmp_path):
    for num, epochs in enumerate([5, 20]):
        write_job(tmp_path, num, ["budget=0.5", "seed=0", f"finetune.epochs={epochs}"],
                  fake_results(0.5, 0))
    assert [row.method for row in collect(tmp_path).rows] == [
        "ga (finetune.epochs=5)", "ga (finetune.epochs=20)",
        "uniform_magnitude (finetune.epochs=5)", "uniform_magnitude (finetune.epochs=20)"]


def test_empty_or_absent_dir_is_refused(tmp_path):
    with pytest.raises(ValueError, match=f"nothing to aggregate in '{tmp_path}': no job dir"):
        aggregate(tmp_path)
    write_job(tmp_path, 0, ["seed=0"], None)
    with pytest.raises(ValueError, match="1 job dir\\(s\\), none with a readable results.json"):
        aggregate(tmp_path)
    with pytest.raises(FileNotFoundError, match="multirun dir '.*nope' does not exist"):
        aggregate(tmp_path / "nope")
    assert not list(tmp_path.glob("compare.*"))


def test_command_line(multirun, tmp_path, capsys):
    main([str(multirun), "--out", str(tmp_path / "cli")])
    out = capsys.readouterr().out
    assert "uniform_magnitude" in out and "0.5100±0.0100" in out
    assert "missing" in out and "compare.png" in out
    assert (tmp_path / "cli" / "compare.csv").is_file()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nope")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_methods_without_before_finetune_accuracy(tmp_path):
    # gradual_magnitude reports None there: its cell stays empty, the rest is aggregated
    for seed in SEEDS:
        results = fake_results(0.5, seed)
        results["methods"]["ga"]["test_acc_before_finetune"] = None
        write_job(tmp_path, seed, ["budget=0.5", f"seed={seed}"], results)
    agg = aggregate(tmp_path)
    ga = next(row for row in agg.rows if row.method == "ga")
    assert "test_acc_before_finetune" not in ga.stats
    assert ga.stats["test_acc"].mean == pytest.approx(0.5 + OFFSET["ga"] + 0.01)
    row = next(r for r in csv.DictReader(open(tmp_path / "compare.csv")) if r["method"] == "ga")
    assert row["test_acc_before_finetune_mean"] == ""
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG_MAGIC)


def test_a_method_repeated_at_the_same_budget_and_seed_counts_once(tmp_path):
    # `search=ga,rl`: every job runs the baselines again; they must not count as extra seeds
    num = 0
    for search in ("ga", "rl"):
        for seed in SEEDS:
            results = fake_results(0.5, seed)
            results["methods"][search] = results["methods"].pop("ga")
            write_job(tmp_path, num, [f"search={search}", "budget=0.5", f"seed={seed}"], results)
            num += 1
    rows = {row.method: row for row in aggregate(tmp_path).rows}
    assert set(rows) == {"ga", "rl", "uniform_magnitude"}
    assert rows["uniform_magnitude"].seeds == (0, 1, 2)
    assert rows["rl"].stats["test_acc"].mean == pytest.approx(rows["ga"].stats["test_acc"].mean)


def test_results_left_by_an_earlier_run_in_the_dir_are_refused(tmp_path):
    """A fresh run writes checkpoint/config.json first: a results.json whose config is not that
    one (an earlier run's, the new one interrupted) is listed as missing, not counted."""
    current = write_job(tmp_path, 0, ["budget=0.5"], fake_results(0.5, 0))
    stale = write_job(tmp_path, 1, ["budget=0.25"], fake_results(0.5, 1))
    for job, budget, seed in ((current, 0.5, 0), (stale, 0.25, 1)):
        (job / "checkpoint").mkdir()
        config = fake_results(budget, seed)["config"]
        (job / "checkpoint" / "config.json").write_text(json.dumps(config))
    agg = aggregate(tmp_path)
    assert agg.completed == 1
    [missing] = agg.missing
    assert missing.job_dir == stale
    assert "results.json is not this run's" in missing.reason
    assert "(started -> results.json: budget: 0.25 -> 0.5)" in missing.reason


def test_debug_runs_are_flagged_in_every_output(tmp_path):
    for num, seed in enumerate((0, 1)):
        job = write_job(tmp_path, num, ["debug=smoke", f"seed={seed}"], fake_results(0.5, seed))
        (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(
            {"hydra": {"runtime": {"choices": {"debug": "smoke", "search": "ga"}}}}))
    agg = aggregate(tmp_path)
    assert agg.debug == {"smoke": 2}
    assert "> **Warning: debug runs: 2 with debug=smoke (of 2)" in agg.files["md"].read_text()
    clean = aggregate(write_fake_multirun(tmp_path / "clean"))
    assert clean.debug == {} and "Warning" not in clean.files["md"].read_text()


def test_debug_plot_title(tmp_path, monkeypatch):
    import matplotlib.figure

    titles = []
    original = matplotlib.figure.Figure.suptitle
    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle",
                        lambda self, text, **kw: titles.append(text) or original(self, text, **kw))
    write_job(tmp_path, 0, ["debug=smoke"], fake_results(0.5, 0))  # no hydra.yaml: overrides
    aggregate(tmp_path)
    assert titles and titles[-1].startswith("DEBUG RUNS, NOT A RESULT: debug=smoke")


def test_paired_difference_against_the_best_baseline(tmp_path):
    accuracy = {"ga": [0.80, 0.83, 0.85], "lamp": [0.79, 0.80, 0.84], "random": [0.7, 0.7, 0.7]}
    for seed in range(3):
        results = fake_results(0.25, seed)
        template = results["methods"]["ga"]
        results["methods"] = {name: {**template, "test_acc": values[seed]}
                              for name, values in accuracy.items()}
        write_job(tmp_path, seed, ["budget=0.25", f"seed={seed}"], results)
    agg = aggregate(tmp_path)
    [paired] = agg.paired
    assert (paired.method, paired.budget, paired.baseline) == ("ga", 0.25, "lamp")
    assert paired.seeds == (0, 1, 2) and paired.wins == 3
    # differences 0.01, 0.03, 0.01: mean 1/60, sample sd 0.011547, t(0.975, df=2) = 4.302653
    assert paired.mean == pytest.approx(1 / 60)
    half = 4.302653 * 0.0115470 / math.sqrt(3)
    assert (paired.low, paired.high) == pytest.approx((1 / 60 - half, 1 / 60 + half), abs=1e-6)
    assert paired.p == pytest.approx(0.1296, abs=1e-4)  # t = 2.5 on 2 degrees of freedom
    text = agg.files["md"].read_text()
    assert "## Searched − best baseline, paired by seed" in text
    assert "| ga | 0.25 | lamp | 3 | +1.67 | [-1.20, +4.54] | 0.130 | 3 of 3 |" in text
    width = int.from_bytes(agg.files["png"].read_bytes()[16:20], "big")  # the IHDR width
    assert width == 3 * 5.5 * 120  # a third panel: the paired differences


def test_no_paired_section_without_a_searched_method(tmp_path):
    results = fake_results(0.5, 0)
    results["searched"] = None
    write_job(tmp_path, 0, ["budget=0.5"], results)
    agg = aggregate(tmp_path)
    assert agg.paired == [] and "paired by seed" not in agg.files["md"].read_text()


def write_recovery_multirun(root: Path) -> Path:
    """Fine-tune length swept (5 and 20 epochs) at one budget, 3 seeds, with a compute-matched
    baseline: the GA leads by 5 points after 5 epochs and trails by 1 after 20; the
    compute-matched baseline is 2 points above the plain one."""
    num = 0
    for epochs, lead in ((5, 0.05), (20, -0.01)):
        for seed in SEEDS:
            results = fake_results(0.5, seed)
            plain = results["methods"]["uniform_magnitude"]
            results["methods"]["ga"]["test_acc"] = plain["test_acc"] + lead
            results["methods"]["uniform_magnitude+compute"] = {
                **plain, "test_acc": plain["test_acc"] + 0.02,
                "compute_matched": {"epochs": epochs + 30, "extra_epochs": 30,
                                    "search_s": 30.0, "seconds_per_epoch": 1.0}}
            write_job(root, num, ["budget=0.5", f"seed={seed}", f"finetune.epochs={epochs}"],
                      results)
            num += 1
    return root


def test_fine_tune_length_is_an_axis_paired_within_each_length(tmp_path):
    agg = aggregate(write_recovery_multirun(tmp_path))
    by = {(d.variant, d.baseline.split(" (")[0]): d for d in agg.paired}
    assert set(by) == {(f"finetune.epochs={e}", b) for e in (5, 20)
                       for b in ("uniform_magnitude", "uniform_magnitude+compute")}
    # each length against its own baselines, never the other length's
    assert by[("finetune.epochs=5", "uniform_magnitude")].mean == pytest.approx(0.05)
    assert by[("finetune.epochs=20", "uniform_magnitude")].mean == pytest.approx(-0.01)
    assert by[("finetune.epochs=20", "uniform_magnitude+compute")].mean == pytest.approx(-0.03)
    assert by[("finetune.epochs=20", "uniform_magnitude")].wins == 0
    assert agg.files["recovery"].read_bytes().startswith(PNG_MAGIC)
    text = agg.files["md"].read_text()
    assert "| ga (finetune.epochs=20) | 0.5 | uniform_magnitude+compute (finetune.epochs=20) |" \
        in text


def test_no_recovery_figure_without_two_fine_tune_lengths(tmp_path):
    agg = aggregate(write_fake_multirun(tmp_path))
    assert "recovery" not in agg.files and not (tmp_path / "compare_recovery.png").exists()


def test_variant_label_of_a_job_left_at_the_default_is_its_recorded_value(tmp_path):
    """A job that did not override a swept key is labelled with what it ran with (its
    recorded config), so runs from before a default changed keep an honest label."""
    write_job(tmp_path, 0, ["budget=0.5", "seed=0", "proxy.epochs=0"],
              fake_results(0.5, 0, {"proxy": {"epochs": 0}}))
    write_job(tmp_path, 1, ["budget=0.5", "seed=0"], fake_results(0.5, 0, {"proxy": {"epochs": 1}}))
    write_job(tmp_path, 2, ["budget=0.5", "seed=0", "+extra=1"], fake_results(0.5, 0))
    methods = [row.method for row in collect(tmp_path).rows if row.method.startswith("ga")]
    assert methods == ["ga (proxy.epochs=0)", "ga (proxy.epochs=1)", "ga (extra=1)"]


def test_recovery_series_keep_other_settings_apart(tmp_path):
    """Runs swept over fine-tune length under two scores are two lines per budget, each
    through its own lengths, never one line through both."""
    write_recovery_multirun(tmp_path)
    num = 100
    for epochs in (5, 20):
        for seed in SEEDS:
            write_job(tmp_path, num, ["budget=0.5", f"seed={seed}", f"finetune.epochs={epochs}",
                                      "proxy.epochs=0"], fake_results(0.5, seed))
            num += 1
    series = recovery_series(collect(tmp_path))
    plain = {key: ds for key, ds in series.items() if not key[2]}
    assert sorted(plain) == [("ga", 0.5, False), ("ga (proxy.epochs=0)", 0.5, False)]
    for rows in plain.values():
        assert [d.variant.split(", ")[0] for d in rows] == ["finetune.epochs=5",
                                                             "finetune.epochs=20"]
    assert [round(d.mean, 6) for d in plain[("ga", 0.5, False)]] == [0.05, -0.01]


def test_a_searched_methods_cost_is_a_column(tmp_path):
    root = tmp_path / "multirun"
    for seed in SEEDS:
        results = fake_results(0.5, seed)
        results["methods"]["ga"]["search"] = {"evaluations": 100 + seed, "wall_time_s": 10.0 * seed}
        write_job(root, seed, ["budget=0.5", f"seed={seed}"], results)
    agg = aggregate(root, tmp_path / "out")
    rows = {row.method: row for row in agg.rows}
    assert rows["ga"].stats["evaluations"].mean == 101 and rows["ga"].stats["search_s"].mean == 10
    assert "evaluations" not in rows["uniform_magnitude"].stats  # a baseline searches nothing
    table = agg.files["md"].read_text()
    assert "| search evaluations | search s |" in table
    assert "| 101 ± 1 | 10 ± 10 | 3 |" in table


def test_keys_named_same_do_not_split_methods(tmp_path):
    write_job(tmp_path, 0, ["budget=0.5", "seed=0", "experiment=compare"], fake_results(0.5, 0))
    write_job(tmp_path, 1, ["budget=0.5", "seed=1"], fake_results(0.5, 1))
    assert [row.method for row in collect(tmp_path).rows][:2] == [
        "ga (experiment=compare)", "ga"]
    rows = collect(tmp_path, same=["experiment"]).rows
    assert [(row.method, row.n_seeds) for row in rows] == [("ga", 2), ("uniform_magnitude", 2)]
    main([str(tmp_path), "--out", str(tmp_path / "out"), "--same", "experiment"])
    assert "| ga | 0.5 |" in (tmp_path / "out" / "compare.md").read_text()
