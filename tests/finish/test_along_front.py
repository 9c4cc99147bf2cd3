import pytest

from evoprune.finish.along_front import (
    check_front_finetune,
    finetuned_figures,
    members_within,
    pick_members,
    spread_members,
)


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


def test_members_within_budgets_are_the_costliest_that_fit():
    costs = [0.04, 0.09, 0.12, 0.24, 0.26, 0.5, 1.0]
    assert members_within(costs, [0.5, 0.25, 0.1, 0.05]) == [0, 1, 3, 5]
    assert members_within(costs, [0.25, 0.245]) == [3]  # one member for both
    assert members_within(costs, [0.01]) == []  # below every member
    assert pick_members(costs, [0.1]) == [1] and pick_members(costs, 2) == [4, 6]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_member_counts(bad):
    with pytest.raises(ValueError, match=f"finetune must be an integer >= 0, got {bad!r}"):
        check_front_finetune(bad)


@pytest.mark.parametrize("bad", [[], [0.5, 0], [1.5], ["a"], [True]])
def test_bad_budget_lists(bad):
    with pytest.raises(ValueError, match="finetune must be an integer >= 0 or a list of MACs "
                                         "budgets in \\(0, 1\\]"):
        check_front_finetune(bad)
    check_front_finetune([0.5, 0.25])  # a good one


def test_finetuned_figures_name_before_and_after():
    row = {"val_acc": 0.9, "test_acc": 0.88, "val_acc_before_finetune": 0.5,
           "test_acc_before_finetune": 0.45, "macs": 10, "macs_ratio": 0.1, "params": 7,
           "latency_ms": 1.0}
    assert finetuned_figures(row) == {
        "val_acc_before_finetune": 0.5, "test_acc_before_finetune": 0.45,
        "val_acc_after_finetune": 0.9, "test_acc_after_finetune": 0.88, "macs": 10,
        "macs_ratio": 0.1, "params": 7}
