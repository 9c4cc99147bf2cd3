"""The entry point of ``gymnasium.make("evoprune/LayerPrune-v0")``: build a PruningEnv from a
model and data, from a space and evaluator, or (no arguments) a small default problem."""

from __future__ import annotations

import torch
from torch import nn

from evoprune.data import DataSplits, load_synthetic
from evoprune.evaluate.evaluator import Evaluator
from evoprune.models import CNN1d
from evoprune.pruning.space import PruningSpace
from evoprune.search.rl.env import PruningEnv, RewardFn
from evoprune.training.train import TrainConfig, train_classifier


def default_problem(seed: int = 0) -> tuple[nn.Module, DataSplits]:
    """A small CNN trained for 2 epochs on synthetic data (about a second on a CPU), so
    generic RL tools can make the environment without arguments."""
    data = load_synthetic(num_samples=600, num_classes=4, input_shape=(1, 32), seed=seed)
    torch.manual_seed(seed)
    model = CNN1d((1, 32), 4, channels=(8, 16), hidden=16)
    train_classifier(model, data.train, TrainConfig(epochs=2, lr=1e-2), seed=seed,
                     progress=False)
    return model.eval(), data


def make_layer_prune_env(
    *,
    model: nn.Module | None = None,
    data: DataSplits | None = None,
    space: PruningSpace | None = None,
    evaluator: Evaluator | None = None,
    budget: float = 0.5,
    reward: str | RewardFn = "constrained",
    min_keep: float = 0.1,
) -> PruningEnv:
    """A :class:`PruningEnv`.

    Give either ``model`` and ``data`` (a trained model; the space and a validation-split
    evaluator are built here, with ``min_keep``), or ``space`` and ``evaluator``, or nothing
    (:func:`default_problem`).
    """
    if space is not None or evaluator is not None:
        if space is None or evaluator is None or model is not None or data is not None:
            raise ValueError("give space= and evaluator= together, without model= or data=")
        return PruningEnv(space, evaluator.evaluate, budget, reward)
    if (model is None) != (data is None):
        raise ValueError("give model= and data= together (or neither, for the default problem)")
    if model is None:
        model, data = default_problem()
    space = PruningSpace(model, data.train.inputs(2), min_keep=min_keep)
    evaluator = Evaluator(model, space, data.val, calibration=data.train)
    return PruningEnv(space, evaluator.evaluate, budget, reward)
