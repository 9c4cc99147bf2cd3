"""A small pre-LayerNorm transformer encoder over patches of a sequence or an image.

Layout: the input is cut into non-overlapping patches (``patch`` steps of a ``(features,
steps)`` sequence, ``patch × patch`` pixels of a ``(channels, height, width)`` image), each
patch mapped to ``width`` features by a linear layer, a learned position embedding added, then
``layers`` ``nn.TransformerEncoderLayer`` blocks (pre-LayerNorm, GELU), a final LayerNorm, the
mean over tokens and a linear head.

What evoprune prunes in it: every layer's attention heads and MLP neurons. The residual stream
(``width``) reaches every LayerNorm and is kept whole (see ``evoprune.pruning.layers``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from evoprune.models.mlp import positive_ints


class PatchTransformer(nn.Module):
    """Transformer encoder classifier over patches.

    Args:
        input_shape, num_classes: from the data: ``(features, steps)`` or ``(channels,
            height, width)``.
        width: features per token (the residual stream); a multiple of ``heads``.
        heads: attention heads per layer.
        layers: encoder layers.
        mlp_ratio: hidden neurons of each layer's MLP per feature of ``width``.
        patch: steps (or pixels per side) per token; must divide the input's length (sides).
        dropout: dropout of attention weights and of each sublayer's output while training.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        width: int = 64,
        heads: int = 4,
        layers: int = 3,
        mlp_ratio: int = 2,
        patch: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        owner = "PatchTransformer"
        shape = positive_ints("input_shape", tuple(input_shape), owner)
        if len(shape) not in (2, 3):
            raise ValueError(f"{owner} expects input_shape (features, steps) or (channels, "
                             f"height, width), got {list(shape)}")
        (self.num_classes,) = positive_ints("num_classes", (num_classes,), owner)
        width, heads, layers, mlp_ratio, patch = positive_ints(
            "width, heads, layers, mlp_ratio and patch", (width, heads, layers, mlp_ratio, patch),
            owner)
        if width % heads:
            raise ValueError(f"{owner} width must be a multiple of heads, got width={width}, "
                             f"heads={heads}")
        sides = shape[1:]
        if any(side % patch for side in sides):
            raise ValueError(f"{owner} patch={patch} must divide the input's "
                             f"{'length' if len(sides) == 1 else 'height and width'} "
                             f"{list(sides)}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{owner} dropout must be in [0, 1), got {dropout!r}")
        self.input_shape, self.patch = shape, patch
        tokens = math.prod(side // patch for side in sides)
        self.embed = nn.Linear(shape[0] * patch ** len(sides), width)
        self.position = nn.Parameter(torch.zeros(1, tokens, width))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, mlp_ratio * width, dropout=dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, self.num_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, *input_shape)`` → ``(N, tokens, features per patch)``."""
        p = self.patch
        if x.dim() == 3:  # (N, features, steps): patches of p steps
            return x.unfold(2, p, p).permute(0, 2, 1, 3).flatten(2)
        patches = x.unfold(2, p, p).unfold(3, p, p)  # (N, C, H/p, W/p, p, p)
        return patches.permute(0, 2, 3, 1, 4, 5).flatten(3).flatten(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map inputs ``(N, *input_shape)`` to logits ``(N, num_classes)``."""
        h = self.embed(self.tokens(x)) + self.position
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h).mean(dim=1))
