"""End-to-end runs of the app on tiny settings."""

import csv
import json
import math
import sys

import numpy as np
import pytest
import torch

from evoprune.config.checks import ConfigError
from evoprune.pruning.space import PruningSpace
from evoprune.report.results import RESULTS_FILE
from evoprune.run import run, score_description
from tests.helpers import FAST, compose_config, data_and_model
from tests.wandb_runs import read_run

pytestmark = pytest.mark.slow  # end-to-end runs of the app

ROW_KEYS = {"val_acc", "test_acc", "test_acc_before_finetune", "macs", "macs_ratio", "params",
            "latency_ms"}


def history_steps(run_dir, step):
    """The step numbers of a run's search_history.csv, whose first column is ``step``."""
    with open(run_dir / "search_history.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames[0] == step
        assert {"fit_max", "fit_avg", "cost_avg", "best_fitness", "best_acc"} <= set(
            reader.fieldnames)
        return [int(row[step]) for row in reader]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EVOPRUNE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_run_writes_results_masks_and_models(fast_run):
    out, results, cache = fast_run.run_dir, fast_run.results, fast_run.cache_dir
    on_disk = json.loads((out / RESULTS_FILE).read_text())
    expected = {"ga", "uniform_magnitude", "global_magnitude"}
    assert on_disk["methods"].keys() == results["methods"].keys() == expected
    assert set(on_disk["dense"]) >= {"val_acc", "test_acc", "macs", "params"}
    assert on_disk["config"]["budget"] == 0.4 and on_disk["config"]["data"]["num_classes"] == 4
    for name, row in on_disk["methods"].items():
        assert ROW_KEYS <= set(row), name
        for key in ("val_acc", "test_acc", "test_acc_before_finetune"):
            assert 0.0 <= row[key] <= 1.0
        assert row["macs_ratio"] <= 0.4
        assert row["macs_ratio"] == pytest.approx(row["macs"] / on_disk["dense"]["macs"])
        mask = json.loads((out / f"mask_{name}.json").read_text())
        assert sum(g["kept"] for g in mask["groups"]) < mask["num_units"]
        # the documented one-liner loads the compacted model without evoprune, any batch size
        model = torch.export.load(str(out / f"model_{name}.pt2")).module()
        assert model(torch.randn(7, 1, 32)).shape == (7, 4)
        assert (out / f"weights_{name}.pt").is_file()
    assert on_disk["methods"]["ga"]["search"]["evaluations"] > 0
    # logger=none: the search's history is on disk all the same
    assert history_steps(out, "gen") == [0, 1, 2]
    assert (out / "convergence.png").read_bytes().startswith(b"\x89PNG")
    assert not (out / "wandb").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert len(list(cache.glob("dense-*.pt"))) == 1


def test_fresh_run_in_a_used_dir_clears_the_earlier_outputs(tmp_path, cache, monkeypatch):
    """Interrupted, a fresh run must not leave the earlier run's results beside its config."""
    import evoprune.run as run_module

    out = tmp_path / "run"
    run(compose_config(FAST + ["budget=0.4", "sensitivity.enabled=true"]), out)
    earlier = sorted(p.name for p in out.iterdir())
    assert {"results.json", "mask_ga.json", "model_ga.pt2", "sensitivity.json"} <= set(earlier)
    (out / "notes.txt").write_text("the user's own file")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "search", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(compose_config(FAST + ["budget=0.3"]), out)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "notes.txt"]
    assert json.loads((out / "checkpoint" / "config.json").read_text())["budget"] == 0.3
    assert [p.name for p in (out / "checkpoint").iterdir()] == ["config.json"]


def test_selection_among_finalists_is_recorded(tmp_path, cache):
    results = run(compose_config(FAST + ["selection.finalists=3"]), tmp_path / "run")
    selection = results["methods"]["ga"]["search"]["selection"]
    assert selection["finalists"] == 3 and 0 <= selection["chosen_rank"] < 3
    after = selection["val_acc_after_brief_finetune"]
    assert len(after) == 3 and after[selection["chosen_rank"]] == max(after)
    before = selection["val_acc_before"]
    assert before == sorted(before, reverse=True)  # the search's ranking (feasible: fitness)


def test_same_seed_same_results(tmp_path, cache):
    first = run(compose_config(FAST), tmp_path / "a")
    second = run(compose_config(FAST), tmp_path / "b")  # second run loads the cached dense model
    for name in first["methods"]:
        for key in ("val_acc", "test_acc", "test_acc_before_finetune", "macs", "params"):
            assert first["methods"][name][key] == second["methods"][name][key]
    masks = [(tmp_path / run_dir / "mask_ga.json").read_text() for run_dir in ("a", "b")]
    assert masks[0] == masks[1]


