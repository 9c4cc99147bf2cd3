"""Scoring a chunk of masks in one vmapped pass gives the scores of one mask at a time."""

import pickle

import numpy as np
import pytest
import torch

from evoprune.data import Split
from evoprune.evaluate.evaluator import Evaluator, check_settings
from evoprune.evaluate.scorer import MaskScorer, check_mode_runs
from evoprune.models import RecurrentClassifier, ResNet
from evoprune.models.cifar import MobileNetV2
from evoprune.pruning import make_space
from evoprune.pruning.compact import compact
from evoprune.pruning.space import PruningSpace
from tests.conftest import randomize_batchnorm
from tests.helpers import default_section


def masks_at(space, keeps, seed=0):
    rng = np.random.default_rng(seed)
    return [space.repair(rng.random(space.num_units) < keep) for keep in keeps]


@pytest.mark.parametrize("recalibration", [0, 2])
def test_batched_scores_equal_one_mask_at_a_time(trained_residual, synthetic_data,
                                                 recalibration):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    masks = masks_at(space, [0.2, 0.4, 0.6, 0.8, 1.0] * 4, seed=1)
    scores = {}
    for mode in ("masked", "batched"):
        evaluator = Evaluator(trained_residual, space, synthetic_data.val, mode=mode,
                              calibration=synthetic_data.train, calibration_batch_size=32,
                              bn_recalibration_batches=recalibration, cache=False,
                              batch_size=64, batch_candidates=3)  # chunks of 3, 3, ..., 2
        scores[mode] = [o.val_acc for o in evaluator.evaluate(masks)]
    assert scores["batched"] == scores["masked"]
    assert len(set(scores["masked"])) > 5  # the masks score differently: a real comparison


def test_batched_recalibration_gives_each_candidate_its_own_statistics():
    torch.manual_seed(0)
    model = randomize_batchnorm(ResNet((1, 40), 10, blocks_per_stage=1)).eval()
    x = torch.randn(96, 1, 40)
    space = PruningSpace(model, x[:2])
    scorer = MaskScorer(model, space, Split(x[:32], torch.zeros(32, dtype=torch.long)),
                        calibration_batches=list(x[32:].split(32)), mode="batched")
    masks = masks_at(space, [0.3, 0.6, 0.9])
    population = scorer.population
    params, dims = population._stacked(masks, ())
    stacked, _ = population._recalibrated(params, dims, scorer.buffers, len(masks))
    for index, mask in enumerate(masks):
        one = scorer._recalibrated_buffers(model, scorer.bn_modules, scorer.masker(mask),
                                           scorer.buffers)
        for name, value in one.items():
            torch.testing.assert_close(stacked[name][index], value, rtol=1e-4, atol=1e-5)
    first = "stem.1.running_mean"  # the stem's BatchNorm: follows the first group
    assert not torch.allclose(stacked[first][0], stacked[first][2])  # per candidate
    assert all(m.training is False for m in scorer.bn_modules)  # restored to eval mode


def test_masks_that_remove_blocks_score_their_compacted_models():
    torch.manual_seed(0)
    model = randomize_batchnorm(ResNet((1, 40), 10, blocks_per_stage=2)).eval()
    x, y = torch.randn(64, 1, 40), torch.randint(0, 10, (64,))
    space = PruningSpace(model, x[:2], granularity="both")
    masks = masks_at(space, [0.5, 0.6, 0.7, 0.8], seed=2)
    assert len({tuple(space.removed_blocks(m)) for m in masks}) > 1  # several networks
    scorer = MaskScorer(model, space, Split(x, y), mode="batched", batch_candidates=2)
    expected = []
    for mask in masks:
        pruned = compact(model, space, mask)
        with torch.no_grad():
            expected.append(float((pruned(x).argmax(1) == y).float().mean()))
    assert scorer.accuracies(masks) == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["depthwise", "unstructured"])
def test_batched_runs_depthwise_convolutions_and_weight_policies(kind):
    torch.manual_seed(0)
    if kind == "depthwise":
        model = randomize_batchnorm(MobileNetV2((3, 16, 16), 10, width=0.25)).eval()
        x = torch.randn(48, 3, 16, 16)
        space = PruningSpace(model, x[:2])
        masks = masks_at(space, [0.4, 0.7, 1.0])
    else:
        model = randomize_batchnorm(ResNet((1, 40), 10, blocks_per_stage=1)).eval()
        x = torch.randn(48, 1, 40)
        space = make_space(model, x[:2], kind="unstructured")
        masks = [space.mask_from_ratios([r] * len(space.groups)) for r in (0.1, 0.5, 1.0)]
    y = torch.randint(0, 10, (48,))
    calibration = list(torch.randn(64, *x.shape[1:]).split(32))
    scores = [MaskScorer(model, space, Split(x, y), calibration, mode=mode).accuracies(masks)
              for mode in ("masked", "batched")]
    assert scores[1] == scores[0]


def test_a_model_vmap_cannot_run_is_refused_naming_it():
    model = RecurrentClassifier((1, 20), 4)
    x = torch.randn(4, 1, 20)
    space = PruningSpace(model, x[:2])
    with pytest.raises(ValueError, match=r"mode=batched: RecurrentClassifier cannot score masks "
                                         r"in batches: torch.func.vmap cannot run it .*gru"):
        check_mode_runs(model, space, x, "batched")
    check_mode_runs(model, space, x, "masked")  # nothing to check: every model runs masked
    with pytest.raises(ValueError, match="batch_candidates must be an integer >= 1, got 0"):
        check_settings(**{**default_section("evaluator"), "batch_candidates": 0})


def test_a_batched_scorer_pickles_with_its_chunk_size(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    scorer = MaskScorer(trained_residual, space, synthetic_data.val,
                        mode="batched", batch_candidates=5)
    shipped = pickle.loads(pickle.dumps(scorer))  # what a Ray worker receives
    assert (shipped.mode, shipped.batch_candidates, shipped.population.candidates) == (
        "batched", 5, 5)
    masks = masks_at(space, [0.5, 0.8])
    assert shipped.accuracies(masks) == scorer.accuracies(masks)


class _CountsCalls(torch.nn.Module):
    """A forward pass with Python state: each call adds how often it was called, so one
    vmapped call of two masks and two calls of one disagree."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                                          torch.nn.Linear(8, 3))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.layers(x) + 10.0 * self.calls


def test_a_model_that_runs_differently_under_vmap_is_refused():
    model = _CountsCalls()
    x = torch.randn(4, 6)
    space = PruningSpace(model, x[:2])
    with pytest.raises(ValueError, match="mode=batched: _CountsCalls cannot score masks in "
                                         "batches: its vmapped outputs differ"):
        check_mode_runs(model, space, x, "batched")
