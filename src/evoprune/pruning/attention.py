"""Attention heads in the pruning space: ``nn.MultiheadAttention`` (also inside
``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``), and attention written with
separate query, key and value ``nn.Linear`` layers and a reshape into heads (Hugging Face's
ViT, BERT and their kin).

Why this is owned here rather than left to torch-pruning (1.6.1): its attention pruner removes
features of the embedding (the residual stream), not heads; on separate q / k / v layers its
graph couples feature ``i`` of all three and of the output projection's input across every
head, a unit that splits heads; and it cannot give ``nn.MultiheadAttention`` fewer heads than
its embedding allows (the module derives the head width from the embedding width). So:

- **A head is a unit.** Head ``h`` owns rows ``h·d .. (h+1)·d`` of the query, key and value
  projections (weights and biases; packed in ``in_proj_weight`` or separate) and the matching
  input columns of the output projection, ``d`` the head width. One group per attention module.
  Heads are found from the module: ``nn.MultiheadAttention``'s own fields, or a module with
  ``nn.Linear`` children named ``q_proj / k_proj / v_proj`` (or ``query / key / value``,
  ``q / k / v``, ``q_lin / k_lin / v_lin``) and a head count (``num_attention_heads``,
  ``num_heads``, ``n_heads`` or ``n_head``); its output projection is its own child
  (``o_proj``, ``out_proj``, ``out_lin``, ``dense``, ``proj``, ``c_proj``) or, as in BERT, the
  layer that reads what the module returns (found by one forward pass).
- **Masking is exact.** A head with zero query and key rows scores every key 0, and with zero
  value rows its weighted sum is 0; its output columns are zero too, so the masked module
  computes what the module without the head computes.
- **Costs.** Per sample: the projections (``tokens × rows × columns`` each) and attention's two
  products, ``QKᵀ`` and the weighted sum of ``V``: ``query tokens × key tokens × d`` per head
  each. ``torch.utils.flop_counter`` counts the products on some paths (``need_weights=True``,
  eager attention) and not on others (``scaled_dot_product_attention`` on a CPU), so the dense
  check accepts either (``macs.check_dense_macs``).
- **Compaction.** An ``nn.MultiheadAttention`` is rebuilt as :class:`PrunedMultiheadAttention`,
  which keeps the embedding width and the call signature and computes with the kept heads; a
  split module keeps its class, its layers sliced and its head count updated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_TYPES = (nn.MultiheadAttention,)


_QKV_NAMES = (("q_proj", "k_proj", "v_proj"), ("query", "key", "value"), ("q", "k", "v"),
              ("q_lin", "k_lin", "v_lin"))
_OUT_NAMES = ("o_proj", "out_proj", "out_lin", "out", "dense", "proj", "c_proj")
_HEAD_COUNT = ("num_attention_heads", "num_heads", "n_heads", "n_head")
_HEAD_SIZE = ("all_head_size", "inner_dim")  # heads × head width, where a module keeps it


@dataclass(frozen=True)
class AttentionSite:
    """One attention module: its heads, and the parameter slices each head owns."""

    name: str
    num_heads: int
    head_dim: int
    embed_dim: int  # the width of the module's output (the residual stream)
    # (parameter, dim, first index) of each block of rows that follows the heads: query, key,
    # value weights and biases
    blocks: tuple[tuple[str, int, int], ...]
    output: str  # the output projection's weight: its input columns follow the heads
    inside: tuple[str, ...]  # the traced layers whose MACs run inside the module
    projections: tuple[str, ...] = ()  # split attention: the q, k, v layers (packed: none)

    @property
    def split(self) -> bool:
        return bool(self.projections)

    @property
    def first_layer(self) -> str:
        """The traced layer that runs first in the module (places its group in network
        order)."""
        return self.projections[0] if self.split else self.name

    @property
    def head_layers(self) -> set[tuple[str, str]]:
        """``(layer, side)`` whose units are this module's head dims: the q / k / v outputs
        and the output projection's inputs (no other group may prune them)."""
        return {(name, "out") for name in self.projections} | {
            (self.output.removesuffix(".weight"), "in")}

    def couplings(self, model: nn.Module, offset: int) -> list[tuple[str, int, np.ndarray]]:
        """``(parameter, dim, index → unit)`` of every slice the heads own, units numbered
        from ``offset``."""
        heads = offset + np.repeat(np.arange(self.num_heads), self.head_dim)
        found: dict[tuple[str, int], np.ndarray] = {}
        for param, dim, start in self.blocks:
            length = model.get_parameter(param).shape[dim]
            units = found.setdefault((param, dim), np.full(length, -1, np.int64))
            units[start:start + heads.size] = heads
        found[(self.output, 1)] = heads
        return [(param, dim, units) for (param, dim), units in found.items()]

    def set_heads(self, module: nn.Module, kept: int) -> None:
        """Tell a compacted split module how many heads it has left."""
        for attr in _HEAD_COUNT:
            if isinstance(getattr(module, attr, None), int):
                setattr(module, attr, kept)
        for attr in _HEAD_SIZE:
            if isinstance(getattr(module, attr, None), int):
                setattr(module, attr, kept * self.head_dim)


