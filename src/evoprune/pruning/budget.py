"""Masks at a MACs budget: feasibility, uniform keep ratios, global rankings, and greedy
shrinking."""

from __future__ import annotations

import numpy as np

from evoprune.infra.errors import UserError
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.widths import floor_counts, legal_count


class InfeasibleBudgetError(UserError, ValueError):
    """Even the smallest allowed mask costs more than the budget."""


def smallest_mask(space: PruningSpace) -> np.ndarray:
    """Every group at its minimum: the cheapest mask in MACs and (up to noise) in latency."""
    return space.mask_from_counts([0] * len(space.groups))


def check_budget(space: PruningSpace, budget: float) -> None:
    """Refuse a budget outside (0, 1] or below what the per-group minimum allows."""
    if not 0.0 < budget <= 1.0:
        raise ValueError(f"budget must be a fraction of dense MACs in (0, 1], got {budget}")
    smallest = space.macs_ratio(smallest_mask(space))
    if smallest > budget:
        heads = any(group.kind == "head" for group in getattr(space, "groups", ()))
        raise InfeasibleBudgetError(
            f"budget={budget} cannot be met: keeping the minimum of every group "
            f"(min_keep={space.min_keep_fraction}) already costs {smallest:.4f} of dense "
            f"MACs; use budget >= {np.ceil(smallest * 1e4) / 1e4:.4f} or lower min_keep"
            + (" (an attention module keeps at least one head whatever min_keep is)"
               if heads else "")
        )


def uniform_mask(space: PruningSpace, budget: float, at=None) -> np.ndarray:
    """The mask keeping the same fraction of every group (by magnitude, or as ``at(fraction)``
    chooses), the largest such fraction whose MACs fit the budget. Bisection works because
    MACs grow with the fraction."""
    check_budget(space, budget)
    if at is None:
        def at(fraction: float) -> np.ndarray:
            return space.mask_from_ratios([fraction] * len(space.groups))
    low, high = 0.0, 1.0
    if space.macs_ratio(at(high)) <= budget:
        return at(high)
    for _ in range(40):
        middle = (low + high) / 2
        if space.macs_ratio(at(middle)) <= budget:
            low = middle
        else:
            high = middle
    return at(low)


