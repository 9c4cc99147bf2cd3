import pytest

from evoprune.finish.along_front import check_front_finetune, finetuned_figures, spread_members


def test_spread_members_hand_cases():
    costs = [0.1, 0.2, 0.3, 0.5, 0.9, 1.0]
    # targets at the middles of k equal slices of [0.1, 1.0]: 0.325 and 0.775
    assert spread_members(costs, 2) == [2, 4]
    assert spread_members(costs, 1) == [3]  # 0.55: nearest 0.5
    assert spread_members(costs, 0) == []
    # a front no longer than k: every member, cheapest first
    assert spread_members(costs[::-1], 6) == [5, 4, 3, 2, 1, 0]
    assert spread_members([0.4, 0.2], 5) == [1, 0]


def test_spread_members_are_distinct_when_targets_share_a_nearest_member():
    # targets 1/6, 1/2, 5/6: the first takes 0.1; the second ties 0.1 and 0.9 and, 0.1 being
    # taken, gets 0.9; the third, nearest 0.9, gets 1.0
    assert spread_members([0.0, 0.1, 0.9, 1.0], 3) == [1, 2, 3]
    assert spread_members([0.5, 0.5, 0.5], 2) == [0, 1]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_member_counts(bad):
    with pytest.raises(ValueError, match=f"finetune must be an integer >= 0, got {bad!r}"):
        check_front_finetune(bad)


def test_finetuned_figures_name_before_and_after():
    row = {"val_acc": 0.9, "test_acc": 0.88, "val_acc_before_finetune": 0.5,
           "test_acc_before_finetune": 0.45, "macs": 10, "macs_ratio": 0.1, "params": 7,
           "latency_ms": 1.0}
    assert finetuned_figures(row) == {
        "val_acc_before_finetune": 0.5, "test_acc_before_finetune": 0.45,
        "val_acc_after_finetune": 0.9, "test_acc_after_finetune": 0.88, "macs": 10,
        "macs_ratio": 0.1, "params": 7}