def test_masks_on_disk_reproduce_reported_costs(tmp_path, cache):
    cfg = compose_config(FAST)
    results = run(cfg, tmp_path / "run")
    _, model = data_and_model(cfg)
    space = PruningSpace(model, torch.zeros(2, 1, 32))
    description = json.loads((tmp_path / "run" / "mask_ga.json").read_text())
    mask = space.from_description(description)
    assert space.macs(mask) == results["methods"]["ga"]["macs"]
    assert np.isclose(space.macs_ratio(mask), results["methods"]["ga"]["macs_ratio"])


def test_wandb_offline_run_records_generations_and_results(tmp_path, cache, monkeypatch):
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    overrides = [o for o in FAST if not o.startswith("logger")] + ["logger=wandb"]
    results = run(compose_config(overrides), tmp_path / "run")
    [run_path] = (tmp_path / "run" / "wandb").glob("offline-run-*")
    history, summary, _ = read_run(run_path)
    generations = [row for row in history if "gen" in row]
    assert [row["gen"] for row in generations] == [0, 1, 2]
    ga = results["methods"]["ga"]
    assert summary["methods/ga/test_acc"] == pytest.approx(ga["test_acc"])
    assert summary["dense/macs"] == results["dense"]["macs"]
    assert math.isclose(generations[-1]["best_acc"], ga["val_acc_before_finetune"])
    [table] = [row for row in history if "methods._type" in row]
    files = run_path / "files"
    methods = json.loads((files / table["methods.path"]).read_text())
    assert [row[0] for row in methods["data"]] == ["dense", *results["methods"]]
    # copies of the run's files, byte for byte
    masks = [f"mask_{method}.json" for method in results["methods"]]
    for name in ["results.json", "convergence.png", *masks]:
        assert (files / name).read_bytes() == (tmp_path / "run" / name).read_bytes(), name


def test_search_none_runs_only_baselines(tmp_path, cache):
    results = run(compose_config(FAST + ["search=none"]), tmp_path / "run")
    assert set(results["methods"]) == {"uniform_magnitude", "global_magnitude"}
    assert results["searched"] is None
    assert not (tmp_path / "run" / "search_history.csv").exists()


