import numpy as np
import pytest
import torch
from gymnasium import spaces

from evoprune.search.rl.recipe import (
    TRUNCATE_AT,
    EpisodeRewardBuffer,
    ScaledStepAdam,
    TruncatedNormalNoise,
    exploration_noise,
)


def buffer(num_envs=2, alpha=0.5):
    return EpisodeRewardBuffer(100, spaces.Box(0, 1, (3,), np.float32),
                               spaces.Box(-1, 1, (1,), np.float32), n_envs=num_envs,
                               baseline_alpha=alpha)


def add_step(buf, step, reward, done):
    obs = np.full((2, 3), step, np.float32)
    buf.add(obs, obs + 1, np.full((2, 1), step / 10, np.float32), np.asarray(reward, np.float32),
            np.full(2, done), [{}, {}])


def test_every_transition_is_stored_with_its_episodes_final_reward():
    buf = buffer()
    add_step(buf, 0, [0.0, 0.0], False)
    add_step(buf, 1, [0.0, 0.0], False)
    assert buf.pos == 0  # nothing stored while the episode runs
    add_step(buf, 2, [0.7, 0.2], True)
    assert buf.pos == 3 and buf.pending == []
    np.testing.assert_allclose(buf.rewards[:3], [[0.7, 0.2]] * 3)
    np.testing.assert_allclose(buf.observations[:3, 0, 0], [0, 1, 2])  # in order
    np.testing.assert_array_equal(buf.dones[:3, 0], [0, 0, 1])


def test_samples_are_relative_to_a_moving_average_of_rewards():
    buf = buffer(alpha=0.5)
    add_step(buf, 0, [1.0, 3.0], True)
    first = buf.sample(64)
    mean = float((first.rewards + buf.baseline).mean())  # the raw batch mean
    assert buf.baseline == pytest.approx(mean)  # the first batch sets the baseline
    raw = first.rewards.numpy().ravel() + buf.baseline
    assert set(np.round(raw, 5)) <= {1.0, 3.0}
    before = buf.baseline
    second = buf.sample(64)
    second_mean = float((second.rewards + buf.baseline).mean())
    assert buf.baseline == pytest.approx(before + 0.5 * (second_mean - before))


def test_episodes_must_end_together():
    buf = buffer()
    obs = np.zeros((2, 3), np.float32)
    with pytest.raises(RuntimeError, match="episodes that end together"):
        buf.add(obs, obs, np.zeros((2, 1), np.float32), np.zeros(2, np.float32),
                np.array([True, False]), [{}, {}])


def test_truncated_noise_stays_within_two_stds_and_has_the_asked_spread():
    np.random.seed(0)
    noise = TruncatedNormalNoise(0.5)
    draws = np.array([noise()[0] for _ in range(4000)])
    assert np.abs(draws).max() <= TRUNCATE_AT * 0.5
    # a standard normal truncated at +-2 has std 0.880
    assert draws.std() == pytest.approx(0.5 * 0.880, rel=0.05)
    assert exploration_noise(0.5, 3)().shape == (3, 1)


def test_scaled_step_adam_steps_at_a_multiple_of_its_rate():
    torch.manual_seed(0)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    plain = torch.optim.Adam(a.parameters(), lr=1e-3)
    scaled = ScaledStepAdam(b.parameters(), scale=0.1, lr=1e-2)
    x = torch.randn(8, 3)
    for model, optimiser in ((a, plain), (b, scaled)):
        for _ in range(3):
            optimiser.zero_grad()
            model(x).square().sum().backward()
            optimiser.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    assert scaled.param_groups[0]["lr"] == pytest.approx(1e-2)  # the agent's rate unchanged
