"""Which parameter dimensions of a layer follow the units torch-pruning removes from it.

Masked evaluation zeroes exactly these slices; zeroing them must give the same outputs as
removing the units physically. That holds for the layers below; a coupled layer of any other
type (LayerNorm, GroupNorm, grouped convolutions) mixes units, so masking it would not match the
compacted model, and the space refuses it instead of returning wrong numbers.
"""

from __future__ import annotations

from torch import nn

from evoprune.infra.errors import UserError
from evoprune.pruning.recurrent import RECURRENT_TYPES

ROOT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
SUPPORTED = ROOT_TYPES + _NORM_TYPES + (nn.PReLU,)
# layers with parameters whose cost the cost model knows: the MACs it counts (conv, linear,
# recurrent), or none of them (normalisation, PReLU, embedding lookups)
_FREE_TYPES = _NORM_TYPES + (nn.PReLU, nn.LayerNorm, nn.GroupNorm, nn.Embedding,
                             nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
KNOWN_TYPES = ROOT_TYPES + RECURRENT_TYPES + _FREE_TYPES
KNOWN_NAMES = ", ".join(t.__name__ for t in KNOWN_TYPES)


class UnsupportedLayerError(UserError, ValueError):
    """A layer coupled to a prunable group cannot be masked exactly."""


def coupled_dims(module: nn.Module, direction: str) -> list[tuple[str, int]]:
    """``(parameter name, dim)`` pairs of ``module`` indexed by the pruned units.

    ``direction`` is torch-pruning's handler name: ``prune_out_channels`` (the module produces
    the units) or ``prune_in_channels`` (it consumes them).
    """
    out = direction == "prune_out_channels"
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        depthwise = module.groups == module.in_channels == module.out_channels
        if module.groups != 1 and not depthwise:
            raise UnsupportedLayerError(_refusal(module, f"grouped conv (groups={module.groups})"))
        if out or depthwise:
            return [("weight", 0)] + ([("bias", 0)] if module.bias is not None else [])
        return [("weight", 1)]
    if isinstance(module, nn.Linear):
        if out:
            return [("weight", 0)] + ([("bias", 0)] if module.bias is not None else [])
        return [("weight", 1)]
    if isinstance(module, _NORM_TYPES):
        return [(name, 0) for name in ("weight", "bias") if getattr(module, name) is not None]
    if isinstance(module, nn.PReLU):
        return [("weight", 0)] if module.num_parameters > 1 else []
    raise UnsupportedLayerError(_refusal(module, type(module).__name__))


def _refusal(module: nn.Module, what: str) -> str:
    allowed = sorted({t.__name__ for t in SUPPORTED})
    return (
        f"a {what} layer is coupled to a prunable group, and evoprune can only mask {allowed} "
        f"exactly; list the layer that feeds it in ignored_layers"
    )


def unknown_layers(model: nn.Module) -> list[str]:
    """Names of the layers that hold parameters of their own and whose type the cost model
    does not know (a transposed convolution, attention, a custom recurrent cell, a module
    using its own ``nn.Parameter``)."""
    return [name for name, module in model.named_modules()
            if any(True for _ in module.parameters(recurse=False))
            and not isinstance(module, KNOWN_TYPES)]


def check_layer_names(names) -> None:
    """``ignored_layers`` must be a list of layer names (whether they exist needs the model)."""
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"ignored_layers must be a list of layer names, got {names!r}")
