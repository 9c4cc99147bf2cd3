"""A run's pruned models, taken away: the exported programs and ``evoprune.load_pruned``."""

import json

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

import evoprune
from evoprune.infra.checkpoint import load_checkpoint
from evoprune.load import PrunedModelNotFound
from evoprune.report.results import RESULTS_FILE
from evoprune.run import run
from evoprune.training.train import accuracy
from tests.helpers import FAST, compose_config


@pytest.fixture(scope="module")
def test_split(fast_run):
    """The run's test split, rebuilt from its resolved config (same seed, same samples)."""
    return instantiate(fast_run.results["config"]["data"]).test


def test_exported_programs_take_a_batch_of_several(fast_run, test_split):
    for name in fast_run.results["methods"]:
        program = torch.export.load(str(fast_run.run_dir / f"model_{name}.pt2")).module()
        rebuilt = evoprune.load_pruned(fast_run.run_dir, name)
        x = test_split.x[:7]
        with torch.no_grad():
            torch.testing.assert_close(program(x), rebuilt(x))
            torch.testing.assert_close(program(x[:1]), rebuilt(x[:1]))


def test_load_pruned_rebuilds_every_method_at_its_reported_accuracy(fast_run, test_split):
    rng = torch.get_rng_state()
    for name, row in fast_run.results["methods"].items():
        model = evoprune.load_pruned(fast_run.run_dir, name)
        assert isinstance(model, nn.Module) and not model.training
        model.train()
        model.eval()  # an ordinary module: modes switch (an exported program refuses .eval())
        with torch.no_grad():
            for size in (1, 3, 7):
                assert model(test_split.x[:size]).shape == (size, 4)
        assert accuracy(model, test_split) == row["test_acc"], name
    torch.testing.assert_close(torch.get_rng_state(), rng)  # the caller's RNG is left alone


def test_weights_file_holds_only_tensors_and_plain_values(fast_run):
    mask = json.loads((fast_run.run_dir / "mask_ga.json").read_text())
    saved = load_checkpoint(fast_run.run_dir / "weights_ga.pt")  # weights_only=True
    assert saved["mask"].dtype == torch.bool and saved["mask"].numel() == mask["num_units"]
    assert int(saved["mask"].sum()) == sum(group["kept"] for group in mask["groups"])
    assert saved["input_shape"] == [1, 32]
    assert all(isinstance(t, torch.Tensor) for t in saved["state_dict"].values())


def test_unstructured_run_loads_with_dense_shapes_and_its_zeros(fast_run, tmp_path):
    out = tmp_path / "run"
    overrides = FAST + ["experiment=unstructured", "budget=0.3", f"cache_dir={fast_run.cache_dir}",
                        "search=none"]
    results = run(compose_config(overrides), out)
    test = instantiate(results["config"]["data"]).test
    policy = json.loads((out / "mask_global_magnitude.json").read_text())
    model = evoprune.load_pruned(out, "global_magnitude")
    assert accuracy(model, test) == results["methods"]["global_magnitude"]["test_acc"]
    kept = {layer["name"]: layer["kept"] for layer in policy["layers"]}
    for name, layer in model.named_modules():
        if name in kept:
            assert int((layer.weight != 0).sum()) <= kept[name], name


def test_a_directory_without_a_completed_run_is_refused(tmp_path):
    (tmp_path / "mask_ga.json").write_text("{}")
    message = f"{tmp_path} holds no results.json.*method 'ga' .*saved weights there: none"
    with pytest.raises(PrunedModelNotFound, match=message):
        evoprune.load_pruned(tmp_path, "ga")


def test_an_unknown_method_is_refused_naming_the_methods(fast_run):
    message = (f"the run in {fast_run.run_dir} has no method 'nsga2'; its methods are "
               r"\['ga', 'global_magnitude', 'uniform_magnitude'\]")
    with pytest.raises(PrunedModelNotFound, match=message):
        evoprune.load_pruned(fast_run.run_dir, "nsga2")
    assert (fast_run.run_dir / RESULTS_FILE).is_file()
