"""Depth pruning: residual blocks that can be removed whole, replaced by the identity.

A block qualifies when its module takes one tensor and returns one of the same shape, and its
own forward adds its input, unchanged (through identity modules only), to what its layers
compute: ``act(x + F(x))`` with an identity shortcut. Removing it leaves ``x``: the residual
stream goes on and nothing around the block changes width, so depth genes sit beside channel
genes in one mask. A block whose shortcut projects (stride or width changes) does not
qualify: removing it would change the stream's shape.

With depth genes only (``pruning.granularity=block``), a single convolution or linear layer
whose output is shaped like its input qualifies too (what follows it then reads its input).
Beside channel genes it cannot: its output channels are a group of their own, which removing
it would merge with its input's.

Blocks are found on a ``torch.fx`` trace of the model, which records for every operation the
modules it ran inside (``nn_module_stack``); torch-pruning's graph has no notion of the module
that holds a residual add. A model that ``torch.fx`` cannot trace has no blocks found, and
``pruning.granularity=block`` says so.

Everywhere a mask removes blocks, the same rule holds: the block is replaced by the identity.
Scoring runs the model with the removed blocks swapped out (:func:`blocks_removed`), compaction
swaps them out for good, and the cost model counts nothing inside them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import fx, nn

from evoprune.pruning.layers import ROOT_TYPES
from evoprune.pruning.macs import forward_with_hooks
from evoprune.pruning.recurrent import RECURRENT_TYPES

GRANULARITIES = ("channel", "block", "both")
BLOCK_GROUP = "depth"  # the name of a pruning space's group of block units
_ADDS = {"add", "iadd", "__add__", "__iadd__"}


class _Tracer(fx.Tracer):
    """torch.fx's default tracer, keeping every layer the cost model knows a leaf."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return isinstance(module, ROOT_TYPES + RECURRENT_TYPES) or super().is_leaf_module(
            module, qualified_name)


def _stack(node: fx.Node) -> list[str]:
    return list(node.meta.get("nn_module_stack", {}))


def _through_identities(node, model: nn.Module):
    """The node an argument stands for once identity modules are looked through."""
    while (isinstance(node, fx.Node) and node.op == "call_module"
           and isinstance(model.get_submodule(node.target), nn.Identity)):
        node = node.args[0]
    return node


def _is_add(node: fx.Node) -> bool:
    name = getattr(node.target, "__name__", str(node.target))
    return node.op in ("call_function", "call_method") and name in _ADDS


def find_blocks(model: nn.Module, example_input: torch.Tensor, *,
                layers: bool = False) -> list[str]:
    """Names of the residual blocks of ``model`` that can be replaced by the identity, in
    network order (empty if torch.fx cannot trace the model). With ``layers``, also every
    convolution or linear layer outside them whose output is shaped like its input."""
    try:
        graph = fx.GraphModule(model, _Tracer().trace(model)).graph
    except Exception:  # noqa: BLE001 - any tracing failure: dynamic control flow, odd inputs
        return []
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output", "get_attr")]
    inside: dict[str, list[fx.Node]] = {}
    for node in nodes:
        stack = _stack(node)
        if node.op == "call_module":  # a leaf module's own path is its innermost scope
            stack = stack + [node.target]
        for path in dict.fromkeys(stack):
            if path:
                inside.setdefault(path, []).append(node)
    candidates = []
    for path, members in inside.items():
        module = model.get_submodule(path)
        if isinstance(module, ROOT_TYPES + RECURRENT_TYPES) or not any(
                isinstance(m, ROOT_TYPES) for m in module.modules()):
            continue
        if any(isinstance(m, RECURRENT_TYPES) for m in module.modules()):
            continue  # its hidden units' couplings are measured on the whole model
        member_set = set(members)
        inputs = {a for n in members for a in n.all_input_nodes
                  if a not in member_set and a.op != "get_attr"}
        if len(inputs) != 1:
            continue
        (source,) = inputs
        residual = any(
            _is_add(n) and _stack(n)[-1:] == [path]
            and any(_through_identities(a, model) is source for a in n.args)
            for n in members)
        if residual:
            candidates.append(path)
    single = [name for name, module in model.named_modules()
              if layers and isinstance(module, ROOT_TYPES)]
    keepers = _shape_keepers(model, candidates + single, example_input)
    blocks = [path for path in candidates if path in keepers]
    inside_block = tuple(f"{block}." for block in blocks)
    blocks += [name for name in single if name in keepers and not name.startswith(inside_block)]
    order = {name: index for index, (name, _) in enumerate(model.named_modules())}
    return sorted(blocks, key=order.__getitem__)


def _shape_keepers(model: nn.Module, paths: Sequence[str],
                   example_input: torch.Tensor) -> set[str]:
    """Those of ``paths`` whose module returns a tensor shaped like its one input (one
    forward pass for all)."""
    keepers = set()

    def hook_for(path: str):
        def hook(module, inputs, kwargs, output):
            if (len(inputs) == 1 and not kwargs and isinstance(inputs[0], torch.Tensor)
                    and isinstance(output, torch.Tensor) and output.shape == inputs[0].shape):
                keepers.add(path)
        return hook

    forward_with_hooks(model, example_input,
                       {model.get_submodule(path): hook_for(path) for path in paths})
    return keepers


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> nn.Module:
    """Put ``module`` at ``path``; return what was there."""
    parent, _, child = path.rpartition(".")
    owner = model.get_submodule(parent) if parent else model
    old = owner._modules[child]
    owner._modules[child] = module
    return old


def _outermost(names: Sequence[str]) -> list[str]:
    """``names`` without those inside another of them (gone with it)."""
    return [name for name in names
            if not any(name.startswith(f"{other}.") for other in names if other != name)]


def remove_blocks(model: nn.Module, names: Sequence[str]) -> nn.Module:
    """Replace each named block of ``model`` by ``nn.Identity`` (in place); return ``model``."""
    for name in _outermost(names):
        _set_submodule(model, name, nn.Identity())
    return model


@contextlib.contextmanager
def blocks_removed(model: nn.Module, names: Sequence[str]) -> Iterator[nn.Module]:
    """``model`` with the named blocks replaced by the identity for the duration, restored
    afterwards. A ``functional_call`` on it takes a state without their entries
    (:func:`outside`)."""
    saved = []
    try:
        for name in _outermost(names):
            saved.append((name, _set_submodule(model, name, nn.Identity())))
        yield model
    finally:
        for name, module in reversed(saved):
            _set_submodule(model, name, module)


def outside(state: dict, names: Sequence[str]) -> dict:
    """``state`` (parameter or buffer name -> tensor) without the entries of the named
    blocks, for a ``functional_call`` on the model they were removed from."""
    prefixes = tuple(f"{name}." for name in names)
    return {key: value for key, value in state.items() if not key.startswith(prefixes)}


def check_granularity(granularity: object) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {list(GRANULARITIES)}, got "
                         f"{granularity!r}")
    return granularity


__all__ = ["BLOCK_GROUP", "GRANULARITIES", "blocks_removed", "check_granularity", "find_blocks",
           "outside", "remove_blocks"]
