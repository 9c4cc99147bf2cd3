"""The config's keys: a key the config does not define, a setting a section does not take and a
key that moved are each refused in one line that names the right one."""

import pytest

from evoprune.config.checks import check_config
from evoprune.config.errors import ConfigError
from evoprune.config.keys import check_known, check_renamed, closest, top_level_keys
from tests.helpers import FAST, compose_config


def test_the_top_level_keys_are_the_configs_and_its_groups():
    keys = top_level_keys()
    assert {"budget", "seed", "train", "evaluator", "search", "data", "model", "pruning",
            "logger", "fitness"} <= keys
    assert "defaults" not in keys and "hydra" not in keys
    assert set(compose_config().keys()) <= keys


def test_a_key_added_with_a_plus_is_refused_naming_the_closest():
    with pytest.raises(ConfigError, match=r"^serach is not a config key \(did you mean "
                                          r"search\?\); the keys are baselines, budget, "):
        check_config(compose_config([*FAST, "+serach=nsga2"]))
    with pytest.raises(ConfigError, match=r"^zzz is not a config key; the keys are "):
        check_known(["budget", "zzz"])


def test_a_setting_a_section_does_not_take_is_refused_naming_the_closest():
    with pytest.raises(ConfigError, match=r"^train.epoch is not a setting of train \(did you "
                                          r"mean epochs\?\)$"):
        check_config(compose_config([*FAST, "+train.epoch=3"]))
    with pytest.raises(ConfigError, match=r"^search.populaton_size is not a setting of search "
                                          r"\(did you mean population_size\?\)$"):
        check_config(compose_config([*FAST, "+search.populaton_size=8"]))


def test_closest_says_nothing_without_a_close_choice():
    assert closest("serach", ["search", "seed"]) == " (did you mean search?)"
    assert closest("xyz", ["search", "seed"]) == ""


@pytest.mark.parametrize("override", ["fitness.cost=latency", "+fitness.cost=latency"])
def test_a_moved_key_is_refused_naming_its_new_place(override):
    with pytest.raises(ConfigError, match=r"^fitness.cost is now evaluator.cost: use "
                                          r"evaluator.cost=latency$"):
        check_renamed(["budget=0.5", override])
    check_renamed(["evaluator.cost=latency", "budget=0.5"])  # the new key passes


@pytest.mark.parametrize("target", ["evoprune.search.base.BestFeasible",
                                    "evoprune.search.base.Strategy"])
def test_a_search_target_that_is_no_strategy_the_driver_runs_is_refused(target):
    # Strategy itself is the common base: the driver runs only its two kinds
    with pytest.raises(ConfigError, match=rf"^search._target_={target} is not a search "
                                          r"strategy: a strategy subclasses "
                                          r"evoprune.search.base.AskTellStrategy or "
                                          r"SelfDrivenStrategy$"):
        check_config(compose_config([*FAST, f"search._target_={target}"]))
