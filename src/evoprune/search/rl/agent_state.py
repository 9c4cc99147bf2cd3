"""A stable-baselines3 agent's training state in a checkpoint that loads with
``torch.load(weights_only=True)``, through SB3's public API.

``BaseAlgorithm.save`` writes a zip: network and optimiser state dicts and free tensors (SAC's
entropy coefficient) as ``.pth`` files that SB3 reads with ``weights_only=True``, and the
algorithm's attributes as JSON: counters such as ``num_timesteps`` and the update count as plain
numbers, objects (spaces, schedules, noise, the last observation) cloudpickled. The zip's bytes
travel in the checkpoint as a uint8 tensor. ``BaseAlgorithm.load`` rebuilds the agent with
``custom_objects`` naming every cloudpickled entry, filled from a freshly built agent of the same
settings, so nothing in the file is ever unpickled.

The replay buffer is not in the zip (SB3 saves it with pickle), so its arrays go in as tensors
through the buffer's public attributes; the action space's RNG (random warm-up actions come
from it) as its bit generator's state.
"""

from __future__ import annotations

import io
import json
import zipfile

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

REPLAY_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def agent_state(model: BaseAlgorithm) -> dict:
    """Everything :func:`restore_agent` needs to continue ``model``'s training."""
    archive = io.BytesIO()
    model.save(archive)
    state = {
        "zip": torch.frombuffer(bytearray(archive.getvalue()), dtype=torch.uint8),
        "action_space_rng": model.action_space.np_random.bit_generator.state,
        "replay": None,
    }
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        state["replay"] = {name: torch.from_numpy(getattr(buffer, name).copy())
                           for name in REPLAY_ARRAYS if getattr(buffer, name, None) is not None}
        state["replay"].update(pos=buffer.pos, full=buffer.full,
                               baseline=getattr(buffer, "baseline", None))
    return state


def restore_agent(fresh: BaseAlgorithm, state: dict) -> BaseAlgorithm:
    """The agent :func:`agent_state` saved, rebuilt on ``fresh``'s environment (``fresh``: an
    agent built with the same settings, whose objects stand in for the pickled ones)."""
    payload = state["zip"].numpy().tobytes()
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        data = json.loads(archive.read("data").decode())
    pickled = [key for key, value in data.items()
               if isinstance(value, dict) and ":serialized:" in value]
    model = type(fresh).load(io.BytesIO(payload), env=fresh.get_env(), device="cpu",
                             custom_objects={key: getattr(fresh, key) for key in pickled})
    model.set_logger(fresh.logger)
    model.action_space.np_random.bit_generator.state = state["action_space_rng"]
    replay = state["replay"]
    if replay is not None:
        buffer = model.replay_buffer
        for name in REPLAY_ARRAYS:
            if name in replay:
                target = getattr(buffer, name)
                target[...] = replay[name].numpy().astype(target.dtype, copy=False)
        buffer.pos, buffer.full = replay["pos"], replay["full"]
        if hasattr(buffer, "baseline"):  # EpisodeRewardBuffer's moving average
            buffer.baseline = replay.get("baseline")
    return model

