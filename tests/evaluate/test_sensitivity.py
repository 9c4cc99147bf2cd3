"""Per-group sensitivity (evaluate.sensitivity): result shape, dense reference, MACs monotonicity;
the files report.sensitivity writes of it."""

import json

import numpy as np
import pytest
import torch

from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.sensitivity import sensitivity
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace
from evoprune.report.sensitivity import write_sensitivity

RATIOS = (1.0, 0.75, 0.5, 0.25, 0.1)


@pytest.fixture(scope="module")
def space(trained_residual, synthetic_data):
    return PruningSpace(trained_residual, synthetic_data.train.x[:2])


@pytest.fixture(scope="module")
def evaluator(trained_residual, space, synthetic_data):
    return Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)


@pytest.fixture(scope="module")
def result(space, evaluator):
    return sensitivity(space, evaluator, ratios=RATIOS)


def test_one_point_per_group_and_ratio(result, space):
    assert result["ratios"] == list(RATIOS)
    assert [g["name"] for g in result["groups"]] == [g.name for g in space.groups]
    for entry, group in zip(result["groups"], space.groups):
        assert [p["ratio"] for p in entry["points"]] == list(RATIOS)
        assert entry["size"] == group.size and entry["min_keep"] == group.min_keep
        for point in entry["points"]:
            expected = max(round(point["ratio"] * group.size), group.min_keep)
            assert point["kept"] == expected
            assert point["keep_ratio"] == pytest.approx(point["kept"] / group.size)
            assert 0.0 <= point["val_acc"] <= 1.0


def test_keeping_everything_is_the_dense_model(result, evaluator, space):
    [dense] = evaluator.evaluate([space.full_mask()])
    assert result["dense"] == {"val_acc": dense.val_acc, "macs": space.dense_macs}
    for entry in result["groups"]:
        full = entry["points"][0]
        assert full["val_acc"] == result["dense"]["val_acc"] and full["macs_ratio"] == 1.0


def test_pruning_more_never_increases_macs(result):
    for entry in result["groups"]:
        macs = [p["macs_ratio"] for p in entry["points"]]  # ratios are decreasing
        assert all(a >= b for a, b in zip(macs, macs[1:])), entry["name"]
        assert macs[-1] < 1.0


def test_points_match_single_evaluations_and_use_one_batched_call(space, trained_residual,
                                                                  synthetic_data):
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    calls = []
    evaluate = evaluator.evaluate
    evaluator.evaluate = lambda masks: calls.append(len(masks)) or evaluate(masks)
    result = sensitivity(space, evaluator, ratios=(0.5, 0.25))
    assert calls == [1 + 2 * len(space.groups)]
    group = space.groups[1]
    counts = [g.size for g in space.groups]
    counts[1] = round(0.25 * group.size)
    [direct] = Evaluator(trained_residual, space, synthetic_data.val,
                         bn_recalibration_batches=0).evaluate(
        [space.mask_from_counts(counts)])
    point = result["groups"][1]["points"][1]
    assert point["val_acc"] == direct.val_acc and point["macs_ratio"] == direct.macs_ratio


def test_min_keep_clips_the_kept_count(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2], min_keep=0.5)
    result = sensitivity(space, Evaluator(trained_residual, space, synthetic_data.val,
                                          bn_recalibration_batches=0),
                         ratios=(0.1,))
    for entry in result["groups"]:
        assert entry["points"][0]["kept"] == entry["min_keep"] >= entry["size"] // 2


def test_files_round_trip_and_plot_is_written(result, tmp_path):
    json_path, plot_path = write_sensitivity(result, tmp_path / "out")
    assert json.loads(json_path.read_text()) == result
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "sensitivity.json", "sensitivity.png"]  # no temp files left behind


@pytest.mark.parametrize("ratios", [(), (0.0,), (1.5,), (0.5, 0.5), "0.5", (True,),
                                    (float("nan"),), 0.5])
def test_bad_ratios_rejected(space, evaluator, ratios):
    with pytest.raises(ValueError, match="ratios must"):
        sensitivity(space, evaluator, ratios=ratios)


def test_evaluator_of_another_space_rejected(space, trained_residual, synthetic_data):
    other = PruningSpace(trained_residual, torch.randn(2, 1, 32))
    with pytest.raises(ValueError, match="another pruning space"):
        sensitivity(space, Evaluator(trained_residual, other, synthetic_data.val,
                                     bn_recalibration_batches=0))


def test_numpy_ratios_accepted(space, evaluator):
    result = sensitivity(space, evaluator, ratios=tuple(np.array([0.5, 0.25])))
    assert result["ratios"] == [0.5, 0.25]


def test_unstructured_space_works_per_layer(trained_residual, synthetic_data):
    space = UnstructuredSpace(trained_residual, synthetic_data.train.x[:2])
    result = sensitivity(space, Evaluator(trained_residual, space, synthetic_data.val,
                                          bn_recalibration_batches=0),
                         ratios=(1.0, 0.5))
    assert [g["name"] for g in result["groups"]] == [g.name for g in space.groups]
    for entry in result["groups"]:
        full, half = entry["points"]
        assert full["val_acc"] == result["dense"]["val_acc"] and full["macs_ratio"] == 1.0
        assert half["kept"] == round(0.5 * entry["size"]) and half["macs_ratio"] < 1.0