def attention_sites(model: nn.Module, example_input: torch.Tensor | None = None,
                    declared: dict[str, int] | None = None) -> list[AttentionSite]:
    """Every attention module of ``model`` whose heads can be found, in definition order.
    ``example_input``: a batch, to find the output projection of a split module that has
    none of its own (without it such a module is not found). ``declared``: head counts of
    split modules by name (``pruning.heads``), for modules that keep none of their own."""
    declared = declared or {}
    names = dict(model.named_modules())
    for name, heads in declared.items():
        if name not in names or _split_layers(names[name], heads) is None:
            raise ValueError(
                f"heads names {name!r}, which is not a module with query, key and value "
                f"linear layers of equal width divisible by {heads} (children named "
                f"{' / '.join(_QKV_NAMES[0])}, {' / '.join(_QKV_NAMES[1])}, "
                f"{' / '.join(_QKV_NAMES[2])} or {' / '.join(_QKV_NAMES[3])})")
    sites, readers = [], None
    for name, module in names.items():
        if isinstance(module, nn.MultiheadAttention):
            sites.append(_packed_site(name, module))
            continue
        split = _split_layers(module, declared.get(name))
        if split is None:
            continue
        heads, projections, output = split
        if output is None:
            if example_input is None:
                continue
            if readers is None:
                readers = _readers_of_outputs(model, example_input)
            output = readers.get(name)
            if output is None:
                if name in declared:
                    raise ValueError(
                        f"heads names {name!r}, whose output projection was not found: no "
                        f"child named {' / '.join(_OUT_NAMES)} reads its heads, and no linear "
                        "layer reads what it returns")
                continue
        sites.append(_split_site(model, name, heads, projections, output))
    return sites


def _packed_site(name: str, module: nn.MultiheadAttention) -> AttentionSite:
    width = module.head_dim * module.num_heads
    if module._qkv_same_embed_dim:
        weights = [(f"{name}.in_proj_weight", 0, i * width) for i in range(3)]
    else:
        weights = [(f"{name}.{part}_proj_weight", 0, 0) for part in ("q", "k", "v")]
    biases = [] if module.in_proj_bias is None else [
        (f"{name}.in_proj_bias", 0, i * width) for i in range(3)]
    return AttentionSite(name, module.num_heads, module.head_dim, module.embed_dim,
                         tuple(weights + biases), f"{name}.out_proj.weight",
                         (name, f"{name}.out_proj"))


