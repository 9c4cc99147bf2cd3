"""Training, evaluation and the dense-checkpoint cache."""

import copy
import math

import pytest
import torch

from evoprune.data import load_synthetic
from evoprune.evaluate.evaluator import Evaluator
from evoprune.evaluate.latency import LatencySettings
from evoprune.finish.measure import finish_mask
from evoprune.infra.atomic import WriteFailed
from evoprune.infra.cache import save_entry
from evoprune.models import MLP, CNN1d
from evoprune.pruning.budget import uniform_mask
from evoprune.pruning.space import PruningSpace
from evoprune.training.dense import cache_key, dense_cache_key, load_or_train_dense
from evoprune.training.train import (
    DistillConfig,
    TrainConfig,
    TrainingDiverged,
    accuracy,
    distillation_loss,
    train_classifier,
)

FAST = TrainConfig(epochs=5, batch_size=32)


@pytest.fixture(scope="module")
def data():
    return load_synthetic(num_samples=600, num_classes=4, input_shape=(1, 32), seed=0)


def _mlp(data, seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(data.input_shape, data.num_classes, hidden=(32,))


def _assert_equal_states(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_training_beats_chance_and_returns_history(data):
    model = _mlp(data)
    before = accuracy(model, data.val)
    history = train_classifier(model, data.train, FAST, seed=0, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5]
    assert history[-1]["loss"] < history[0]["loss"]
    assert not model.training  # left in eval mode
    assert accuracy(model, data.val) > 0.8 > before + 0.2  # chance is 0.25
    assert accuracy(model, data.test) > 0.8


def test_cnn1d_with_batchnorm_trains(data):
    torch.manual_seed(0)
    model = CNN1d(data.input_shape, data.num_classes, channels=(8, 8), hidden=16)
    train_classifier(model, data.train, FAST, seed=0, progress=False)
    assert accuracy(model, data.val) > 0.8


def test_training_is_deterministic_given_seed(data):
    a, b, c = _mlp(data), _mlp(data), _mlp(data)
    train_classifier(a, data.train, FAST, seed=7, progress=False)
    train_classifier(b, data.train, FAST, seed=7, progress=False)
    _assert_equal_states(a, b)
    train_classifier(c, data.train, FAST, seed=8, progress=False)  # other shuffling
    assert not torch.equal(a.classifier.weight, c.classifier.weight)


def test_sgd_and_zero_epochs(data):
    model = _mlp(data)
    untouched = _mlp(data)
    assert train_classifier(model, data.train, TrainConfig(epochs=0), seed=0, progress=False) == []
    _assert_equal_states(model, untouched)
    cfg = TrainConfig(epochs=5, batch_size=32, optimizer="sgd", lr=0.05)
    train_classifier(model, data.train, cfg, seed=0, progress=False)
    assert accuracy(model, data.val) > 0.8


def test_progress_bar_runs(data, capsys):
    train_classifier(_mlp(data), data.train, TrainConfig(epochs=1), seed=0, description="demo")
    assert "demo" in capsys.readouterr().out


def test_nan_loss_raises_training_diverged(data):
    model = _mlp(data)
    cfg = TrainConfig(epochs=2, lr=1e30)  # weights blow up to inf after one AdamW step
    message = r"epoch 1/2, step \d+/\d+ with lr=1e\+30.*try a lower learning rate"
    with pytest.raises(TrainingDiverged, match=message):
        train_classifier(model, data.train, cfg, seed=0, progress=False)
    assert not model.training


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": -1}, "epochs must"),
        ({"lr": 0.0}, "lr must"),
        ({"batch_size": 0}, "batch_size must"),
        ({"weight_decay": -1.0}, "weight_decay must"),
        ({"optimizer": "adam"}, r"optimizer must be one of \['adamw', 'sgd'\], got 'adam'"),
    ],
)
def test_train_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_accuracy_restores_mode(data):
    model = _mlp(data)
    model.train()
    value = accuracy(model, data.val, batch_size=7)
    assert 0.0 <= value <= 1.0 and model.training


def test_dense_cache_roundtrip(data, tmp_path):
    first, loaded = load_or_train_dense(
        _mlp(data), data, FAST, seed=0, cache_dir=tmp_path / "cache", cache_key="k1", progress=False
    )
    assert not loaded
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["dense-k1.pt"]  # no temp files
    # A differently initialised model must end up with exactly the cached weights.
    second, loaded = load_or_train_dense(
        _mlp(data, seed=1),
        data,
        FAST,
        seed=0,
        cache_dir=tmp_path / "cache",
        cache_key="k1",
        progress=False,
    )
    assert loaded and not second.training
    _assert_equal_states(first, second)


