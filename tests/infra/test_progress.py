"""What a long training shows where no progress bar is drawn (a log, a batch job's output)."""

import torch

from evoprune.data.splits import Split
from evoprune.infra.progress import epoch_line
from evoprune.training.train import TrainConfig, train_classifier


def test_epoch_line_says_the_pace_and_the_time_left():
    line = epoch_line("dense", 3, 160, 0.51234, 2345.6, 42.25)
    assert line == ("dense: epoch 3/160, loss 0.5123, 2,346 samples/s, 42.2 s/epoch, "
                    "about 1:50:33 left")  # 157 epochs x 42.25 s = 6,633 s


def test_training_outside_a_terminal_prints_a_line_per_epoch(capsys):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    data = Split(torch.randn(40, 4), torch.randint(0, 3, (40,)))
    train_classifier(model, data, TrainConfig(epochs=3, batch_size=16), seed=0,
                     description="fine-tune lamp")
    lines = [line for line in capsys.readouterr().out.splitlines() if "epoch" in line]
    assert [line.split(",")[0] for line in lines] == [
        f"fine-tune lamp: epoch {e}/3" for e in (1, 2, 3)]
    assert lines[-1].endswith("about 0:00:00 left")
    train_classifier(model, data, TrainConfig(epochs=2, batch_size=16), seed=0, progress=False)
    assert "epoch" not in capsys.readouterr().out  # progress=false: silent
