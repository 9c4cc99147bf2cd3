"""Long trainings survive: an epoch checkpoint, continued to the same weights."""

import pytest
import torch

from evoprune.finish.train import TrainConfig, load_or_train_dense, train_classifier
from evoprune.models import MLP


class Stop(Exception):
    pass


def test_an_interrupted_training_continues_from_its_last_epoch(synthetic_data, tmp_path):
    data = synthetic_data
    shape = tuple(data.train.x.shape[1:])
    config = TrainConfig(epochs=4, batch_size=32)

    def model():
        torch.manual_seed(0)
        return MLP(shape, data.num_classes, hidden=(16,), batch_norm=True)

    whole = model()
    history = train_classifier(whole, data.train, config, seed=5, progress=False)

    checkpoint = tmp_path / "epoch.pt"
    steps = -(-len(data.train) // 32)
    count = {"steps": 0}

    def interrupt():
        count["steps"] += 1
        if count["steps"] == 2 * steps + 1:  # the first step of the third epoch
            raise Stop

    interrupted = model()
    with pytest.raises(Stop):
        train_classifier(interrupted, data.train, config, seed=5, progress=False,
                         after_step=interrupt, checkpoint=checkpoint)
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
    shape = tuple(data.train.x.shape[1:])
    config = TrainConfig(epochs=3, batch_size=64)

    def model():
        torch.manual_seed(0)
        return MLP(shape, data.num_classes, hidden=(16,))

    whole, _ = load_or_train_dense(model(), data, config, seed=1, cache_dir=tmp_path / "a",
                                   cache_key="k", progress=False)
    cache = tmp_path / "b"
    cache.mkdir()
    steps = -(-len(data.train) // 64)
    count = {"steps": 0}

    def interrupt():
        count["steps"] += 1
        if count["steps"] > steps:  # in the second epoch: the run was killed
            raise Stop

    with pytest.raises(Stop):
        train_classifier(model(), data.train, config, seed=1, progress=False,
                         after_step=interrupt, checkpoint=cache / "dense-k.epoch.pt")
    with pytest.warns(RuntimeWarning, match="dense training continues from its last epoch"):
        resumed, cached = load_or_train_dense(model(), data, config, seed=1, cache_dir=cache,
                                              cache_key="k", progress=False)
    assert not cached and not (cache / "dense-k.epoch.pt").exists()
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b)
