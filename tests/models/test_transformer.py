"""The patch transformer: shapes for sequences and images, its groups, its refusals."""

from __future__ import annotations

import pytest
import torch

from evoprune.models import PatchTransformer
from evoprune.pruning import make_space


@pytest.mark.parametrize("shape, tokens", [((1, 40), 10), ((3, 8, 8), 4)])
def test_patches_become_tokens_and_logits(shape, tokens):
    model = PatchTransformer(shape, 7, width=16, heads=2, layers=2, patch=4).eval()
    x = torch.randn(3, *shape)
    assert model.tokens(x).shape == (3, tokens, shape[0] * 4 ** (len(shape) - 1))
    assert model(x).shape == (3, 7)


def test_a_patch_holds_neighbouring_steps():
    model = PatchTransformer((2, 8), 3, width=8, heads=2, layers=1, patch=4)
    x = torch.arange(16.0).view(1, 2, 8)
    # token 1: steps 4..7 of both features, feature-major
    assert model.tokens(x)[0, 1].tolist() == [4, 5, 6, 7, 12, 13, 14, 15]


def test_heads_and_mlp_neurons_of_every_layer_are_the_groups():
    model = PatchTransformer((1, 40), 10, width=32, heads=4, layers=3, mlp_ratio=2).eval()
    space = make_space(model, torch.randn(2, 1, 40))
    assert [(g.name, g.kind, g.size) for g in space.groups] == [
        (f"layers.{i}.{name}", kind, size) for i in range(3)
        for name, kind, size in (("self_attn", "head", 4), ("linear1", "neuron", 64))]


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 30, "heads": 4}, "width must be a multiple of heads, got width=30, heads=4"),
    ({"patch": 3}, r"patch=3 must divide the input's length \[40\]"),
    ({"dropout": 1.0}, "dropout must be in \\[0, 1\\), got 1.0"),
    ({"layers": 0}, "width, heads, layers, mlp_ratio and patch must be positive integers, got "
                    r"\[64, 4, 0, 2, 4\]"),
])
def test_bad_settings_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=f"PatchTransformer {message}"):
        PatchTransformer((1, 40), 10, **kwargs)
