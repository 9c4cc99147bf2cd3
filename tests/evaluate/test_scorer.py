"""The fast (sliced) and reference (masked) ways of running a mask give the same scores."""

import numpy as np
import pytest
import torch

from evoprune.data import Split
from evoprune.evaluate.evaluator import Evaluator
from evoprune.models import CNN1d
from evoprune.pruning.space import PruningSpace
from tests.conftest import randomize_batchnorm
from tests.pruning.test_macs_compact import DepthwiseNet


def masks_at(space, keeps, seed=0):
    rng = np.random.default_rng(seed)
    return [space.repair(rng.random(space.num_units) < keep) for keep in keeps]


@pytest.mark.parametrize("recalibration", [0, 2])
def test_sliced_and_masked_evaluators_agree(trained_residual, synthetic_data, recalibration):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    masks = masks_at(space, [0.2, 0.4, 0.6, 0.8, 1.0] * 4)
    scores = {}
    for mode in ("sliced", "masked"):
        evaluator = Evaluator(trained_residual, space, synthetic_data.val, mode=mode,
                              calibration=synthetic_data.train, calibration_batch_size=32,
                              bn_recalibration_batches=recalibration)
        assert (evaluator.scorer.slicer is not None) == (mode == "sliced")
        scores[mode] = evaluator.evaluate(masks)
    assert scores["sliced"] == scores["masked"]


def test_sliced_recalibration_equals_masked_on_a_cnn():
    torch.manual_seed(0)
    model = randomize_batchnorm(CNN1d((1, 40), 10)).eval()
    x = torch.randn(300, 1, 40)
    space = PruningSpace(model, x[:2])
    calibration = Split(x[200:], torch.zeros(100, dtype=torch.long))
    scorers = {mode: Evaluator(model, space, Split(x[:200], torch.randint(0, 10, (200,))),
                               calibration=calibration, mode=mode, bn_recalibration_batches=2,
                               calibration_batch_size=50).scorer
               for mode in ("sliced", "masked")}
    for mask in masks_at(space, [0.3, 0.7]):
        sliced = scorers["sliced"]
        params, buffers = sliced.slicer(mask)
        fresh = sliced._recalibrated_buffers(model, sliced.bn_modules, params, buffers)
        masked = scorers["masked"]
        reference = masked._recalibrated_buffers(model, masked.bn_modules, masked.masker(mask),
                                                 masked.buffers)
        keep = np.flatnonzero(mask[space.group_slice(space.groups[0])])
        name = "features.1.running_mean"  # the first BatchNorm: follows the first group
        torch.testing.assert_close(fresh[name], reference[name][keep], rtol=1e-4, atol=1e-5)


def test_auto_masks_what_cannot_be_sliced_and_sliced_says_why():
    model = DepthwiseNet().eval()
    x = torch.randn(8, 1, 6, 6)
    space = PruningSpace(model, x[:2])
    val = Split(x, torch.zeros(8, dtype=torch.long))
    with pytest.warns(RuntimeWarning, match="DepthwiseNet cannot run with sliced parameters.*"
                                            "scored with masked parameters"):
        assert Evaluator(model, space, val,
                         bn_recalibration_batches=0).scorer.slicer is None  # auto: the masked path
    with pytest.raises(ValueError, match="mode=sliced: DepthwiseNet cannot run"):
        Evaluator(model, space, val, mode="sliced", bn_recalibration_batches=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        Evaluator(model, space, val, mode="fast", bn_recalibration_batches=0)


@pytest.mark.parametrize("recalibration", [0, 2])
def test_threads_across_candidates_give_the_sequential_scores(trained_residual, synthetic_data,
                                                              recalibration):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    masks = masks_at(space, [0.3, 0.5, 0.7, 0.9] * 3, seed=4)
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, cache=False,
                          calibration=synthetic_data.train, calibration_batch_size=32,
                          bn_recalibration_batches=recalibration)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # three scoring threads, whatever the machine has
        parallel = evaluator.evaluate(masks)
        assert torch.get_num_threads() == 3  # restored after scoring
        torch.set_num_threads(1)  # one: the plain loop in this thread
        sequential = evaluator.evaluate(masks)
    finally:
        torch.set_num_threads(threads)
    assert parallel == sequential
    # the model the evaluator holds is untouched by the replicas
    assert all(p.device.type == "cpu" for p in trained_residual.parameters())


def test_a_streamed_validation_split_scores_what_the_in_memory_one_does():
    from torch.utils.data import TensorDataset

    from evoprune.data import DatasetSplit

    model = randomize_batchnorm(CNN1d((1, 40), 10)).eval()
    x, y = torch.randn(120, 1, 40), torch.randint(0, 10, (120,))
    space = PruningSpace(model, x[:2])
    masks = masks_at(space, [0.3, 0.7])
    calibration = Split(x[:64], torch.zeros(64, dtype=torch.long))
    for mode in ("sliced", "masked", "batched"):
        scores = [Evaluator(model, space, val, calibration=calibration, mode=mode, batch_size=32,
                            cache=False).evaluate(masks)
                  for val in (Split(x, y), DatasetSplit(TensorDataset(x, y)))]
        assert [s.val_acc for s in scores[0]] == [s.val_acc for s in scores[1]], mode