def test_corrupt_cache_warns_and_retrains(data, tmp_path):
    reference = _mlp(data)
    train_classifier(reference, data.train, FAST, seed=0, progress=False)
    path = tmp_path / "dense-bad.pt"
    path.write_bytes(b"not a checkpoint \x00\xff" * 10)
    with pytest.warns(RuntimeWarning, match=r"dense-bad\.pt.*retrained"):
        model, loaded = load_or_train_dense(
            _mlp(data), data, FAST, seed=0, cache_dir=tmp_path, cache_key="bad", progress=False
        )
    assert not loaded
    _assert_equal_states(model, reference)  # retrained exactly like a fresh run
    _, loaded = load_or_train_dense(
        _mlp(data), data, FAST, seed=0, cache_dir=tmp_path, cache_key="bad", progress=False
    )
    assert loaded  # the corrupt file was replaced by a good one


def test_cache_with_a_nan_weight_warns_and_retrains(data, tmp_path):
    poisoned = _mlp(data)
    state = poisoned.state_dict()
    first = next(name for name in state if name.endswith("weight"))
    state[first][0, 0] = float("nan")
    save_entry(tmp_path / "dense-nan.pt", state)  # intact as a file: the NaN is in the model
    reference = _mlp(data)
    train_classifier(reference, data.train, FAST, seed=0, progress=False)
    with pytest.warns(RuntimeWarning, match=f"retrained.*{first} holds 1 NaN/inf value"):
        model, loaded = load_or_train_dense(
            _mlp(data), data, FAST, seed=0, cache_dir=tmp_path, cache_key="nan", progress=False
        )
    assert not loaded
    _assert_equal_states(model, reference)


def test_mismatched_cache_warns_and_retrains(data, tmp_path):
    save_entry(tmp_path / "dense-other.pt", {"unexpected": torch.zeros(1)})
    reference = _mlp(data)
    train_classifier(reference, data.train, FAST, seed=0, progress=False)
    with pytest.warns(RuntimeWarning, match="retrained"):
        model, loaded = load_or_train_dense(
            _mlp(data), data, FAST, seed=0, cache_dir=tmp_path, cache_key="other", progress=False
        )
    assert not loaded
    _assert_equal_states(model, reference)


def test_cache_damaged_in_place_warns_and_retrains(data, tmp_path):
    """256 bytes of a weight overwritten, the file's size unchanged: torch alone would load it
    and every result would change; the checksum refuses it."""
    first, _ = load_or_train_dense(_mlp(data), data, FAST, seed=0, cache_dir=tmp_path,
                                   cache_key="k", progress=False)
    path = tmp_path / "dense-k.pt"
    blob = bytearray(path.read_bytes())
    largest = max(first.state_dict().values(), key=torch.Tensor.numel)
    start = bytes(blob).index(largest.numpy().tobytes()) + 64
    blob[start:start + 256] = bytes(range(256))
    path.write_bytes(bytes(blob))
    damaged = torch.load(path, weights_only=True)["state_dict"]  # loads without complaint
    assert not all(torch.equal(damaged[k], v) for k, v in first.state_dict().items())
    with pytest.warns(RuntimeWarning, match="does not match its checksum"):
        model, loaded = load_or_train_dense(_mlp(data), data, FAST, seed=0,
                                            cache_dir=tmp_path, cache_key="k", progress=False)
    assert not loaded
    _assert_equal_states(model, first)  # retrained from the same start to the same weights


def test_unwritable_cache_dir_is_refused_before_training(data, tmp_path, monkeypatch):
    import evoprune.training.dense as dense_module

    monkeypatch.setattr(dense_module, "train_classifier",
                        lambda *a, **k: pytest.fail("trained before checking the cache dir"))
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    with pytest.raises(WriteFailed, match=f"cache_dir={blocker / 'cache'} is not writable"):
        load_or_train_dense(_mlp(data), data, FAST, seed=0, cache_dir=blocker / "cache",
                            cache_key="k", progress=False)


def test_bad_cache_key_rejected(data, tmp_path):
    with pytest.raises(ValueError, match="cache_key"):
        load_or_train_dense(_mlp(data), data, FAST, seed=0, cache_dir=tmp_path, cache_key="a/b")


