"""One base class for every user error: the commands catch it alone, and each subclass is still
the built-in exception it was."""

import pytest

from evoprune.config.errors import ConfigError
from evoprune.config.model_checks import ModelDoesNotFitData
from evoprune.data.splits import BadData
from evoprune.finetune_mask import MaskRequestError
from evoprune.infra.atomic import WriteFailed
from evoprune.infra.checkpoint import CheckpointError, NonFiniteWeights
from evoprune.infra.errors import UserError, user_errors
from evoprune.load import PrunedModelNotFound
from evoprune.pruning.budget import InfeasibleBudgetError
from evoprune.pruning.layers import UnsupportedLayerError
from evoprune.pruning.space import NoPrunableLayerError
from evoprune.training.train import TrainingDiverged

BUILT_IN = {ConfigError: ValueError, ModelDoesNotFitData: ValueError, BadData: ValueError,
            MaskRequestError: ValueError, WriteFailed: OSError, CheckpointError: ValueError,
            NonFiniteWeights: ValueError, PrunedModelNotFound: ValueError,
            InfeasibleBudgetError: ValueError, UnsupportedLayerError: ValueError,
            NoPrunableLayerError: ValueError, TrainingDiverged: RuntimeError}


@pytest.mark.parametrize("error, built_in", BUILT_IN.items(), ids=lambda e: e.__name__)
def test_each_user_error_is_a_user_error_and_its_built_in(error, built_in):
    assert issubclass(error, UserError) and issubclass(error, built_in)


def test_the_classes_are_listed_base_first():
    found = user_errors()
    assert found[0] is UserError and set(BUILT_IN) <= set(found)
