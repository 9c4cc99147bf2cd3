"""RL search (AMC-style): a Gymnasium environment over a pruning space and SB3 agents.

The environment is registered as ``evoprune/LayerPrune-v0`` by ``import evoprune``
(``evoprune/__init__.py``).
"""

from evoprune.search.rl.agent import AGENTS, RLSearch
from evoprune.search.rl.env import FEATURES, PruningEnv
from evoprune.search.rl.make import make_layer_prune_env

__all__ = ["AGENTS", "FEATURES", "PruningEnv", "RLSearch", "make_layer_prune_env"]