def test_cache_key_stable_and_order_sensitive():
    key = cache_key({"b": 1, "a": [1, 2]}, "mnist1d", 0)
    assert key == cache_key({"a": [1, 2], "b": 1}, "mnist1d", 0)  # dict key order ignored
    assert len(key) == 16 and int(key, 16) >= 0
    assert key != cache_key("mnist1d", {"b": 1, "a": [1, 2]}, 0)
    assert key != cache_key({"b": 1, "a": [1, 2]}, "mnist1d", 1)
    assert cache_key(TrainConfig()) == cache_key(TrainConfig())  # non-JSON values via str()
    # Pinned value: keys must not change between runs or versions, or caches silently miss.
    assert cache_key("x", 1) == "38e37cb98808b9cc"


def test_dense_cache_key_leaves_penalties_at_zero_out():
    train, where = {"epochs": 15, "lr": 0.003}, {"device": "cpu", "threads": 1}
    key = dense_cache_key({"name": "d"}, {"m": 1}, train, 0, **where)
    assert key == dense_cache_key({"name": "d"}, {"m": 1},
                                  {**train, "l1_bn": 0, "group_lasso": 0.0}, 0, **where)
    assert key != dense_cache_key({"name": "d"}, {"m": 1}, {**train, "l1_bn": 1e-4}, 0, **where)


def test_dense_cache_key_tells_apart_where_the_weights_were_trained():
    # torch's thread count changes the order of float sums, so the weights differ
    key = dense_cache_key({"name": "d"}, {"m": 1}, {"epochs": 1}, 0, device="cpu", threads=1)
    assert key != dense_cache_key({"name": "d"}, {"m": 1}, {"epochs": 1}, 0, device="cpu",
                                  threads=2)
    assert key != dense_cache_key({"name": "d"}, {"m": 1}, {"epochs": 1}, 0, device="cuda",
                                  threads=1)
    # on a GPU the CPU thread count plays no part
    assert dense_cache_key({"name": "d"}, {"m": 1}, {"epochs": 1}, 0, device="cuda:0",
                           threads=1) == dense_cache_key({"name": "d"}, {"m": 1},
                                                         {"epochs": 1}, 0, device="cuda",
                                                         threads=8)


# ------------------------------------------------------------------ knowledge distillation
def test_distillation_loss_matches_hand_computation():
    student = torch.tensor([[1.0, -0.5, 2.0], [0.2, 0.1, -1.0]])
    teacher = torch.tensor([[0.5, 0.0, 3.0], [-1.0, 2.0, 0.0]])
    targets = torch.tensor([2, 0])
    cfg = DistillConfig(alpha=0.3, temperature=2.0)

    def softmax(row, t):
        exps = [math.exp(v / t) for v in row]
        return [e / sum(exps) for e in exps]

    ce = kl = 0.0
    for s, te, y in zip(student.tolist(), teacher.tolist(), targets.tolist()):
        ce -= math.log(softmax(s, 1.0)[y])
        p_t, p_s = softmax(te, 2.0), softmax(s, 2.0)
        kl += sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s))
    expected = 0.7 * ce / 2 + 0.3 * 4.0 * kl / 2  # batch means, T^2 = 4
    assert distillation_loss(student, teacher, targets, cfg).item() == pytest.approx(expected)
    # alpha=0 is plain cross-entropy; a perfect copy of the teacher has no soft loss
    plain = torch.nn.functional.cross_entropy(student, targets)
    assert torch.allclose(distillation_loss(student, teacher, targets, DistillConfig(0.0)), plain)
    assert distillation_loss(teacher, teacher, targets, DistillConfig(1.0)).abs().item() < 1e-6


def test_distillation_with_alpha_zero_equals_plain_training(data):
    teacher = _mlp(data, seed=3)
    plain, distilled = _mlp(data), _mlp(data)
    history = train_classifier(plain, data.train, FAST, seed=0, progress=False)
    distilled_history = train_classifier(
        distilled, data.train, FAST, seed=0, progress=False, teacher=teacher,
        distill=DistillConfig(alpha=0.0),
    )
    _assert_equal_states(plain, distilled)
    assert history == distilled_history


