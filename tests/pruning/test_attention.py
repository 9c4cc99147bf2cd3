"""Attention heads and MLP neurons of transformers as pruning units: groups, exact costs
(attention's two products included), masking that equals removal, compaction and export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from evoprune.pruning import make_space
from evoprune.pruning.attention import PrunedMultiheadAttention
from evoprune.pruning.layers import UnsupportedLayerError
from evoprune.pruning.macs import counted_macs
from evoprune.pruning.unstructured import UnstructuredSpace
from tests.helpers import assert_compacts_exactly

WIDTH, HEADS, TOKENS, PATCH = 16, 4, 5, 4


class Encoder(nn.Module):
    """Patches of a sequence, a learned position embedding, pre-LayerNorm encoder layers."""

    def __init__(self, layers: int = 2, batch_first: bool = True):
        super().__init__()
        self.embed = nn.Linear(PATCH, WIDTH)
        self.position = nn.Parameter(torch.randn(1, TOKENS, WIDTH) * 0.1)
        self.batch_first = batch_first
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(WIDTH, HEADS, 2 * WIDTH, dropout=0.0,
                                       batch_first=batch_first, norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, 3)

    def forward(self, x):
        h = self.embed(x.view(x.shape[0], TOKENS, PATCH)) + self.position
        if not self.batch_first:
            h = h.transpose(0, 1)
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h).mean(1 if self.batch_first else 0))


class CrossAttention(nn.Module):
    """Queries from one half of the input, keys and values (other widths) from the other."""

    def __init__(self):
        super().__init__()
        self.queries = nn.Linear(PATCH, WIDTH)
        self.keys = nn.Linear(PATCH, 6)
        self.attn = nn.MultiheadAttention(WIDTH, HEADS, kdim=6, vdim=6, batch_first=True)
        self.head = nn.Linear(WIDTH, 3)

    def forward(self, x):
        patches = x.view(x.shape[0], TOKENS, PATCH)
        keys = torch.relu(self.keys(patches[:, 1:]))
        out, _ = self.attn(self.queries(patches[:, :2]), keys, keys)
        return self.head(out.mean(1))


def _input(batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, TOKENS * PATCH)


def _random_masks(space, count: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [space.repair(rng.random(space.num_units) < 0.5) for _ in range(count)]


def test_heads_and_mlp_neurons_are_groups_and_the_residual_stream_is_kept_whole():
    model, x = Encoder().eval(), _input()
    space = make_space(model, x)
    assert [(g.name, g.kind, g.size) for g in space.groups] == [
        ("layers.0.self_attn", "head", HEADS), ("layers.0.linear1", "neuron", 2 * WIDTH),
        ("layers.1.self_attn", "head", HEADS), ("layers.1.linear1", "neuron", 2 * WIDTH)]
    assert space.groups[0].members == ("layers.0.self_attn", "layers.0.self_attn.out_proj")
    assert "LayerNorm" in space.kept_whole["embed"]
    assert all(np.ptp(g.importance) > 0 for g in space.groups)  # magnitudes, not placeholders


def test_dense_cost_adds_the_attention_products_the_flop_counter_misses():
    model, x = Encoder().eval(), _input()
    space = make_space(model, x)
    products = 2 * (2 * TOKENS * TOKENS * WIDTH)  # two layers, QK^T and AV over all heads
    assert space.dense_macs == counted_macs(model, x) + products


def test_one_head_costs_its_projection_slices_and_its_share_of_the_products():
    model, x = Encoder().eval(), _input()
    space = make_space(model, x)
    mask = space.full_mask()
    mask[space.groups[0].offset] = False
    d = WIDTH // HEADS
    one_head = TOKENS * (3 * d * WIDTH + d * WIDTH) + 2 * TOKENS * TOKENS * d
    assert space.dense_macs - space.macs(mask) == one_head
    assert space.dense_params - space.params(mask) == 3 * d * WIDTH + 3 * d + d * WIDTH


@pytest.mark.parametrize("build", [Encoder, lambda: Encoder(batch_first=False), CrossAttention],
                         ids=["encoder", "sequence_first", "cross_attention"])
def test_masked_model_computes_what_the_compacted_model_computes(build):
    model, x = build().eval(), _input()
    space = make_space(model, x)
    for mask in _random_masks(space):
        pruned = assert_compacts_exactly(model, space, mask, x)
        kept = [int(mask[space.group_slice(g)].sum()) for g in space.groups if g.kind == "head"]
        rebuilt = [m for m in pruned.modules() if isinstance(m, PrunedMultiheadAttention)]
        assert [m.num_heads for m in rebuilt] == kept
        assert not any(isinstance(m, nn.MultiheadAttention) for m in pruned.modules())


def test_compacted_attention_keeps_the_call_of_the_module_it_replaces():
    torch.manual_seed(0)
    module = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True).eval()
    params = {name: p.detach() for name, p in module.named_parameters()}
    same = PrunedMultiheadAttention.from_kept(module, params).eval()
    q, kv = torch.randn(2, 3, WIDTH), torch.randn(2, 5, WIDTH)
    padding = torch.tensor([[False] * 4 + [True], [False] * 5])
    causal = torch.ones(3, 5, dtype=torch.bool).triu(1)
    with torch.no_grad():
        for kwargs in ({}, {"key_padding_mask": padding}, {"attn_mask": causal},
                       {"need_weights": False}, {"average_attn_weights": False}):
            expected, weights = module(q, kv, kv, **kwargs)
            got, got_weights = same(q, kv, kv, **kwargs)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
            if weights is not None:
                torch.testing.assert_close(got_weights, weights, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(same(q[0], kv[0], kv[0])[0], module(q[0], kv[0], kv[0])[0],
                                   rtol=1e-5, atol=1e-6)  # one unbatched sequence


def test_compacted_transformer_exports_with_a_dynamic_batch():
    model, x = Encoder().eval(), _input()
    space = make_space(model, x)
    pruned = assert_compacts_exactly(model, space, _random_masks(space, 1)[0], x)
    program = torch.export.export(pruned, (x,),
                                  dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    batch = _input(7)
    torch.testing.assert_close(program.module()(batch), pruned(batch))


def test_ignored_attention_keeps_its_heads_and_their_cost():
    model, x = Encoder().eval(), _input()
    space = make_space(model, x, ignored_layers=["layers.1.self_attn"])
    assert [g.name for g in space.groups if g.kind == "head"] == ["layers.0.self_attn"]
    assert space.dense_macs == counted_macs(model, x) + 2 * (2 * TOKENS * TOKENS * WIDTH)


def test_unstructured_pruning_counts_each_attention_weight_once():
    model, x = Encoder().eval(), _input()
    space = UnstructuredSpace(model, x)
    names = [g.name for g in space.groups]
    assert names.count("layers.0.self_attn.in_proj_weight") == 1
    assert space.dense_macs == make_space(model, x).dense_macs


class Logits(nn.Module):
    """A Hugging Face classifier as evoprune calls a model: ``forward(x)`` returns logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).logits


