"""evoprune: structured pruning search for PyTorch models under a compute budget.

Importing the package registers ``evoprune/LayerPrune-v0`` with Gymnasium. Only the name is
registered (the entry point is a string), so ``import evoprune`` imports gymnasium but neither
torch nor stable-baselines3, and nothing is built until ``gymnasium.make``.

``evoprune.prune(model, train, val, budget=...)`` runs a search from Python
(:func:`evoprune.api.prune`); ``evoprune.load_pruned(run_dir, method)`` rebuilds a run's
pruned model (:func:`evoprune.load.load_pruned`); ``evoprune.inspect(model, example_input)``
shows its pruning space (:func:`evoprune.pruning.inspection.inspect`); torch is imported on
first use of any.
"""

import gymnasium as _gymnasium

LAYER_PRUNE_ID = "evoprune/LayerPrune-v0"

if LAYER_PRUNE_ID not in _gymnasium.registry:  # re-imports must not warn about overriding
    _gymnasium.register(
        id=LAYER_PRUNE_ID, entry_point="evoprune.search.rl.make:make_layer_prune_env"
    )


def __getattr__(name: str):
    # imported on first use: they need torch and Hydra
    if name == "load_pruned":
        from evoprune.load import load_pruned

        return load_pruned
    if name == "prune":
        from evoprune.api import prune

        return prune
    if name == "inspect":
        from evoprune.pruning.inspection import inspect

        return inspect
    raise AttributeError(f"module 'evoprune' has no attribute '{name}'")


__all__ = ["LAYER_PRUNE_ID", "inspect", "load_pruned", "prune"]
