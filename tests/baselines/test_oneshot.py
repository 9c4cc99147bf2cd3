import numpy as np
import pytest
import torch

from evoprune.baselines.oneshot import RANKINGS
from evoprune.baselines.registry import BASELINES, BaselineContext, names_for, prune
from evoprune.pruning.budget import keep_order, largest_prefix_mask
from evoprune.pruning.importance import magnitude_scores
from evoprune.pruning.space import PruningSpace

BUDGETS = [0.75, 0.5, 0.25, 0.1]
# on a space of channels (the block baseline has its tests beside the blocks')
ONE_SHOT = [name for name in names_for("structured")
            if name != "gradual_magnitude" and BASELINES[name].prunes != "blocks"]


def mask_of(name, context):
    return prune(name, context).mask


@pytest.fixture(scope="module")
def space(trained_residual, synthetic_data):
    return PruningSpace(trained_residual, synthetic_data.train.x[:2])


def context(model, space, data, budget, seed=0):
    return BaselineContext(model, space, data, budget, seed)


@pytest.mark.parametrize("name", ONE_SHOT)
@pytest.mark.parametrize("budget", BUDGETS)
def test_baseline_meets_budget_and_minimum(name, budget, space, trained_residual,
                                           synthetic_data):
    mask = mask_of(name, context(trained_residual, space, synthetic_data, budget))
    space.check(mask)
    assert space.macs_ratio(mask) <= budget


@pytest.mark.parametrize("name", sorted(RANKINGS))
@pytest.mark.parametrize("budget", BUDGETS)
def test_prefix_baseline_is_tight_for_its_ranking(name, budget, space, trained_residual,
                                                   synthetic_data):
    ctx = context(trained_residual, space, synthetic_data, budget)
    mask = mask_of(name, ctx)
    order, forced = keep_order(space, RANKINGS[name](ctx))
    kept = int(mask.sum())
    assert kept >= forced
    # the mask is exactly a prefix of its ranking ...
    assert set(np.flatnonzero(mask)) == set(order[:kept])
    # ... and the next unit of the ranking would break the budget
    if kept < space.num_units:
        grown = mask.copy()
        grown[order[kept]] = True
        assert space.macs_ratio(grown) > budget


@pytest.mark.parametrize("name", ONE_SHOT)
def test_same_seed_same_mask(name, space, trained_residual, synthetic_data):
    masks = [mask_of(name, context(trained_residual, space, synthetic_data, 0.4, seed=3))
             for _ in range(2)]
    np.testing.assert_array_equal(*masks)


def test_random_differs_across_seeds(space, trained_residual, synthetic_data):
    masks = {
        np.packbits(mask_of("random",
            context(trained_residual, space, synthetic_data, 0.5, seed=seed))).tobytes()
        for seed in range(4)
    }
    assert len(masks) > 1


def test_taylor_leaves_the_model_untouched(trained_residual, synthetic_data, space):
    model = trained_residual
    # a stale gradient on one parameter, none on the others: both must survive as they were
    model.stem.weight.grad = torch.full_like(model.stem.weight, 0.5)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    grads = {name: p.grad for name, p in model.named_parameters()}
    try:
        mask_of("taylor", context(model, space, synthetic_data, 0.5))
        for name, p in model.named_parameters():
            torch.testing.assert_close(p, before[name], rtol=0, atol=0)
            assert p.grad is grads[name]
        torch.testing.assert_close(model.stem.weight.grad,
                                   torch.full_like(model.stem.weight, 0.5))
        for name, b in model.named_buffers():
            torch.testing.assert_close(b, buffers[name], rtol=0, atol=0)
        assert not model.training
    finally:
        model.stem.weight.grad = None


def test_global_magnitude_normalises_groups_of_different_scale(residual_net, synthetic_data):
    # the output layer's weights x1e4 inflate the raw magnitude of the 'hidden' group only
    with torch.no_grad():
        residual_net.out.weight.mul_(1e4)
    space = PruningSpace(residual_net, synthetic_data.train.x[:2])
    raw = largest_prefix_mask(space, magnitude_scores(space), 0.25)
    mask = mask_of("global_magnitude", context(residual_net, space, synthetic_data, 0.25))
    space.check(mask)
    minimum = np.array([g.min_keep for g in space.groups])
    sizes = np.array([g.size for g in space.groups])
    # a raw global threshold keeps the whole inflated group and starves another to its minimum
    assert space.keep_counts(raw)[-1] == sizes[-1]
    assert np.any(space.keep_counts(raw)[:-1] == minimum[:-1])
    # ... normalised by group mean, every group keeps more than its minimum
    assert np.all(space.keep_counts(mask) > minimum)


def test_largest_prefix_mask_refuses_bad_scores(space):
    with pytest.raises(ValueError, match="one entry per unit"):
        largest_prefix_mask(space, np.ones(space.num_units + 1), 0.5)
    with pytest.raises(ValueError, match="finite"):
        largest_prefix_mask(space, np.full(space.num_units, np.nan), 0.5)
    with pytest.raises(ValueError, match="budget must be"):
        largest_prefix_mask(space, np.ones(space.num_units), 1.5)


def test_largest_prefix_mask_keeps_everything_at_full_budget(space):
    mask = largest_prefix_mask(space, np.arange(space.num_units, dtype=float), 1.0)
    assert mask.all()


def test_keep_order_forces_each_group_minimum_and_breaks_ties_by_index(space):
    order, forced = keep_order(space, np.zeros(space.num_units))
    assert forced == sum(g.min_keep for g in space.groups)
    expected = np.concatenate([g.offset + np.arange(g.min_keep) for g in space.groups])
    np.testing.assert_array_equal(order[:forced], expected)
    rest = order[forced:]
    np.testing.assert_array_equal(rest, np.sort(rest))


def test_torch_prune_runs_pytorchs_ln_structured_per_root_layer(trained_residual, synthetic_data):
    import copy

    from torch.nn.utils import prune

    from evoprune.baselines.oneshot import torch_prune
    from evoprune.baselines.registry import BaselineContext
    from evoprune.pruning.space import PruningSpace

    space = PruningSpace(trained_residual, synthetic_data.train.x[:2])
    mask = torch_prune(BaselineContext(trained_residual, space, synthetic_data, 0.4, 0))
    assert space.macs_ratio(mask) <= 0.4
    for group in space.groups:  # each group keeps what ln_structured keeps at its count
        kept = int(mask[space.group_slice(group)].sum())
        layer = copy.deepcopy(trained_residual.get_submodule(group.name))
        prune.ln_structured(layer, "weight", amount=group.size - kept, n=1, dim=0)
        rows = layer.weight_mask.flatten(1).any(dim=1).numpy()
        assert (rows == mask[space.group_slice(group)]).all()