def _vit():
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(image_size=16, patch_size=8, num_channels=3, hidden_size=32,
                                    num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=48, num_labels=5)
    return Logits(transformers.ViTForImageClassification(config)).eval(), torch.randn(2, 3, 16, 16)


def _bert():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=48,
                                     max_position_embeddings=16, num_labels=3)
    return (Logits(transformers.BertForSequenceClassification(config)).eval(),
            torch.randint(0, 50, (2, 10)))


@pytest.mark.parametrize("build, attention, mlp", [
    (_vit, "model.vit.layers.{}.attention", "model.vit.layers.{}.mlp.fc1"),
    (_bert, "model.bert.encoder.layer.{}.attention.self",
     "model.bert.encoder.layer.{}.intermediate.dense"),
], ids=["vit", "bert"])
def test_hugging_face_heads_are_found_priced_and_removed_exactly(build, attention, mlp):
    """Separate q / k / v layers and a reshape into heads: the heads from the module's head
    count (BERT's output projection found where the module's output goes), never a q / k / v
    feature on its own; costs with the products the counter misses; compaction exact."""
    model, x = build()
    space = make_space(model, x)
    heads = [g.name for g in space.groups if g.kind == "head"]
    assert heads == [attention.format(i) for i in (0, 1)]
    assert {mlp.format(i) for i in (0, 1)} <= {g.name for g in space.groups}
    assert not any(g.name.endswith(("q_proj", "k_proj", "v_proj", "query", "key", "value"))
                   for g in space.groups)
    tokens = 4 + 1 if "vit" in attention else 10  # ViT: 4 patches and the class token
    products = 2 * 2 * tokens * tokens * 32  # two layers, QK^T and AV over all heads
    assert space.dense_macs == counted_macs(model, x) + products  # SDPA: counter misses them
    first = next(g for g in space.groups if g.name == attention.format(0))
    for mask in _random_masks(space, 2):
        pruned = assert_compacts_exactly(model, space, mask, x)
        kept = int(mask[space.group_slice(first)].sum())
        assert pruned.get_submodule(first.name).num_attention_heads == kept


