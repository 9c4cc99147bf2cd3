"""Long trainings survive: an epoch checkpoint, continued to the same weights."""

import pytest
import torch

from evoprune.models import MLP
from evoprune.training.dense import load_or_train_dense
from evoprune.training.train import TrainConfig, train_classifier


class Stop(Exception):
    pass


def fresh_mlp(data, **settings) -> MLP:
    """The same untrained MLP on every call."""
    torch.manual_seed(0)
    return MLP(tuple(data.train.x.shape[1:]), data.num_classes, hidden=(16,), **settings)


def stop_at_step(step: int):
    """An ``after_step`` callback that raises :class:`Stop` on optimizer step ``step``, as a
    kill would end the run there."""
    count = {"steps": 0}

    def interrupt() -> None:
        count["steps"] += 1
        if count["steps"] == step:
            raise Stop

    return interrupt


def test_an_interrupted_training_continues_from_its_last_epoch(synthetic_data, tmp_path):
    data = synthetic_data
    config = TrainConfig(epochs=4, batch_size=32)

    def model():
        return fresh_mlp(data, batch_norm=True)

    whole = model()
    history = train_classifier(whole, data.train, config, seed=5, progress=False)

    checkpoint = tmp_path / "epoch.pt"
    steps = -(-len(data.train) // 32)
    interrupted = model()
    with pytest.raises(Stop):  # at the first step of the third epoch
        train_classifier(interrupted, data.train, config, seed=5, progress=False,
                         after_step=stop_at_step(2 * steps + 1), checkpoint=checkpoint)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    torch.manual_seed(123)  # a fresh process: the global RNG state is restored from the file
    resumed = model()  # starts from initial weights: the checkpoint brings the trained ones
    rest = train_classifier(resumed, data.train, config, seed=5, progress=False,
                            checkpoint=checkpoint)
    assert [row["epoch"] for row in rest] == [1, 2, 3, 4]
    assert [row["loss"] for row in rest] == pytest.approx([row["loss"] for row in history])
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert not checkpoint.exists()  # done: removed


def test_dense_training_picks_up_its_epoch_checkpoint(synthetic_data, tmp_path):
    data = synthetic_data
    config = TrainConfig(epochs=3, batch_size=64)
    whole, _ = load_or_train_dense(fresh_mlp(data), data, config, seed=1, cache_dir=tmp_path / "a",
                                   cache_key="k", progress=False)
    cache = tmp_path / "b"
    cache.mkdir()
    steps = -(-len(data.train) // 64)
    with pytest.raises(Stop):  # in the second epoch: the run was killed
        train_classifier(fresh_mlp(data), data.train, config, seed=1, progress=False,
                         after_step=stop_at_step(steps + 1),
                         checkpoint=cache / "dense-k.epoch.pt")
    with pytest.warns(RuntimeWarning, match="dense training continues from its last epoch"):
        resumed, cached = load_or_train_dense(fresh_mlp(data), data, config, seed=1,
                                              cache_dir=cache, cache_key="k", progress=False)
    assert not cached and not (cache / "dense-k.epoch.pt").exists()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
