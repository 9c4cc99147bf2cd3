"""Composing the app's Hydra config in tests, and the environment of the app's subprocesses."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from evoprune.__main__ import CONFIG_DIR

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "src"  # the package's folder (src layout)


def app_env(cache: Path | None = None, *, pythonpath: Sequence[Path] = (),
            wandb: str = "disabled") -> dict[str, str]:
    """The environment for ``python -m evoprune`` (or a script) in a subprocess: this
    checkout's package, the repository and ``pythonpath`` importable, the dense-model cache in
    ``cache`` (a test's tmp dir), W&B ``disabled`` unless asked otherwise, and Hydra's full
    tracebacks off, so the app prints what a user sees."""
    env = {**os.environ, "WANDB_MODE": wandb}
    env["PYTHONPATH"] = os.pathsep.join(  # this checkout's package first, whatever is installed
        [str(SOURCE), str(REPO), *map(str, pythonpath),
         *filter(None, [os.environ.get("PYTHONPATH")])])
    if cache is not None:
        env["EVOPRUNE_CACHE"] = str(cache)
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def default_section(name: str) -> dict:
    """A section of the default config as plain values (``pruning`` without its ``kind``)."""
    from omegaconf import OmegaConf

    section = OmegaConf.to_container(compose_config(), resolve=True)[name]
    section.pop("kind", None)
    return section


# the fastest complete run: tiny data, tiny model, tiny search, no W&B
FAST = [
    "data=synthetic",
    "model=mlp",
    "model.hidden=[32,16]",
    "debug=smoke",
    "logger=none",
    "progress=false",
]


def data_and_model(cfg: DictConfig):
    """The data and the untrained model a run of ``cfg`` starts from."""
    from omegaconf import OmegaConf

    from evoprune.config.targets import make_data, make_model, make_task

    config = OmegaConf.to_container(cfg, resolve=True)
    data = make_data(config["data"], cfg.seed, make_task(config["task"]))
    return data, make_model(config["model"], data.input_shape, data.num_classes)


def assert_compacts_exactly(model, space, mask, x, *, rtol: float = 1e-4, atol: float = 1e-5):
    """The compacted model of ``mask`` computes what the masked dense model computes, and
    costs what the space says (MACs by torch's flop counter, parameters); returns it."""
    import torch
    from torch.func import functional_call

    from evoprune.pruning.blocks import blocks_removed, outside
    from evoprune.pruning.compact import compact
    from evoprune.pruning.macs import count_params, measured_macs
    from evoprune.pruning.masking import ParameterMasker

    pruned = compact(model, space, mask)
    removed = space.removed_blocks(mask)  # replaced by the identity, in both
    state = outside({**ParameterMasker(model, space)(mask), **dict(model.named_buffers())},
                    removed)
    with torch.no_grad(), blocks_removed(model, removed):
        masked = functional_call(model, state, (x,))
    torch.testing.assert_close(pruned(x), masked, rtol=rtol, atol=atol)
    assert space.macs(mask) == measured_macs(pruned, x)[0]  # the cost of the model that ships
    assert space.params(mask) == count_params(pruned)
    return pruned
