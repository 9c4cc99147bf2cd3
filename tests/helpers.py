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


def data_and_model(cfg: DictConfig):
    """The data and the untrained model a run of ``cfg`` starts from."""
    from omegaconf import OmegaConf

    from evoprune.config.targets import make_data, make_model

    config = OmegaConf.to_container(cfg, resolve=True)
    data = make_data(config["data"], cfg.seed)
    return data, make_model(config["model"], data.input_shape, data.num_classes)


def assert_compacts_exactly(model, space, mask, x, *, rtol: float = 1e-4, atol: float = 1e-5):
    """The compacted model of ``mask`` computes what the masked dense model computes, and
    costs what the space says (MACs by torch's flop counter, parameters); returns it."""
    import torch
    from torch.func import functional_call

    from evoprune.pruning.blocks import blocks_removed, outside
    from evoprune.pruning.compact import compact
    from evoprune.pruning.macs import count_params, counted_macs
    from evoprune.pruning.masking import ParameterMasker

    pruned = compact(model, space, mask)
    removed = space.removed_blocks(mask)  # replaced by the identity, in both
    state = outside({**ParameterMasker(model, space)(mask), **dict(model.named_buffers())},
                    removed)
    with torch.no_grad(), blocks_removed(model, removed):
        masked = functional_call(model, state, (x,))
    torch.testing.assert_close(pruned(x), masked, rtol=rtol, atol=atol)
    assert space.macs(mask) == counted_macs(pruned, x)  # the cost of the model that ships
    assert space.params(mask) == count_params(pruned)
    return pruned
