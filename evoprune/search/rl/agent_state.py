"""A stable-baselines3 agent's training state as tensors and plain values, and back.

SB3's own ``save`` / ``load`` round-trip parts of an agent through cloudpickle; a checkpoint
here must load with ``torch.load(weights_only=True)``, so it holds only what is needed to go on
training exactly as if never stopped: network and optimiser state dicts, free tensors (SAC's
entropy coefficient), the replay buffer's arrays, the step and update counters, and the action
space's RNG (random warm-up actions come from it).
"""

from __future__ import annotations

from operator import attrgetter

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

REPLAY_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def agent_state(model: BaseAlgorithm) -> dict:
    """Everything ``restore_agent`` needs to continue ``model``'s training."""
    _, tensor_names = model._get_torch_save_params()
    state = {
        "parameters": model.get_parameters(),
        "tensors": {name: attrgetter(name)(model).detach().clone() for name in tensor_names},
        "num_timesteps": model.num_timesteps,
        "n_updates": model._n_updates,
        "episode_num": model._episode_num,
        "action_space_rng": model.action_space.np_random.bit_generator.state,
        "replay": None,
    }
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        state["replay"] = {name: torch.from_numpy(getattr(buffer, name).copy())
                           for name in REPLAY_ARRAYS if getattr(buffer, name, None) is not None}
        state["replay"].update(pos=buffer.pos, full=buffer.full)
    return state


def restore_agent(model: BaseAlgorithm, state: dict) -> None:
    """Put ``agent_state``'s values into a freshly built ``model`` of the same settings."""
    model.set_parameters(state["parameters"], exact_match=True)
    for name, value in state["tensors"].items():
        # in place: the optimiser that owns the tensor keeps pointing at it
        attrgetter(name)(model).data.copy_(value)
    model.num_timesteps = state["num_timesteps"]
    model._n_updates = state["n_updates"]
    model._episode_num = state["episode_num"]
    model.action_space.np_random.bit_generator.state = state["action_space_rng"]
    replay = state["replay"]
    if replay is not None:
        buffer = model.replay_buffer
        for name in REPLAY_ARRAYS:
            if name in replay:
                getattr(buffer, name)[...] = replay[name].numpy().astype(
                    getattr(buffer, name).dtype, copy=False)
        buffer.pos, buffer.full = replay["pos"], replay["full"]