def test_teacher_is_never_modified_and_its_mode_restored(data):
    torch.manual_seed(1)
    teacher = CNN1d(data.input_shape, data.num_classes, channels=(8,), hidden=16)  # BatchNorm
    train_classifier(teacher, data.train, TrainConfig(epochs=2), seed=0, progress=False)
    teacher.train()  # BatchNorm statistics would move if the teacher ran in train mode
    teacher.zero_grad(set_to_none=True)
    before = copy.deepcopy(teacher.state_dict())
    student = _mlp(data)
    train_classifier(
        student, data.train, TrainConfig(epochs=2, batch_size=32), seed=0, progress=False,
        teacher=teacher, distill=DistillConfig(alpha=0.7, temperature=2.0),
    )
    for key, value in teacher.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert teacher.training  # mode restored
    assert all(p.grad is None for p in teacher.parameters())


def test_soft_targets_alone_teach_the_student(data):
    teacher = _mlp(data, seed=3)
    train_classifier(teacher, data.train, FAST, seed=0, progress=False)
    student = _mlp(data)
    train_classifier(  # alpha=1: the labels are never used
        student, data.train, FAST, seed=1, progress=False, teacher=teacher,
        distill=DistillConfig(alpha=1.0, temperature=4.0),
    )
    assert accuracy(student, data.val) > 0.8


def test_after_step_runs_after_every_optimizer_step(data):
    calls = []
    cfg = TrainConfig(epochs=2, batch_size=100)
    train_classifier(_mlp(data), data.train, cfg, seed=0, progress=False,
                     after_step=lambda: calls.append(1))
    assert len(calls) == 2 * math.ceil(len(data.train) / 100)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.5}, r"alpha must be a number in \[0, 1\], got 1.5"),
        ({"alpha": True}, "alpha must"),
        ({"temperature": 0.0}, "temperature must be a finite number > 0, got 0.0"),
        ({"temperature": float("inf")}, "temperature must"),
    ],
)
def test_distill_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistillConfig(**kwargs)


def test_teacher_and_distill_must_come_together(data):
    model, teacher = _mlp(data), _mlp(data, seed=1)
    with pytest.raises(ValueError, match="both a teacher and a DistillConfig"):
        train_classifier(model, data.train, FAST, seed=0, progress=False, teacher=teacher)
    with pytest.raises(ValueError, match="both a teacher and a DistillConfig"):
        train_classifier(model, data.train, FAST, seed=0, progress=False, distill=DistillConfig())
    with pytest.raises(ValueError, match="shares parameters"):
        train_classifier(model, data.train, FAST, seed=0, progress=False, teacher=model,
                         distill=DistillConfig())
    with pytest.raises(ValueError, match="teacher logits have shape"):
        distillation_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2).long(),
                          DistillConfig())


def test_finish_mask_distils_from_the_untouched_dense_model(trained_residual, synthetic_data):
    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    evaluator = Evaluator(trained_residual, space, synthetic_data.val, bn_recalibration_batches=0)
    before = copy.deepcopy(trained_residual.state_dict())
    args = dict(dense=trained_residual, space=space, evaluator=evaluator, data=synthetic_data,
                finetune=TrainConfig(epochs=1), seed=0,
                latency=LatencySettings(batch_size=4, repeats=1, warmup=0), progress=False)
    mask = uniform_mask(space, 0.5)
    plain = finish_mask("plain", mask, **args)
    same = finish_mask("kd0", mask, distill=DistillConfig(alpha=0.0), **args)
    distilled = finish_mask("kd", mask, distill=DistillConfig(alpha=0.9), **args)
    _assert_equal_states(plain.model, same.model)  # alpha=0: exactly the plain fine-tuning
    assert not torch.equal(plain.model.out.weight, distilled.model.out.weight)
    assert distilled.row["macs"] == plain.row["macs"] == space.macs(mask)
    for key, value in trained_residual.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_bf16_autocast_trains_and_differs_from_full_precision(synthetic_data):
    from evoprune.models import MLP

    shape = tuple(synthetic_data.train.x.shape[1:])
    losses = {}
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = MLP(shape, synthetic_data.num_classes, hidden=(32,))
        history = train_classifier(model, synthetic_data.train,
                                   TrainConfig(epochs=3, bf16=bf16), seed=0, progress=False)
        losses[bf16] = [row["loss"] for row in history]
        assert model.classifier.weight.dtype == torch.float32  # weights stay full precision
    assert losses[True][-1] < losses[True][0]  # it learns
    assert losses[True] != losses[False]  # in lower precision


def test_bf16_must_be_a_boolean():
    with pytest.raises(ValueError, match="bf16 must be true or false, got 'yes'"):
        TrainConfig(bf16="yes")