def _split_layers(module: nn.Module, heads: int | None = None
                  ) -> tuple[int, list[str], str | None] | None:
    """A split attention module's head count (``heads``, else its own attribute), q / k / v
    child names and own output projection (None: it has none), or None when ``module`` is
    not one."""
    heads = heads or next((getattr(module, attr) for attr in _HEAD_COUNT
                           if isinstance(getattr(module, attr, None), int)), None)
    children = dict(module.named_children())
    for names in _QKV_NAMES:
        layers = [children.get(n) for n in names]
        if heads and all(isinstance(layer, nn.Linear) for layer in layers):
            width = layers[0].out_features
            if width % heads or any(layer.out_features != width for layer in layers):
                return None
            output = next((n for n in _OUT_NAMES if isinstance(children.get(n), nn.Linear)
                           and children[n].in_features == width), None)
            return heads, list(names), output
    return None


def _split_site(model: nn.Module, name: str, heads: int, projections: list[str],
                output: str) -> AttentionSite:
    local = [f"{name}.{p}" for p in projections]
    out_name = output if "." in output or output not in dict(
        model.get_submodule(name).named_children()) else f"{name}.{output}"
    out = model.get_submodule(out_name)
    blocks = [(f"{layer}.weight", 0, 0) for layer in local] + [
        (f"{layer}.bias", 0, 0) for layer in local
        if model.get_submodule(layer).bias is not None]
    inside = tuple(local) + ((out_name,) if out_name.startswith(f"{name}.") else ())
    width = model.get_submodule(local[0]).out_features
    return AttentionSite(name, heads, width // heads, out.out_features, tuple(blocks),
                         f"{out_name}.weight", inside, tuple(local))


def _readers_of_outputs(model: nn.Module, example_input: torch.Tensor) -> dict[str, str]:
    """For each module, the ``nn.Linear`` layer (if any) whose input is the very tensor the
    module returned (first of a tuple): how BERT's attention reaches its output projection."""
    from evoprune.pruning.macs import forward_with_hooks

    names = {module: name for name, module in model.named_modules()}
    returned: dict[int, str] = {}
    alive: list[torch.Tensor] = []  # so that no id is reused by a later tensor
    found: dict[str, str] = {}

    def record(module, args, kwargs, output) -> None:
        first = output[0] if isinstance(output, tuple) and output else output
        if isinstance(first, torch.Tensor):
            alive.append(first)
            returned.setdefault(id(first), names[module])
        if isinstance(module, nn.Linear) and args and id(args[0]) in returned:
            found.setdefault(returned[id(args[0])], names[module])

    forward_with_hooks(model, example_input, {m: record for m in model.modules() if m is not model})
    return found


@dataclass(frozen=True)
class AttentionTrace:
    """The token counts one call of an attention module saw, and what they cost."""

    name: str
    queries: int
    keys: int

    def product_macs_per_head(self, site: AttentionSite) -> int:
        """``QKᵀ`` and the weighted sum of ``V``, for one head, per sample."""
        return 2 * self.queries * self.keys * site.head_dim

    def projection_macs(self, module: nn.MultiheadAttention) -> list[tuple[str, int, int]]:
        """``(weight, dense MACs per sample, first row)`` of each projection's call (the
        packed weight counted block by block: queries and keys may differ in number)."""
        e, k, v = module.embed_dim, module.kdim, module.vdim
        tokens = (self.queries, self.keys, self.keys)
        if module._qkv_same_embed_dim:
            calls = [("in_proj_weight", n * e * e, i * e) for i, n in enumerate(tokens)]
        else:
            calls = [(f"{part}_proj_weight", n * e * width, 0)
                     for part, n, width in zip("qkv", tokens, (e, k, v))]
        return calls + [("out_proj.weight", self.queries * e * e, 0)]


def attention_call(module: nn.MultiheadAttention, name: str, args: tuple,
                   kwargs: dict) -> AttentionTrace:
    """What one call of an attention module saw (its forward hook's ``args`` / ``kwargs``)."""
    query = args[0] if args else kwargs["query"]
    key = args[1] if len(args) > 1 else kwargs["key"]
    axis = 1 if module.batch_first and query.dim() == 3 else 0
    return AttentionTrace(name, query.shape[axis], key.shape[axis])


