"""The library's defaults are the config's: the same call from Python and from the command line
(same seed) computes the same thing."""

import inspect

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from evoprune.config.checks import SEARCH_LIMITS
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.latency import LatencySettings
from evoprune.pruning.space import PruningSpace
from evoprune.search.loop import SearchDriver
from evoprune.training.distill import DistillConfig
from evoprune.training.train import TrainConfig
from tests.helpers import compose_config

HYDRA_KEYS = ("_target_", "_partial_")


def library_defaults(target) -> dict:
    """Keyword defaults of ``target``, following ``**settings`` up its base classes."""
    defaults = {}
    for klass in (target.__mro__ if inspect.isclass(target) else (target,)):
        init = klass.__init__ if inspect.isclass(target) else klass
        for name, param in inspect.signature(init).parameters.items():
            if param.default is not inspect.Parameter.empty:
                defaults.setdefault(name, param.default)
    return defaults


def disagreements(section: dict, target) -> list[str]:
    defaults = library_defaults(target)
    values = {k: v for k, v in section.items() if k not in HYDRA_KEYS}
    assert set(values) <= set(defaults) | {"kind"}, f"{target}: {set(values) - set(defaults)}"
    return [f"{key}: config {value!r}, library {defaults[key]!r}"
            for key, value in values.items()
            if key in defaults and _plain(defaults[key]) != value]


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("section, target", [
    ("evaluator", Evaluator), ("train", TrainConfig), ("latency", LatencySettings),
    ("pruning", PruningSpace),
])
def test_sections_match_library_defaults(section, target):
    config = OmegaConf.to_container(compose_config(), resolve=True)[section]
    if section == "pruning":
        config.pop("kind")
    assert disagreements(config, target) == []


def test_distill_matches_library_defaults():
    config = OmegaConf.to_container(compose_config(), resolve=True)["distill"]
    config.pop("enabled")
    assert disagreements(config, DistillConfig) == []


@pytest.mark.parametrize("search", ["ga", "nsga2", "random", "rl"])
def test_search_configs_match_library_defaults(search):
    config = OmegaConf.to_container(compose_config([f"search={search}"]), resolve=True)["search"]
    limits = {key: config.pop(key) for key in SEARCH_LIMITS}  # the driver's, not the strategy's
    assert disagreements(config, get_object(config["_target_"])) == []
    assert disagreements(limits, SearchDriver) == []


@pytest.mark.parametrize("fitness", ["constrained", "weighted"])
def test_fitness_configs_match_library_defaults(fitness):
    config = OmegaConf.to_container(compose_config([f"fitness={fitness}"]), resolve=True)
    section = {k: v for k, v in config["fitness"].items() if k != "cost"}  # cost: the run's
    assert disagreements(section, get_object(section["_target_"])) == []


def test_disagreement_is_reported():
    assert disagreements({"bn_recalibration_batches": 0}, Evaluator) == [
        "bn_recalibration_batches: config 0, library 2"]


def test_checkpoint_and_sensitivity_match_library_defaults():
    from evoprune.evaluate.sensitivity import DEFAULT_RATIOS
    from evoprune.infra.checkpoint import SearchCheckpoint

    config = OmegaConf.to_container(compose_config(), resolve=True)
    assert disagreements(config["checkpoint"], SearchCheckpoint) == []
    assert config["sensitivity"]["ratios"] == list(DEFAULT_RATIOS)
