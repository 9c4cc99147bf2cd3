"""evoprune: structured pruning search for PyTorch models under a compute budget.

Importing the package registers ``evoprune/LayerPrune-v0`` with Gymnasium. Only the name is
registered (the entry point is a string), so ``import evoprune`` imports gymnasium but neither
torch nor stable-baselines3, and nothing is built until ``gymnasium.make``.
"""

import gymnasium as _gymnasium

LAYER_PRUNE_ID = "evoprune/LayerPrune-v0"

if LAYER_PRUNE_ID not in _gymnasium.registry:  # re-imports must not warn about overriding
    _gymnasium.register(
        id=LAYER_PRUNE_ID, entry_point="evoprune.search.rl.make:make_layer_prune_env"
    )