def keep_order(space: PruningSpace, scores: np.ndarray) -> tuple[np.ndarray, int]:
    """The order in which a global ranking keeps units, and how many of them are forced.

    ``scores`` is a flat per-unit array (higher = keep first). The first ``forced`` entries of
    the order are each group's ``min_keep`` best units by score, kept whatever the budget so no
    layer collapses; the rest follow in decreasing score. Ties go to the lower unit index
    (stable sorts), so the same scores always give the same order.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (space.num_units,):
        raise ValueError(
            f"scores must have one entry per unit, shape ({space.num_units},), got {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"scores must be finite, got {int(np.sum(~np.isfinite(scores)))} NaN/inf")
    forced = np.zeros(space.num_units, dtype=bool)
    for group in space.groups:
        local = scores[space.group_slice(group)]
        forced[group.offset + np.argsort(-local, kind="stable")[: group.min_keep]] = True
    rest = np.flatnonzero(~forced)
    rest = rest[np.argsort(-scores[rest], kind="stable")]
    return np.concatenate([np.flatnonzero(forced), rest]), int(forced.sum())


def largest_prefix_mask(space: PruningSpace, scores: np.ndarray, budget: float) -> np.ndarray:
    """The largest prefix of :func:`keep_order` whose MACs fit the budget, as a mask.

    Keeping units in a fixed order only ever adds MACs, so the cost of a prefix grows with its
    length and a bisection over the length finds the largest one that fits with O(log units)
    cost evaluations. The result is tight for its ranking: the next unit would break the
    budget (or every unit is kept). Its global threshold is the score of the last unit kept.
    With ``pruning.round_to``, each group keeps its share of the prefix rounded down to a
    count it may keep, so the next unit is the one that would add a whole step.
    """
    check_budget(space, budget)
    order, forced = keep_order(space, scores)
    base = np.zeros(space.num_units, dtype=bool)
    base[order[:forced]] = True  # every group at its minimum: a count it may keep
    rest = order[forced:]

    def prefix(length: int) -> np.ndarray:  # each group's share rounded down (round_to)
        return _switched(space, base, rest, True, [length - forced])[0]

    low, high = forced, space.num_units  # invariant: prefix(low) fits, prefix(high) may not
    if space.macs_ratio(prefix(low)) > budget:
        # MACs depend only on how many units each group keeps for the layers evoprune
        # supports, so check_budget's minimum mask should cost the same; guard anyway.
        raise InfeasibleBudgetError(
            f"budget={budget} cannot be met: the per-group minimum of this ranking already "
            f"costs {space.macs_ratio(prefix(low)):.4f} of dense MACs"
        )
    if space.macs_ratio(prefix(high)) <= budget:
        return prefix(high)
    while high - low > 1:
        middle = (low + high) // 2
        if space.macs_ratio(prefix(middle)) <= budget:
            low = middle
        else:
            high = middle
    return prefix(low)


def shrink_to_budget(space: PruningSpace, mask: np.ndarray, budget: float) -> np.ndarray:
    """Drop the least important kept units until the mask meets the budget.

    Importance is normalised per group (:func:`unit_scores`). Units go in increasing
    importance, never below a group's ``min_keep`` (each group's most important kept units
    stay), so the result is what dropping one weakest removable unit at a time gives; the
    shortest prefix of that order that fits is found in one batched cost call. A mask off the
    ``round_to`` steps is first rounded down, and each group's removals go on to its next step.
    """
    check_budget(space, budget)
    mask = space.repair(mask, "down")
    if space.macs_ratio(mask) <= budget:
        return space.check(mask)
    score = unit_scores(space)
    removable = []
    for group in space.groups:
        kept = group.offset + np.flatnonzero(mask[space.group_slice(group)])
        by_score = kept[np.argsort(-score[kept], kind="stable")]
        removable.append(by_score[group.min_keep:])
    order = np.concatenate(removable)
    order = order[np.argsort(score[order], kind="stable")]
    rows = _switched(space, mask, order, False, np.arange(1, order.size + 1))
    # every unit removed leaves the minimum mask, which check_budget found feasible
    return rows[int(np.argmax(space.macs_ratio(rows) <= budget))]


def fill_to_budget(space: PruningSpace, mask: np.ndarray, budget: float) -> np.ndarray:
    """Switch dropped units back on, most important first (:func:`unit_scores`), skipping any
    that would break the budget, until no dropped unit fits: a mask that leaves no budget
    unused that one more unit could take (with ``round_to``: one more step of a group). A
    mask over the budget is returned rounded down to the steps, otherwise unchanged."""
    mask = space.repair(mask, "down")
    if space.macs_ratio(mask) > budget:
        return mask
    score = unit_scores(space)
    group_of = _group_of(space)
    order = np.flatnonzero(~mask)
    order = order[np.argsort(-score[order], kind="stable")]
    while order.size:
        # adding units only adds MACs, so the prefixes that fit are a leading run
        rows = _switched(space, mask, order, True, np.arange(1, order.size + 1))
        fits = space.macs_ratio(rows) <= budget
        taken = len(fits) if fits.all() else int(np.argmin(fits))
        if taken:
            mask = rows[taken - 1]
        order = order[~mask[order]]
        if order.size:  # drop every unit whose next step no longer fits alone: it never will
            alone = _next_steps(space, mask, order, group_of)
            order = order[space.macs_ratio(alone) <= budget]
    return mask


def scale_to_budget(space: PruningSpace, ratios, budget: float, *, grow: bool = False,
                    steps: int = 30) -> list[int]:
    """Per-group keep counts of ``ratios`` (keep fractions) with every group's margin above its
    minimum scaled by one common factor: the largest whose mask meets ``budget``. Over the
    budget, the margins shrink (factor < 1); under it, with ``grow``, they widen (factor > 1,
    each group capped at its size), so the budget is spent in the proportions ``ratios``
    chose. A group at its minimum stays there. ``steps`` bisection steps on the factor: 30
    resolve far below one unit of any group."""
    low = np.array([g.min_keep / g.size for g in space.groups])
    ratios = np.clip(np.asarray(ratios, dtype=np.float64), low, 1.0)

    def counts(factor: float) -> list[int]:
        scaled = np.minimum(low + factor * (ratios - low), 1.0)
        return [legal_count(g, round(r * g.size)) for g, r in zip(space.groups, scaled)]

    def fits(factor: float) -> bool:
        return space.macs_ratio(space.mask_from_counts(counts(factor))) <= budget + 1e-12

    if fits(1.0):
        margin = ratios - low
        if not grow or not (margin > 0).any():
            return counts(1.0)
        top = float(np.max((1.0 - low[margin > 0]) / margin[margin > 0]))  # every group whole
        if fits(top):
            return counts(top)
        lo, hi = 1.0, top
    else:
        lo, hi = 0.0, 1.0  # the minimum fits: callers check the budget first (check_budget)
    for _ in range(steps):
        middle = (lo + hi) / 2
        lo, hi = (middle, hi) if fits(middle) else (lo, middle)
    return counts(lo)


def fit_to_budget(space: PruningSpace, mask: np.ndarray, budget: float) -> np.ndarray:
    """The repair a single-budget search applies to every candidate: shrink a mask over the
    budget (:func:`shrink_to_budget`), then fill it (:func:`fill_to_budget`), so that every
    candidate is feasible and spends what it may."""
    return fill_to_budget(space, shrink_to_budget(space, mask, budget), budget)


def unit_scores(space: PruningSpace) -> np.ndarray:
    """Each unit's importance over its group's mean, so that groups with larger weights are
    neither protected nor sacrificed for their scale alone."""
    return np.concatenate([g.importance / (g.importance.mean() + 1e-12) for g in space.groups])


def _group_of(space: PruningSpace) -> np.ndarray:
    """The index of each unit's group."""
    return np.repeat(np.arange(len(space.groups)), [g.size for g in space.groups])