def trace_attention(model: nn.Module, example_input: torch.Tensor,
                    sites: list[AttentionSite]) -> list[AttentionTrace]:
    """Every call of the attention modules of ``sites`` in one forward pass, in execution
    order (a split module's token counts read off its query and key layers' outputs)."""
    from evoprune.pruning.macs import forward_with_hooks

    names = {module: name for name, module in model.named_modules()}
    batch = max(1, len(example_input))
    seen: list[AttentionTrace] = []
    queries: dict[str, list[int]] = {}
    hooks = {}
    for site in sites:
        module = model.get_submodule(site.name)
        if not site.split:
            hooks[module] = lambda m, args, kwargs, output: seen.append(
                attention_call(m, names[m], args, kwargs))
            continue
        q, k = (model.get_submodule(name) for name in site.projections[:2])
        width = site.num_heads * site.head_dim

        def on_query(m, args, kwargs, output, site=site, width=width):
            queries.setdefault(site.name, []).append(output.numel() // batch // width)

        def on_key(m, args, kwargs, output, site=site, width=width):
            seen.append(AttentionTrace(site.name, queries[site.name].pop(0),
                                       output.numel() // batch // width))

        hooks[q], hooks[k] = on_query, on_key
    if hooks:
        forward_with_hooks(model, example_input, hooks)
    return seen


def attention_macs(sites: list[AttentionSite], calls: list[AttentionTrace],
                   traces) -> dict[str, tuple[int, int]]:
    """Each attention module's dense (MACs of the projections inside it, of its products) per
    sample, over all its calls (``traces``: ``macs.trace_layers``'s)."""
    by_name = {site.name: site for site in sites}
    found = {site.name: [0, 0] for site in sites}
    for site in sites:
        found[site.name][0] = sum(t.macs for t in traces if t.name in site.inside)
    for call in calls:
        site = by_name[call.name]
        found[call.name][1] += call.product_macs_per_head(site) * site.num_heads
    return {name: (projections, products) for name, (projections, products) in found.items()}


class PrunedMultiheadAttention(nn.Module):
    """``nn.MultiheadAttention`` with some heads removed: the same call and outputs (the
    embedding width is kept; queries, keys and values are ``num_heads × head_dim`` wide).

    Built by :meth:`from_kept` from a module's sliced parameters. Its ``in_proj_bias`` is
    real and ``_qkv_same_embed_dim`` is False, so ``nn.TransformerEncoderLayer`` runs its
    ordinary path, which calls this module, instead of the fused kernel.
    """

    _qkv_same_embed_dim = False

    def __init__(self, embed_dim: int, num_heads: int, head_dim: int, kdim: int, vdim: int, *,
                 bias: bool, dropout: float, batch_first: bool) -> None:
        super().__init__()
        width = num_heads * head_dim
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, head_dim
        self.kdim, self.vdim = kdim, vdim
        self.dropout, self.batch_first = dropout, batch_first
        self.q_proj_weight = nn.Parameter(torch.empty(width, embed_dim))
        self.k_proj_weight = nn.Parameter(torch.empty(width, kdim))
        self.v_proj_weight = nn.Parameter(torch.empty(width, vdim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width)) if bias else None
        self.out_proj = nn.Linear(width, embed_dim, bias=True)

    @classmethod
    def from_kept(cls, module: nn.MultiheadAttention,
                  params: dict[str, torch.Tensor]) -> PrunedMultiheadAttention:
        """The smaller module, from ``module``'s parameters sliced to the kept heads (local
        names)."""
        if module._qkv_same_embed_dim:
            q, k, v = params["in_proj_weight"].chunk(3)
        else:
            q, k, v = (params[f"{part}_proj_weight"] for part in "qkv")
        heads = q.shape[0] // module.head_dim
        smaller = cls(module.embed_dim, heads, module.head_dim, module.kdim, module.vdim,
                      bias=module.in_proj_bias is not None, dropout=module.dropout,
                      batch_first=module.batch_first).to(q.device, q.dtype)
        values = {"q_proj_weight": q, "k_proj_weight": k, "v_proj_weight": v,
                  "out_proj.weight": params["out_proj.weight"]}
        if module.in_proj_bias is not None:
            values["in_proj_bias"] = params["in_proj_bias"]
        if module.out_proj.bias is not None:
            values["out_proj.bias"] = params["out_proj.bias"]
        else:
            smaller.out_proj.bias = None
        with torch.no_grad():
            for name, value in values.items():
                smaller.get_parameter(name).copy_(value)
        return smaller.train(module.training)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        batched = query.dim() == 3
        if not batched:  # (tokens, features): a batch of one
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        biases = (self.in_proj_bias.chunk(3) if self.in_proj_bias is not None
                  else (None, None, None))
        q, k, v = (self._heads(F.linear(x, w, b)) for x, w, b in zip(
            (query, key, value), (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight),
            biases))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)
        additive = _additive_mask(attn_mask, key_padding_mask, is_causal, scores)
        if additive is not None:
            scores = scores + additive
        weights = scores.softmax(dim=-1)
        if self.training and self.dropout > 0:
            weights = F.dropout(weights, p=self.dropout)
        context = (weights @ v).transpose(1, 2).flatten(2)  # (batch, queries, heads × d)
        out = self.out_proj(context)
        if not batched:
            out = out.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        weights = weights.mean(dim=1) if average_attn_weights else weights
        return out, weights if batched else weights.squeeze(0)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, tokens, heads × d)`` → ``(batch, heads, tokens, d)``."""
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)


def packed_state(values: dict[str, torch.Tensor], dense: set[str]) -> dict[str, torch.Tensor]:
    """A compacted model's state dict with each :class:`PrunedMultiheadAttention`'s query, key
    and value weights stacked back into ``in_proj_weight`` where the dense module (whose state
    names are ``dense``) packs them."""
    out = dict(values)
    for name in values:
        if not name.endswith("q_proj_weight"):
            continue
        prefix = name.removesuffix("q_proj_weight")
        if f"{prefix}in_proj_weight" in dense and f"{prefix}q_proj_weight" not in dense:
            out[f"{prefix}in_proj_weight"] = torch.cat(
                [out.pop(f"{prefix}{part}_proj_weight") for part in "qkv"])
    return out


def _additive_mask(attn_mask: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                   is_causal: bool, scores: torch.Tensor) -> torch.Tensor | None:
    """``nn.MultiheadAttention``'s masks as one additive mask broadcast to ``scores``
    (``(batch, heads, queries, keys)``); a True entry of a boolean mask is not attended."""
    masks = []
    queries, keys = scores.shape[-2:]
    if is_causal and attn_mask is None:
        attn_mask = torch.ones(queries, keys, dtype=torch.bool, device=scores.device).triu(1)
    if attn_mask is not None:
        if attn_mask.dim() == 3:  # (batch × heads, queries, keys)
            attn_mask = attn_mask.view(scores.shape[0], -1, queries, keys)
        masks.append(_as_additive(attn_mask, scores.dtype))
    if key_padding_mask is not None:
        masks.append(_as_additive(key_padding_mask, scores.dtype)[:, None, None, :])
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else masks[0] + masks[1]


def _as_additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf"))
    return mask.to(dtype)


__all__ = [
    "ATTENTION_TYPES",
    "AttentionSite",
    "AttentionTrace",
    "PrunedMultiheadAttention",
    "attention_call",
    "attention_macs",
    "attention_sites",
    "packed_state",
    "trace_attention",
]
