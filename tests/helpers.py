"""Composing the app's Hydra config in tests."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from evoprune.__main__ import CONFIG_DIR


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


# the fastest complete run: tiny data, tiny model, tiny search, no W&B
FAST = [
    "data=synthetic",
    "model=mlp",
    "model.hidden=[32,16]",
    "debug=smoke",
    "logger=none",
    "progress=false",
]
