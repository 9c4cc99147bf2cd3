"""A Hugging Face transformer as evoprune takes it: a wrapper whose ``forward(x)`` returns the
logits (Hugging Face models return an output object). Built from its config class, so nothing
is downloaded; ``pip install "evoprune[hf]"`` (or ``transformers``) first.

    PYTHONPATH=/path/to/this/folder python -m evoprune model=custom \
        model._target_=my_transformers.TinyViT data=digits

evoprune finds each layer's attention heads (the module's ``num_attention_heads``, its
``q_proj`` / ``k_proj`` / ``v_proj`` layers and ``o_proj``) and MLP neurons, and keeps the
residual stream whole (it reaches every LayerNorm); ``python -m evoprune inspect
model=custom model._target_=my_transformers.TinyViT data=digits`` shows them.
"""

from torch import nn


class TinyViT(nn.Module):
    """A 2-layer ViT over patches of an image: ``input_shape`` and ``num_classes`` come from
    the data (evoprune passes both, as the constructor takes them)."""

    def __init__(self, input_shape, num_classes: int, hidden: int = 64, layers: int = 2,
                 heads: int = 4, patch: int = 2) -> None:
        super().__init__()
        from transformers import ViTConfig, ViTForImageClassification

        channels, height, _ = input_shape
        config = ViTConfig(image_size=height, patch_size=patch, num_channels=channels,
                           hidden_size=hidden, num_hidden_layers=layers,
                           num_attention_heads=heads, intermediate_size=2 * hidden,
                           num_labels=num_classes)
        self.vit = ViTForImageClassification(config)

    def forward(self, x):
        return self.vit(x).logits
