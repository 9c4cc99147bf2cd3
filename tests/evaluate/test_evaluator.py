import numpy as np
import pytest
import torch

from evoprune.evaluate import evaluator as evaluator_module
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.latency import LatencySettings
from evoprune.pruning.compact import compact
from evoprune.pruning.macs import count_params
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace
from evoprune.training.train import accuracy


@pytest.fixture
def setup(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    return trained_residual, space, synthetic_data


def random_masks(space, n, keep=0.6, seed=0):
    rng = np.random.default_rng(seed)
    return [space.repair(rng.random(space.num_units) < keep) for _ in range(n)]


def test_objectives_match_compacted_model(setup):
    model, space, data = setup
    evaluator = Evaluator(model, space, data.val, bn_recalibration_batches=0)
    masks = random_masks(space, 4)
    for mask, objectives in zip(masks, evaluator.evaluate(masks)):
        pruned = compact(model, space, mask)
        assert objectives.val_acc == pytest.approx(accuracy(pruned, data.val), abs=1e-9)
        assert objectives.macs == space.macs(mask)
        assert objectives.params == space.params(mask)
        assert objectives.macs_ratio == pytest.approx(space.macs(mask) / space.dense_macs)
    full = evaluator.evaluate([space.full_mask()])[0]
    assert full.val_acc == pytest.approx(accuracy(model, data.val)) and full.macs_ratio == 1.0
    assert full.val_acc > 0.6  # the trained model is well above chance (0.25)


def test_memoizes_identical_masks(setup):
    model, space, data = setup
    evaluator = Evaluator(model, space, data.val, bn_recalibration_batches=0)
    masks = random_masks(space, 3)
    first = evaluator.evaluate(masks + [masks[0].copy()])
    assert evaluator.evaluations == 3 and evaluator.cache_hits == 1
    assert first[3] == first[0]
    evaluator.evaluate(masks)
    assert evaluator.evaluations == 3 and evaluator.cache_hits == 4
    uncached = Evaluator(model, space, data.val, cache=False, bn_recalibration_batches=0)
    uncached.evaluate(masks + masks)
    assert uncached.evaluations == 6


def test_bn_recalibration_matches_compacted_model_recalibrated(setup):
    model, space, data = setup
    evaluator = Evaluator(model, space, data.val, calibration=data.train,
                          bn_recalibration_batches=2, calibration_batch_size=64)
    mask = random_masks(space, 1, keep=0.4)[0]
    [objectives] = evaluator.evaluate([mask])
    pruned = compact(model, space, mask)
    for module in pruned.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.reset_running_stats()
            module.momentum = None
            module.train()
    with torch.no_grad():
        for x in data.train.x[:128].split(64):
            pruned(x)
    pruned.eval()
    assert objectives.val_acc == pytest.approx(accuracy(pruned, data.val), abs=1e-9)
    # the dense model's statistics are untouched
    plain = Evaluator(model, space, data.val, bn_recalibration_batches=0)
    [dense] = plain.evaluate([space.full_mask()])
    assert dense.val_acc == pytest.approx(accuracy(model, data.val))


def test_bad_arguments(setup):
    model, space, data = setup
    with pytest.raises(ValueError,
                       match="bn_recalibration_batches must be an integer >= 0, got -1"):
        Evaluator(model, space, data.val, bn_recalibration_batches=-1)
    with pytest.raises(ValueError, match="pass calibration=<the training split>"):
        Evaluator(model, space, data.val, bn_recalibration_batches=1)
    with pytest.raises(ValueError, match="shape"):
        Evaluator(model, space, data.val,
                  bn_recalibration_batches=0).evaluate([np.ones(3, dtype=bool)])


def test_latency_cost_times_each_compacted_mask_once(setup, monkeypatch):
    model, space, data = setup
    timed = []  # parameter count of every model timed, and the timing settings
    measure = evaluator_module.measure_latency_ms

    def counting(module, inputs, **settings):
        timed.append(count_params(module))
        assert settings == {"repeats": 3, "warmup": 1, "threads": 1, "runtime": "torch",
                            "device": None} and len(inputs) == 16
        return measure(module, inputs, **settings)

    monkeypatch.setattr(evaluator_module, "measure_latency_ms", counting)
    evaluator = Evaluator(model, space, data.val, cost="latency",
                          latency=LatencySettings(batch_size=16, repeats=3, warmup=1),
                          bn_recalibration_batches=0)
    assert evaluator.dense_latency_ms > 0 and timed == [count_params(model)]  # once, up front
    masks = random_masks(space, 2, keep=0.4)
    first = evaluator.evaluate(masks)
    assert timed[1:] == [int(space.params(mask)) for mask in masks]  # the compacted models
    for mask, objectives in zip(masks, first):
        assert objectives.latency_ms > 0
        assert objectives.cost_ratio == pytest.approx(
            objectives.latency_ms / evaluator.dense_latency_ms)
        assert objectives.macs_ratio == pytest.approx(space.macs(mask) / space.dense_macs)
    again = evaluator.evaluate([mask.copy() for mask in masks])
    assert again == first and len(timed) == 3 and evaluator.cache_hits == 2  # not re-timed


def test_macs_cost_measures_no_latency(setup, monkeypatch):
    model, space, data = setup
    def never(*args, **kwargs):
        raise AssertionError("timed a model with cost=macs")

    monkeypatch.setattr(evaluator_module, "measure_latency_ms", never)
    evaluator = Evaluator(model, space, data.val, bn_recalibration_batches=0)
    [objectives] = evaluator.evaluate(random_masks(space, 1))
    assert evaluator.cost == "macs" and evaluator.dense_latency_ms is None
    assert objectives.latency_ms is None and objectives.cost_ratio == objectives.macs_ratio


def test_bad_costs_refused(setup):
    model, space, data = setup
    with pytest.raises(ValueError, match="cost must be one of \\['latency', 'macs'\\], "
                                         "got 'flops'"):
        Evaluator(model, space, data.val, cost="flops", bn_recalibration_batches=0)
    unstructured = UnstructuredSpace(model, data.train.x[:2])
    with pytest.raises(ValueError, match="cost=latency needs a structured pruning space: "
                                         "unstructured pruning removes nothing"):
        Evaluator(model, unstructured, data.val, cost="latency", bn_recalibration_batches=0)