def test_head_importance_is_the_gradient_at_a_gate_on_each_head():
    """gate_scores' head score equals |dL/dξ_h| computed directly: the loss with head h's
    context scaled by a gate ξ_h (here through the output projection's columns, which is
    where a head's output enters the residual stream), differentiated by autograd."""
    from evoprune.data import Split
    from evoprune.pruning.importance import gate_scores

    torch.manual_seed(0)
    model = Encoder(layers=1).eval()
    x, y = _input(32), torch.randint(0, 3, (32,))
    space = make_space(model, x)
    scores = gate_scores(model, space, Split(x, y), batches=1, batch_size=32)
    group = space.groups[0]
    out = model.layers[0].self_attn.out_proj
    gates = torch.ones(HEADS, requires_grad=True)
    dense = out.weight.detach().clone()
    columns = gates.repeat_interleave(WIDTH // HEADS)
    with torch.enable_grad():
        loss = torch.nn.functional.cross_entropy(functional_call(
            model, {"layers.0.self_attn.out_proj.weight": dense * columns}, (x,)), y)
        (grad,) = torch.autograd.grad(loss, gates)
    np.testing.assert_allclose(scores[space.group_slice(group)], grad.abs().numpy(),
                               rtol=1e-4, atol=1e-7)


def test_head_importance_baseline_fits_the_budget_and_needs_heads():
    from evoprune.baselines.oneshot import head_importance_refusal
    from evoprune.baselines.registry import BASELINES, BaselineContext
    from evoprune.data import DataSplits, Split

    torch.manual_seed(0)
    model, x = Encoder().eval(), _input(64)
    space = make_space(model, x)
    train = Split(x, torch.randint(0, 3, (64,)))
    data = DataSplits(train=train, val=train, test=train, num_classes=3,
                      input_shape=(TOKENS * PATCH,), name="tokens")
    mask = BASELINES["head_importance"].prune["structured"](
        BaselineContext(model=model, space=space, data=data, budget=0.5, seed=0)).mask
    assert space.macs_ratio(mask) <= 0.5
    space.check(mask)  # every group keeps its minimum
    assert head_importance_refusal(space) is None
    cnn = make_space(nn.Sequential(nn.Flatten(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2)),
                     torch.randn(2, 8))
    assert "the model has none" in head_importance_refusal(cnn)


def test_hugging_face_convnext_prunes_its_mlp_neurons_with_its_layer_scale_kept():
    """ConvNeXt's layer scale is a parameter of its own on the residual stream, which reaches
    a LayerNorm: kept whole without being listed; each block's MLP neurons prune exactly."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ConvNextConfig(num_channels=3, hidden_sizes=[8, 16], depths=[1, 1],
                                         num_stages=2, num_labels=4)
    model = Logits(transformers.ConvNextForImageClassification(config)).eval()
    x = torch.randn(2, 3, 32, 32)
    space = make_space(model, x)
    assert [(g.name, g.kind) for g in space.groups] == [
        (f"model.convnext.encoder.stages.{i}.layers.0.pwconv1", "neuron") for i in (0, 1)]
    for mask in _random_masks(space, 2):
        assert_compacts_exactly(model, space, mask, x)


class HandAttention(nn.Module):
    """Attention written by hand: query / key / value / out layers, heads of width 4 by a
    reshape, and no head count of its own."""

    def __init__(self):
        super().__init__()
        self.query, self.key, self.value, self.out = (nn.Linear(WIDTH, WIDTH) for _ in range(4))

    def forward(self, h):
        batch, tokens, _ = h.shape
        q, k, v = (layer(h).view(batch, tokens, -1, 4).transpose(1, 2)
                   for layer in (self.query, self.key, self.value))
        heads = (q @ k.transpose(-1, -2) / 2).softmax(-1) @ v
        return self.out(heads.transpose(1, 2).reshape(batch, tokens, -1))


class HandNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(PATCH, WIDTH)
        self.attn = HandAttention()
        self.head = nn.Linear(WIDTH, 3)

    def forward(self, x):
        return self.head(self.attn(self.embed(x.view(x.shape[0], TOKENS, PATCH))).mean(1))


def test_heads_declared_for_a_module_that_keeps_no_count_of_its_own():
    model, x = HandNet().eval(), _input()
    with pytest.raises(UnsupportedLayerError, match="removing units does not compute what "
                                                    "masking them does .*pruning.heads"):
        make_space(model, x)  # its q / k / v features one by one would split heads
    space = make_space(model, x, heads={"attn": WIDTH // 4})
    assert ("attn", "head", WIDTH // 4) in [(g.name, g.kind, g.size) for g in space.groups]
    for mask in _random_masks(space, 2):
        assert_compacts_exactly(model, space, mask, x)


@pytest.mark.parametrize("heads, message", [
    ({"embed": 2}, "heads names 'embed', which is not a module with query, key and value"),
    ({"attn": 3}, "heads names 'attn', which is not a module .* divisible by 3"),
    ({"attn": 0}, "heads must map module names to head counts \\(integers >= 1\\)"),
])
def test_a_wrong_head_declaration_is_refused(heads, message):
    with pytest.raises(ValueError, match=message):
        make_space(HandNet().eval(), _input(), heads=heads)


def test_a_budget_under_one_head_per_layer_says_why_min_keep_cannot_help():
    from evoprune.pruning.budget import InfeasibleBudgetError, check_budget

    space = make_space(Encoder().eval(), _input())
    with pytest.raises(InfeasibleBudgetError, match="an attention module keeps at least one "
                                                    "head whatever min_keep is"):
        check_budget(space, 0.05)
