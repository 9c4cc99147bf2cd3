"""The config checked against the model it was given, before anything is trained."""

import pytest
import torch
from omegaconf import OmegaConf

from evoprune.config.errors import ConfigError
from evoprune.config.model_checks import (
    ModelDoesNotFitData,
    check_against_model,
    check_model_accepts,
)
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.sparsity import SparsityPenalty
from tests.helpers import FAST, compose_config, data_and_model

CNN = FAST + ["model=cnn1d", "model.channels=[8,8]", "model.hidden=16"]


def setup(*overrides):
    cfg = compose_config(CNN + list(overrides))
    data, model = data_and_model(cfg)
    return OmegaConf.to_container(cfg, resolve=True), model, data


def test_the_penalty_is_built_only_when_asked_for_and_trained_here():
    config, model, data = setup("train.l1_bn=1e-3")
    space = PruningSpace(model, data.train.x[:2])
    assert isinstance(check_against_model(config, model, space, data, weights_given=False),
                      SparsityPenalty)
    assert check_against_model(config, model, space, data, weights_given=True) is None
    config, model, data = setup()
    assert check_against_model(config, model, space, data, weights_given=False) is None


def test_a_refusal_names_the_key():
    config, model, data = setup("evaluator.mode=sliced")
    config["baselines"] = ["no_such_baseline"]
    space = PruningSpace(model, data.train.x[:2])
    with pytest.raises(ConfigError, match=r"^baselines: .*no_such_baseline"):
        check_against_model(config, model, space, data, weights_given=False)


def test_a_budget_below_the_smallest_mask_is_refused_before_training():
    from evoprune.pruning.budget import InfeasibleBudgetError

    config, model, data = setup("budget=0.0001")
    space = PruningSpace(model, data.train.x[:2])
    with pytest.raises(InfeasibleBudgetError, match="budget=0.0001 cannot be met"):
        check_against_model(config, model, space, data, weights_given=False)
    config["evaluator"]["cost"] = "latency"  # needs timings: left to the search
    check_against_model(config, model, space, data, weights_given=True)


def test_a_model_with_the_wrong_number_of_outputs_is_refused():
    config, model, data = setup()
    check_model_accepts(model, data)
    with pytest.raises(ModelDoesNotFitData, match="returns shape \\[3\\] per sample; .* 4 "
                                                  "classes"):
        check_model_accepts(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(3)),
                            data)
