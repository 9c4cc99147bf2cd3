"""evoprune: structured pruning search for PyTorch models under a MACs budget."""

from evoprune import envs as envs  # registers evoprune/LayerPrune-v0 with Gymnasium (cheap)