def _switched(space: PruningSpace, mask: np.ndarray, order: np.ndarray, value: bool,
              lengths) -> np.ndarray:
    """Row ``j``: ``mask`` with the units ``order[: lengths[j]]`` set to ``value``, each group's
    share of them rounded so that its kept count stays one it may keep (``round_to``): adding,
    a group takes only the whole steps its share completes; removing, it goes on to the next
    step with its next units in ``order``. ``mask`` must keep counts it may keep; ``order``
    lists units ``mask`` does not hold at ``value`` yet. With step 1 each row is exactly the
    prefix."""
    lengths = np.asarray(lengths, dtype=np.int64)
    rows = np.repeat(mask[None], lengths.size, axis=0)
    if not order.size:
        return rows
    group_of = _group_of(space)[order]
    rank = np.zeros(order.size, dtype=np.int64)  # position among its group's entries of order
    taken = np.zeros((lengths.size, len(space.groups)), dtype=np.int64)
    kept = space.keep_counts(mask)
    for index, group in enumerate(space.groups):
        entries = np.flatnonzero(group_of == index)
        if not entries.size:
            continue
        rank[entries] = np.arange(entries.size)
        share = np.searchsorted(entries, lengths)  # entries of this group in each prefix
        if value:
            share = floor_counts(group, kept[index] + share) - kept[index]
        else:
            share = kept[index] - floor_counts(group, kept[index] - share)
        taken[:, index] = share
    switch = rank[None, :] < taken[:, group_of]
    rows[:, order] = np.where(switch, value, rows[:, order])
    return rows


def _next_steps(space: PruningSpace, mask: np.ndarray, order: np.ndarray, group_of: np.ndarray
                ) -> np.ndarray:
    """Row ``i``: ``mask`` with unit ``order[i]`` switched on, and with as many more of its
    group's next units in ``order`` as the group's next step needs (``round_to``)."""
    rows = np.repeat(mask[None], order.size, axis=0)
    rows[np.arange(order.size), order] = True
    kept = space.keep_counts(mask)
    for index, group in enumerate(space.groups):
        entries = np.flatnonzero(group_of[order] == index)
        if group.step == 1 or not entries.size:
            continue
        more = legal_count(group, kept[index] + 1, "up") - kept[index]
        rows[np.ix_(entries, order[entries[:more]])] = True
    return rows
