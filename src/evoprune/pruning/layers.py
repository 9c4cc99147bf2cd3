"""Which parameter dimensions of a layer follow the units torch-pruning removes from it.

Masked evaluation zeroes exactly these slices; zeroing them must give the same outputs as
removing the units physically. That holds for the layers below. A normalisation over features
(LayerNorm, GroupNorm, RMSNorm) mixes the units it reads: a zeroed feature still counts in its
mean and variance, a removed one does not, so masking would not match the compacted model.
Units that reach one (a transformer's residual stream), or an attention module's embedding,
are kept whole (:data:`MIXING_TYPES`). A coupled layer of any other type (a grouped
convolution, a module of unknown type) is refused, by name, instead of returning wrong numbers.
"""

from __future__ import annotations

from torch import nn

from evoprune.infra.errors import UserError
from evoprune.pruning.attention import ATTENTION_TYPES
from evoprune.pruning.recurrent import RECURRENT_TYPES

ROOT_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
SUPPORTED = ROOT_TYPES + _NORM_TYPES + (nn.PReLU,)
# layers with parameters whose cost the cost model knows: the MACs it counts (conv, linear,
# recurrent, attention), or none of them (normalisation, PReLU, embedding lookups)
_FREE_TYPES = _NORM_TYPES + (nn.PReLU, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.Embedding,
                             nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
KNOWN_TYPES = ROOT_TYPES + RECURRENT_TYPES + ATTENTION_TYPES + _FREE_TYPES
KNOWN_NAMES = ", ".join(t.__name__ for t in KNOWN_TYPES)
# layers whose features a group cannot prune exactly: a group reaching one is kept whole
MIXING_TYPES = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm) + ATTENTION_TYPES


class UnsupportedLayerError(UserError, ValueError):
    """A layer coupled to a prunable group cannot be masked exactly."""


def coupled_dims(module: nn.Module, direction: str, name: str = "") -> list[tuple[str, int]]:
    """``(parameter name, dim)`` pairs of ``module`` (named ``name``) indexed by the pruned
    units.

    ``direction`` is torch-pruning's handler name: ``prune_out_channels`` (the module produces
    the units) or ``prune_in_channels`` (it consumes them).
    """
    out = direction == "prune_out_channels"
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        depthwise = module.groups == module.in_channels == module.out_channels
        if module.groups != 1 and not depthwise:
            raise UnsupportedLayerError(
                _refusal(name, f"grouped conv (groups={module.groups})"))
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
    raise UnsupportedLayerError(_refusal(name, type(module).__name__))


def _refusal(name: str, what: str) -> str:
    allowed = sorted({t.__name__ for t in SUPPORTED})
    return (
        f"layer {name} ({what}) is coupled to a prunable group, and evoprune can only mask "
        f"{allowed} exactly; list the layer that feeds it in ignored_layers"
    )


def unknown_layers(model: nn.Module) -> list[str]:
    """Names of the layers that hold parameters of their own and whose type the cost model
    does not know (a transposed convolution, a custom recurrent cell, a module using its own
    ``nn.Parameter``: a class token, a layer scale, a hand-written linear map)."""
    return [name for name, module in model.named_modules()
            if any(True for _ in module.parameters(recurse=False))
            and not isinstance(module, KNOWN_TYPES)]


def unknown_layers_error(model: nn.Module, unknown: list[str]) -> UnsupportedLayerError:
    """The refusal of layers of unknown type that pruned units reach."""
    listing = ", ".join(
        f"{name or '(the model itself)'} ({type(model.get_submodule(name)).__name__})"
        for name in unknown)
    named = [name for name in unknown if name]
    advice = (f"to keep such a layer whole, its cost counted as measured, list it in "
              f"pruning.ignored_layers (e.g. pruning.ignored_layers=[{named[0]}]) together with "
              f"the layers that feed it" if named else
              "list the layers whose units reach the model's own parameters in "
              "pruning.ignored_layers")
    return UnsupportedLayerError(
        f"evoprune cannot count or prune these layers: {listing}. It knows {KNOWN_NAMES}; "
        f"{advice}")


def check_layer_names(names) -> None:
    """``ignored_layers`` must be a list of layer names (whether they exist needs the model)."""
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"ignored_layers must be a list of layer names, got {names!r}")