@pytest.mark.parametrize(
    "override, message",
    [
        ("budget=1.5", "budget must be a fraction of dense MACs in \\(0, 1\\], got 1.5"),
        ("budget=0", "budget must be a fraction of dense MACs in \\(0, 1\\], got 0"),
        ("budget=[]", "got \\[\\]; each run takes one budget, sweep several with budget=0.5,0.25"),
        ("budget=''", "got ''; each run takes one budget"),
        ("baselines=[nope]", "baselines \\['nope'\\] do not exist"),
        ("budget=0.001", "cannot be met.*use budget >= "),
        ("evaluator.mode=fast",
         "evaluator.mode must be one of \\['auto', 'sliced', 'masked', 'batched'\\]"),
        ("latency.repeats=0", "latency.repeats must be an integer >= 1, got 0"),
        ("latency.threads=0", "latency.threads must be an integer >= 1 or null, got 0"),
        ("search=none baselines=[]", "nothing to run"),
        ("evaluator.backend=dask",
         "evaluator.backend must be one of \\['ray', 'serial'\\], got 'dask'"),
        ("evaluator.backend=ray evaluator.workers=0",
         "evaluator.workers must be an integer >= 1, got 0"),
        ("warm_start=[gradual_magnitude]", "warm_start must list one-shot baselines from "
                                           "\\['uniform_magnitude', .*'torch_prune'\\], got "
                                           "\\['gradual_magnitude'\\]"),
        ("device=tpu", "device must be one of \\['auto', 'cpu', 'cuda'\\], got 'tpu'"),
        ("train.l1_bn=-1", "l1_bn must be a finite number >= 0, got -1"),
        ("pruning.granularity=layer", "granularity must be one of \\['channel', 'block', "
                                      "'both'\\], got 'layer'"),
        ("pruning.granularity=both", "pruning.granularity=both: MLP has no residual block"),
        ("warm_start=[lamp] search=random", "warm_start=\\['lamp'\\] seeds a first population: "
                                            "use search=ga or search=nsga2"),
        ("pruning.round_to=0", "pruning.round_to must be an integer >= 1, got 0"),
        ("latency.runtime=tvm", "latency.runtime must be one of \\['torch', 'onnxruntime'\\], "
                                "got 'tvm'"),
        ("export.onnx=yes", "export.onnx must be true or false"),
        ("latency.estimate=table latency.runtime=onnxruntime",
         "latency.estimate=table times each layer alone in torch"),
        ("latency.device=auto", "latency.device must be null \\(the run's device\\) or one of"),
    ],
)
def test_bad_values_stop_before_writing(tmp_path, cache, override, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        run(compose_config(FAST + override.split()), out)
    assert not (out / RESULTS_FILE).exists()


def test_ray_backend_without_ray_stops_before_writing(tmp_path, cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    out = tmp_path / "run"
    message = 'evaluator.backend=ray needs Ray.*install it with pip install -e ".\\[ray\\]"'
    with pytest.raises(ConfigError, match=message):
        run(compose_config(FAST + ["evaluator.backend=ray"]), out)
    assert not out.exists() and not cache.exists()  # stopped before training anything


def test_ray_backend_run_finds_the_serial_mask(tmp_path, cache, capsys):
    import ray

    threads = torch.get_num_threads()
    try:  # one torch thread on both sides, as in each Ray worker
        serial = run(compose_config(FAST + ["threads=1"]), tmp_path / "serial")
        distributed = run(compose_config(FAST + ["threads=1", "evaluator.backend=ray",
                                                 "evaluator.workers=2"]), tmp_path / "ray")
    finally:
        torch.set_num_threads(threads)
    assert "ray: 2 evaluation workers (1 torch thread each) on Ray at" in (
        capsys.readouterr().out)
    assert not ray.is_initialized()  # the run started Ray, and shut it down
    masks = [(tmp_path / name / "mask_ga.json").read_text() for name in ("serial", "ray")]
    assert masks[0] == masks[1]
    ga, ray_ga = serial["methods"]["ga"], distributed["methods"]["ga"]
    assert ga["val_acc_before_finetune"] == ray_ga["val_acc_before_finetune"]
    assert ga["test_acc"] == ray_ga["test_acc"] and ga["macs"] == ray_ga["macs"]
    for counter in ("evaluations", "requests"):
        assert ga["search"][counter] == ray_ga["search"][counter]


@pytest.mark.parametrize(
    "override, message",
    [
        ("evaluator.cost=flops",
         "evaluator.cost must be one of \\['latency', 'macs'\\], got 'flops'"),
        ("pruning=unstructured evaluator.cost=latency",
         "evaluator.cost=latency needs pruning=structured: pruning=unstructured removes nothing"),
        ("search=rl evaluator.cost=latency",
         "evaluator.cost=latency is not supported by search=rl, which budgets macs"),
        ("evaluator.cost=latency budget=2", "budget must be a fraction of dense latency in"),
    ],
)
def test_bad_cost_settings_stop_before_writing(tmp_path, cache, override, message):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        run(compose_config(FAST + override.split()), out)
    assert not (out / RESULTS_FILE).exists() and not cache.exists()  # not even a dense model


@pytest.mark.parametrize("searcher", ["ga", "nsga2"])
def test_latency_cost_run(tmp_path, cache, searcher, fake_latency):
    # the search's timings are the deterministic stand-in (real ones on a busy CI machine can
    # make any fixed budget infeasible); the reported latency_ms of each model are real
    overrides = FAST + ["evaluator.cost=latency", "model.hidden=[256,256]", "budget=0.8",
                        "latency.repeats=3", "latency.warmup=1", f"search={searcher}"]
    out = tmp_path / "run"
    results = run(compose_config(overrides), out)
    assert results["config"]["evaluator"]["cost"] == "latency"
    search = results["methods"][searcher]["search"]
    assert search["cost"] == "latency" and 0 < search["cost_ratio"] <= 0.8
    assert search["cost_ratio"] == pytest.approx(search["latency_ms"] / search["dense_latency_ms"])
    assert results["cost"].startswith("search: latency, the median of 3 timings")
    assert "baselines: MACs" in results["cost"]
    for name, row in results["methods"].items():
        assert row["latency_ms"] > 0, name
        if name != searcher:  # baselines prune to the MACs budget
            assert row["macs_ratio"] <= 0.8
    if searcher != "nsga2":
        return
    pareto = json.loads((out / "pareto.json").read_text())
    assert pareto["objectives"] == {"val_acc": "max", "latency_ratio": "min"}
    assert {"latency_ms", "latency_ratio"} <= set(pareto["dense"])
    assert all("latency_ratio" in point for point in pareto["baselines"].values())


def test_unstructured_run_reports_density_cost(tmp_path, cache):
    out = tmp_path / "run"
    results = run(compose_config(FAST + ["experiment=unstructured", "budget=0.3"]), out)
    assert "weight density" in results["cost"]
    assert set(results["methods"]) == {"ga", "uniform_magnitude", "global_magnitude"}
    for row in results["methods"].values():
        assert row["macs_ratio"] <= 0.3 and row["params"] < results["dense"]["params"]
    policy = json.loads((out / "mask_global_magnitude.json").read_text())
    assert policy["kind"] == "unstructured"
    # pruned weights stay pruned through fine-tuning: the exported model has the kept count
    model = torch.export.load(str(out / "model_global_magnitude.pt2")).module()
    weights = [p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() > 1]
    nonzero = sum(int((w != 0).sum()) for w in weights)
    assert nonzero <= sum(layer["kept"] for layer in policy["layers"])


def test_all_baselines_gradual_and_distillation(tmp_path, cache):
    names = "uniform_magnitude,global_magnitude,lamp,taylor,random,gradual_magnitude"
    overrides = FAST + ["search=none", f"baselines=[{names}]", "distill.enabled=true",
                        "budget=0.3", "finetune.epochs=2", "gradual.steps=2"]
    results = run(compose_config(overrides), tmp_path / "run")
    assert set(results["methods"]) == set(names.split(","))
    for row in results["methods"].values():
        assert row["macs_ratio"] <= 0.3
    gradual = results["methods"]["gradual_magnitude"]
    assert gradual["test_acc_before_finetune"] is None and len(gradual["gradual_steps"]) == 2
    assert (tmp_path / "run" / "model_gradual_magnitude.pt2").exists()


def test_sensitivity_experiment_writes_json_and_plot(tmp_path, cache):
    out = tmp_path / "run"
    results = run(compose_config(FAST + ["experiment=sensitivity"]), out)
    assert results["methods"] == {}
    sensitivity = json.loads((out / "sensitivity.json").read_text())
    assert len(sensitivity["groups"]) == 2 and (out / "sensitivity.png").stat().st_size > 0


def test_structured_only_baselines_refused_for_unstructured(tmp_path, cache):
    with pytest.raises(ValueError, match="baselines \\['lamp'\\] do not apply to unstructured"):
        run(compose_config(FAST + ["pruning=unstructured", "baselines=[lamp]"]), tmp_path / "r")


def test_rl_search_run_goes_through_the_same_finish(tmp_path, cache):
    results = run(compose_config(FAST + ["experiment=rl"]), tmp_path / "run")
    assert results["searched"] == "rl" and results["config"]["budget"] == 0.25
    rl = results["methods"]["rl"]
    # smoke: 6 episodes, then the greedy one, reported beside the random warm-up's median
    assert rl["macs_ratio"] <= 0.25 and rl["search"]["requests"] == 6 + 1
    assert rl["search"]["greedy_macs_ratio"] <= 0.25
    assert {"greedy_fitness", "greedy_val_acc", "random_median_fitness"} <= set(rl["search"])
    assert (tmp_path / "run" / "model_rl.pt2").exists()
    assert history_steps(tmp_path / "run", "episode") == list(range(6))


def test_warm_started_ga_starts_from_the_baselines_and_beats_them_in_fitness(tmp_path, cache):
    results = run(compose_config(FAST + ["warm_start=[lamp,global_magnitude]", "budget=0.3",
                                         "proxy.epochs=0", "baselines=[lamp,global_magnitude]"]),
                  tmp_path / "run")
    ga = results["methods"]["ga"]
    assert ga["macs_ratio"] <= 0.3
    # the baselines' masks were in the first generation, so the answer scores at least as well
    # on validation before fine-tuning (no proxy: the search scores what val_acc measures)
    for name in ("lamp", "global_magnitude"):
        assert ga["val_acc_before_finetune"] >= results["methods"][name]["val_acc_before_finetune"]


@pytest.mark.parametrize("overrides, score", [
    ([], "validation accuracy after a brief fine-tune of 8 steps"),  # the default
    (["finetune.epochs=20"], "validation accuracy after a brief fine-tune of 8 steps"),
    (["finetune.epochs=20", "proxy.epochs=auto"], "validation accuracy right after pruning"),
    (["finetune.epochs=5", "proxy.epochs=auto"], "validation accuracy after a brief fine-tune"),
    (["proxy.steps=null"], "validation accuracy after a brief fine-tune of 1 epoch (the"),
    (["finetune.epochs=20", "proxy.epochs=2", "proxy.steps=null"],
     "validation accuracy after a brief fine-tune of 2 epochs"),
])
def test_the_search_score_follows_proxy_epochs_and_under_auto_the_finetune(overrides, score):
    assert score_description(compose_config(overrides)).startswith(score)


def test_random_search_run_is_finished_like_the_others(tmp_path, cache):
    results = run(compose_config(FAST + ["search=random", "budget=0.3"]), tmp_path / "run")
    assert results["searched"] == "random_search"
    method = results["methods"]["random_search"]
    assert method["macs_ratio"] <= 0.3 and method["search"]["requests"] == 12  # smoke: 12
    assert (tmp_path / "run" / "mask_random_search.json").exists()
    assert history_steps(tmp_path / "run", "step") == [0, 1]  # 12 samples, 6 per step


def test_nsga2_run_writes_the_pareto_front(tmp_path, cache):
    out = tmp_path / "run"
    results = run(compose_config(FAST + ["search=nsga2", "budget=0.4"]), out)
    assert results["searched"] == "nsga2" and results["methods"]["nsga2"]["macs_ratio"] <= 0.4
    pareto = json.loads((out / "pareto.json").read_text())
    ratios = [member["macs_ratio"] for member in pareto["front"]]
    assert ratios == sorted(ratios) and len(ratios) >= 1
    assert set(pareto["baselines"]) == {"uniform_magnitude", "global_magnitude"}
    assert (out / "pareto.png").read_bytes().startswith(b"\x89PNG")
    # the member fine-tuned as nsga2, the budget, and every method after fine-tuning too
    nsga2 = results["methods"]["nsga2"]
    assert pareto["budget"] == 0.4 and pareto["chosen"]["name"] == "nsga2"
    # every point is the search's own score (here after the proxy's brief fine-tune), so
    # the member fine-tuned sits on its front point
    assert pareto["score"].startswith("validation accuracy after a brief fine-tune")
    assert pareto["chosen"]["macs_ratio"] == pytest.approx(nsga2["macs_ratio"])
    assert any(member["val_acc"] == pareto["chosen"]["val_acc"]
               and member["macs_ratio"] == pareto["chosen"]["macs_ratio"]
               for member in pareto["front"])
    for name, point in {**pareto["baselines"], "nsga2": pareto["chosen"]}.items():
        assert point["val_acc_after_finetune"] == results["methods"][name]["val_acc"]


def test_latency_cost_without_a_search_leaves_baselines_on_macs(tmp_path, cache):
    results = run(compose_config(FAST + ["search=none", "evaluator.cost=latency"]), tmp_path / "r")
    assert results["cost"].startswith("MACs") and results["searched"] is None


def test_unsteady_dense_timings_are_flagged(capsys):
    from evoprune.run import _warn_if_unsteady

    _warn_if_unsteady(1.40, 1.70)  # within a factor 1.5: quiet
    assert "warning" not in capsys.readouterr().out
    _warn_if_unsteady(155.0, 6.7)  # a busy machine
    out = " ".join(capsys.readouterr().out.split())
    assert "timed 155.000 ms for the search and 6.700 ms for the results" in out
    assert "threads=1" in out


def test_nsga2_run_fine_tunes_members_along_the_front_beside_the_baselines(tmp_path, cache):
    out = tmp_path / "run"
    # scored right after pruning (proxy.epochs=0): the front's val_acc is the before-FT one
    results = run(compose_config(FAST + ["search=nsga2", "budget=0.4", "pareto.finetune=2",
                                         "proxy.epochs=0"]), out)
    pareto = json.loads((out / "pareto.json").read_text())
    finetuned = pareto["finetuned"]
    members = finetuned["members"]
    # two distinct members (the smoke front has more), cheaper first, at their own MACs ratios
    assert len(pareto["front"]) > 2 and len(members) == 2
    indices = [m["front_index"] for m in members]
    assert len(set(indices)) == 2 and members[0]["macs_ratio"] < members[1]["macs_ratio"]
    keys = {"val_acc_before_finetune", "test_acc_before_finetune", "val_acc_after_finetune",
            "test_acc_after_finetune", "macs", "macs_ratio", "params"}
    for member in members:
        front_entry = pareto["front"][member["front_index"]]
        assert keys <= set(member)
        assert member["macs_ratio"] == pytest.approx(front_entry["macs_ratio"])
        assert member["params"] == front_entry["params"]
        # the mask as the search scored it, then fine-tuned
        assert member["val_acc_before_finetune"] == pytest.approx(front_entry["val_acc"])
    # every configured baseline, pruned within each member's MACs ratio and fine-tuned
    assert set(finetuned["baselines"]) == set(results["methods"]) - {"nsga2"}
    for entries in finetuned["baselines"].values():
        assert [e["budget"] for e in entries] == [m["macs_ratio"] for m in members]
        for entry in entries:
            assert keys <= set(entry) and entry["macs_ratio"] <= entry["budget"] + 1e-9
            assert 0.0 <= entry["test_acc_after_finetune"] <= 1.0
    assert finetuned["dense_test_acc"] == results["dense"]["test_acc"]
    assert (out / "pareto_finetuned.png").read_bytes().startswith(b"\x89PNG")


def test_nsga2_run_fine_tunes_the_best_member_within_each_budget(tmp_path, cache):
    out = tmp_path / "run"
    run(compose_config(FAST + ["search=nsga2", "budget=0.4", "pareto.finetune=[0.5,0.2]",
                               "proxy.epochs=0", "baselines=[uniform_magnitude]"]), out)
    pareto = json.loads((out / "pareto.json").read_text())
    ratios = [entry["macs_ratio"] for entry in pareto["front"]]
    members = pareto["finetuned"]["members"]
    # per budget, the costliest (so most accurate) front member within it, cheaper first
    expected = [max(i for i, r in enumerate(ratios) if r <= budget) for budget in (0.2, 0.5)]
    assert [m["front_index"] for m in members] == expected
    entries = pareto["finetuned"]["baselines"]["uniform_magnitude"]
    assert [e["budget"] for e in entries] == [ratios[i] for i in expected]


def test_front_fine_tuning_needs_a_multi_objective_search(tmp_path, cache):
    with pytest.raises(ConfigError, match="pareto.finetune=2 fine-tunes members of a Pareto "
                                          "front, which only a multi-objective search makes"):
        run(compose_config(FAST + ["search=ga", "pareto.finetune=2"]), tmp_path / "run")
    with pytest.raises(ConfigError, match="pareto.finetune must be an integer >= 0, got -1"):
        run(compose_config(FAST + ["search=nsga2", "pareto.finetune=-1"]), tmp_path / "run")
    with pytest.raises(ConfigError, match="pareto.finetune must be an integer >= 0 or a list of "
                                          "MACs budgets in \\(0, 1\\], got \\[1.5\\]"):
        run(compose_config(FAST + ["search=nsga2", "pareto.finetune=[1.5]"]), tmp_path / "run")


# MNIST-1D cut small, recurrent layers of a few units: every method on recurrent models
RECURRENT = ["data=mnist1d", "data.num_samples=1200", "model.hidden=12", "debug=smoke",
             "logger=none", "progress=false", "budget=0.4"]


@pytest.mark.parametrize("overrides", [
    ["model=gru", "baselines=all"],
    ["model=lstm", "model.bidirectional=true", "model.num_layers=2", "model.proj_size=5",
     "search=nsga2"],
    ["model=cnn_gru", "model.conv_channels=[6]", "search=rl"],
    ["model=lstm", "model.readout=mean", "search=random"],
    ["model=gru", "search=ga", "search.encoding=ratios", "pruning=unstructured"],
], ids=["gru-ga-all-baselines", "lstm-projection-nsga2", "cnn_gru-rl", "lstm-random",
        "gru-unstructured"])
def test_recurrent_models_run_every_method_within_budget(tmp_path, cache, overrides):
    results = run(compose_config(RECURRENT + overrides), tmp_path / "run")
    assert results["methods"]
    for name, row in results["methods"].items():
        assert row["macs_ratio"] <= 0.4, name  # and the finish checked the compacted count
        assert 0.0 <= row["test_acc"] <= 1.0
    if "baselines=all" in overrides:
        assert set(results["methods"]) == {"ga", "uniform_magnitude", "global_magnitude",
                                           "lamp", "taylor", "slimming", "random",
                                           "gradual_magnitude"}
        # the compacted GRU exports, and loads back as an ordinary module, like any other
        from evoprune import load_pruned

        loaded = load_pruned(tmp_path / "run", "ga").eval()
        assert isinstance(loaded.rnn, torch.nn.GRU)
        exported = torch.export.load(str(tmp_path / "run" / "model_ga.pt2")).module()
        x = torch.randn(7, 1, 40)
        torch.testing.assert_close(loaded(x), exported(x))


def test_recurrent_model_sensitivity_and_latency_cost(tmp_path, cache, fake_latency):
    out = tmp_path / "sensitivity"
    run(compose_config(RECURRENT + ["model=cnn_gru", "model.conv_channels=[6]",
                                    "experiment=sensitivity"]), out)
    sensitivity = json.loads((out / "sensitivity.json").read_text())
    assert [g["name"] for g in sensitivity["groups"]] == ["front.0", "rnn"]
    results = run(compose_config(RECURRENT + ["model=gru", "evaluator.cost=latency",
                                              "budget=0.8", "latency.repeats=3"]),
                  tmp_path / "latency")
    assert 0 < results["methods"]["ga"]["search"]["cost_ratio"] <= 0.8


def test_cifar10_from_python_batches_runs_every_method_within_budget(tmp_path, cache):
    from tests.data.test_cifar10 import write_cifar

    root = write_cifar(tmp_path / "cifar")
    overrides = ["data=cifar10", f"data.root={root}", "model=resnet20", "model.widths=[4,8,8]",
                 "debug=smoke", "baselines=all", "logger=none", "progress=false"]
    results = run(compose_config(overrides), tmp_path / "run")
    assert results["config"]["model"]["blocks_per_stage"] == 3
    assert set(results["methods"]) == {"ga", "uniform_magnitude", "global_magnitude", "lamp",
                                       "taylor", "slimming", "random", "torch_prune",
                                       "gradual_magnitude"}
    for name, row in results["methods"].items():
        assert row["macs_ratio"] <= 0.5, name


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_refused_before_anything_runs(tmp_path, cache):
    with pytest.raises(ValueError, match="device=cuda, but torch .* sees no CUDA device"):
        run(compose_config(FAST + ["device=cuda"]), tmp_path / "run")
    assert not (tmp_path / "run" / RESULTS_FILE).exists() and not cache.exists()


def test_a_baseline_that_cannot_prune_the_model_says_so_before_training(tmp_path, cache):
    with pytest.raises(ValueError, match="baselines: torch_prune cannot prune this model: it "
                                         "prunes conv and linear output channels, and groups "
                                         "\\['rnn'\\] are recurrent units or attention "
                                         "heads; leave it out"):
        run(compose_config(RECURRENT + ["model=gru", "baselines=[torch_prune]"]),
            tmp_path / "run")
    assert not cache.exists()  # nothing trained


def test_slimming_from_an_l1_trained_dense_model_meets_the_budget(tmp_path, cache, capsys):
    overrides = FAST + ["model=cnn1d", "model.channels=[8,8]", "model.hidden=16",
                        "search=none", "baselines=[slimming]", "budget=0.3"]
    plain = run(compose_config(overrides), tmp_path / "plain")
    assert "its scales were not made sparse" in capsys.readouterr().out
    slim = run(compose_config(overrides + ["train.l1_bn=1e-3", "train.group_lasso=1e-3"]),
               tmp_path / "slim")
    assert "not made sparse" not in capsys.readouterr().out
    for results in (plain, slim):
        assert 0.25 < results["methods"]["slimming"]["macs_ratio"] <= 0.3
    # the regularised dense model is another model, cached under its own key
    assert len(list(cache.glob("dense-*.pt"))) == 2


def test_depth_pruning_run_removes_whole_blocks_within_budget(tmp_path, cache, capsys):
    overrides = [o for o in FAST if not o.startswith("model.")] + [
        "model=resnet", "model.widths=[4,8,8]", "pruning.granularity=both",
                        "baselines=[block_magnitude,uniform_magnitude]", "budget=0.4"]
    out = tmp_path / "run"
    results = run(compose_config(overrides), out)
    for name, row in results["methods"].items():
        assert row["macs_ratio"] <= 0.4, name
    depth = json.loads((out / "mask_block_magnitude.json").read_text())["groups"][-1]
    assert depth["name"] == "depth" and depth["kept"] < depth["size"]
    removed = [block["name"] for block in depth["blocks"] if not block["kept"]]
    model = torch.export.load(str(out / "model_block_magnitude.pt2")).module()
    assert model(torch.randn(3, 1, 32)).shape == (3, 4)
    assert not any(f"{name}.conv1.weight" in model.state_dict() for name in removed)
    assert not (out / "prune_block_magnitude.pt").exists()
    assert "prune_block_magnitude.pt not written: the mask removes whole blocks" in \
        capsys.readouterr().out
    uniform = json.loads((out / "mask_uniform_magnitude.json").read_text())["groups"][-1]
    assert uniform["kept"] == uniform["size"]  # a channel baseline keeps every block


def test_a_batched_search_finds_what_the_one_at_a_time_search_finds(tmp_path, cache):
    overrides = FAST + ["model=cnn1d", "model.channels=[8,8]", "model.hidden=16",
                        "proxy.epochs=0", "baselines=[lamp]", "budget=0.4"]
    found = {}
    for mode in ("masked", "batched"):
        results = run(compose_config(overrides + [f"evaluator.mode={mode}",
                                                  "evaluator.batch_candidates=5"]),
                      tmp_path / mode)
        found[mode] = (json.loads((tmp_path / mode / "mask_ga.json").read_text())["groups"],
                       results["methods"]["ga"]["val_acc_before_finetune"],
                       results["methods"]["ga"]["search"]["evaluations"])
        assert results["methods"]["ga"]["macs_ratio"] <= 0.4
    assert found["batched"] == found["masked"]


@pytest.mark.parametrize("overrides", [
    ["baselines=[uniform_magnitude,global_magnitude,lamp,taylor,random,torch_prune,"
     "gradual_magnitude]", "gradual.steps=2"],
    ["search=random", "baselines=[]"],
    ["experiment=rl", "baselines=[]"],
    ["search=nsga2", "baselines=[]"],
], ids=["ga_and_baselines", "random", "rl", "nsga2"])
def test_round_to_reaches_every_method(tmp_path, cache, overrides):
    results = run(compose_config(FAST + ["pruning.round_to=8", "model.hidden=[40,20]",
                                         "budget=0.3"] + overrides), tmp_path / "run")
    assert results["methods"]
    for name, row in results["methods"].items():
        assert row["macs_ratio"] <= 0.3 + 1e-9, name
        kept = row["kept_per_group"]
        assert all(count % 8 == 0 or count == size
                   for count, size in zip(kept.values(), (40, 20))), (name, kept)


def test_onnx_export_matches_the_torch_program(tmp_path, cache, capsys):
    import onnxruntime

    out = tmp_path / "run"
    results = run(compose_config(FAST + ["export.onnx=true", "latency.runtime=onnxruntime",
                                         "baselines=[lamp]"]), out)
    assert set(results["methods"]) == {"ga", "lamp"}
    assert "latency ms (onnxruntime)" in capsys.readouterr().out
    for name, row in results["methods"].items():
        assert row["onnx_max_abs_diff"] < 1e-4 and row["latency_ms"] > 0
        program = torch.export.load(str(out / f"model_{name}.pt2")).module()
        session = onnxruntime.InferenceSession(str(out / f"model_{name}.onnx"))
        x = torch.randn(5, 1, 32)  # another batch size than the export's
        assert np.allclose(session.run(None, {"input": x.numpy()})[0], program(x).detach(),
                           atol=1e-5)


def test_onnx_without_the_extra_stops_before_training(tmp_path, cache, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real(name, *a))
    out = tmp_path / "run"
    with pytest.raises(ImportError, match="latency.runtime=onnxruntime needs ONNX export .* "
                                          "onnxscript is not installed"):
        run(compose_config(FAST + ["latency.runtime=onnxruntime"]), out)
    assert not out.exists() and not cache.exists()


def test_a_model_onnx_cannot_carry_is_refused_before_training(tmp_path, cache, monkeypatch):
    from evoprune.config import model_checks
    from evoprune.evaluate.runtime import OnnxExportError

    def fails(program, inputs):
        raise OnnxExportError("Fail: no kernel for Op X")

    monkeypatch.setattr(model_checks, "checked_onnx", fails)
    with pytest.raises(ConfigError, match="^export.onnx=true: MLP does not run in ONNX Runtime "
                                          "as in torch \\(Fail: no kernel for Op X\\); use "
                                          "export.onnx=false$"):
        run(compose_config(FAST + ["export.onnx=true"]), tmp_path / "run")
    assert not cache.exists()


def test_latency_table_run(tmp_path, cache, capsys, monkeypatch):
    from evoprune.evaluate import latency_table
    from evoprune.pruning.macs import count_params

    # steady stand-in timings for the table (real ones on a busy machine can make the budget
    # infeasible); the table itself is tested on real timings in tests/evaluate
    monkeypatch.setattr(latency_table, "measure_latency_ms",
                        lambda model, inputs, **settings: 0.5 + count_params(model) / 1000)
    overrides = FAST + ["evaluator.cost=latency", "latency.estimate=table", "budget=0.8",
                        "model.hidden=[256,256]", "latency.repeats=3", "latency.warmup=1",
                        "pruning.round_to=8"]
    results = run(compose_config(overrides), tmp_path / "run")
    assert "latency table: " in capsys.readouterr().out
    search = results["methods"]["ga"]["search"]
    assert 0 < search["cost_ratio"] <= 0.8 and search["latency_table_s"] > 0
    assert search["latency_table_cells"] > 0
    assert results["cost"].startswith("search: latency, the sum over its layers of a latency "
                                      "table (each conv and linear layer alone at up to 8 "
                                      "widths per dimension")
