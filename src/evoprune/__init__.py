"""evoprune: structured pruning search for PyTorch models under a compute budget.

Importing the package registers ``evoprune/LayerPrune-v0`` with Gymnasium. Only the name is
registered (the entry point is a string), so ``import evoprune`` imports gymnasium but neither
torch nor stable-baselines3, and nothing is built until ``gymnasium.make``.

``evoprune.load_pruned(run_dir, method)`` rebuilds a run's pruned model
(:func:`evoprune.load.load_pruned`); torch is imported on first use.
"""

import gymnasium as _gymnasium

LAYER_PRUNE_ID = "evoprune/LayerPrune-v0"

if LAYER_PRUNE_ID not in _gymnasium.registry:  # re-imports must not warn about overriding
    _gymnasium.register(
        id=LAYER_PRUNE_ID, entry_point="evoprune.search.rl.make:make_layer_prune_env"
    )


def __getattr__(name: str):
    if name == "load_pruned":  # imported on first use: it needs torch and Hydra
        from evoprune.load import load_pruned

        return load_pruned
    raise AttributeError(f"module 'evoprune' has no attribute '{name}'")


__all__ = ["LAYER_PRUNE_ID", "load_pruned"]
