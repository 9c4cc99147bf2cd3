"""Gymnasium registration of evoprune's environments.

Only names are registered here (the entry point is a string), so ``import evoprune`` imports
gymnasium but neither torch nor stable-baselines3, and nothing is built until ``make``.
"""

from __future__ import annotations

import gymnasium

LAYER_PRUNE_ID = "evoprune/LayerPrune-v0"

if LAYER_PRUNE_ID not in gymnasium.registry:  # re-imports must not warn about overriding
    gymnasium.register(
        id=LAYER_PRUNE_ID, entry_point="evoprune.search.rl.make:make_layer_prune_env"
    )
