"""The Pareto front after fine-tuning: a few front members spread by MACs ratio, each fine-tuned
like every method, beside every baseline pruned and fine-tuned at the same MACs ratios, so one
multi-objective run gives the after-fine-tune accuracy / MACs curve of the search and of each
baseline (``pareto.finetune``).

The front ranks masks by their accuracy before fine-tuning; what a pruned model is worth is its
accuracy after. This stage measures both for the same masks, with the same recipe as the finish
stage (it goes through the same finish code), so the two can be set side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from evoprune.finish.measure import FinishedMethod
from evoprune.finish.records import FinetunedBaseline, FinetunedFigures, FinetunedMember
from evoprune.infra.progress import progress_bar
from evoprune.infra.validators import check_int
from evoprune.pruning.pruned import Pruned
from evoprune.pruning.space import PruningSpace

# what a fine-tuned mask reports in pareto.json's "finetuned", by its key in a results.json row
_FIGURES = {"val_acc_before_finetune": "val_acc_before_finetune",
            "test_acc_before_finetune": "test_acc_before_finetune",
            "val_acc": "val_acc_after_finetune", "test_acc": "test_acc_after_finetune",
            "macs": "macs", "macs_ratio": "macs_ratio", "params": "params"}


def check_front_finetune(finetune: int | Sequence[float]) -> None:
    """Refuse anything but a member count (an integer >= 0; 0: no fine-tuning along the
    front) or a non-empty list of MACs budgets in (0, 1]."""
    if isinstance(finetune, Sequence) and not isinstance(finetune, str):
        if not finetune or not all(
                isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b <= 1
                for b in finetune):
            raise ValueError(f"finetune must be an integer >= 0 or a list of MACs budgets in "
                             f"(0, 1], got {list(finetune)!r}")
        return
    check_int("finetune", finetune, 0)


def pick_members(costs: Sequence[float], finetune: int | Sequence[float]) -> list[int]:
    """The members to fine-tune: ``k`` spread by cost (:func:`spread_members`), or for each
    budget of a list the costliest member within it (:func:`members_within`)."""
    if isinstance(finetune, int):
        return spread_members(costs, finetune)
    return members_within(costs, finetune)


def members_within(costs: Sequence[float], budgets: Sequence[float]) -> list[int]:
    """For each budget, the costliest member that meets it: on a Pareto front, the most
    accurate one. A budget below every member has none. Distinct indices, cheapest first."""
    picked = set()
    for budget in budgets:
        within = [i for i, cost in enumerate(costs) if cost <= budget + 1e-12]
        if within:
            picked.add(max(within, key=lambda i: (costs[i], -i)))
    return sorted(picked, key=lambda i: (costs[i], i))


def spread_members(costs: Sequence[float], k: int) -> list[int]:
    """Indices of ``k`` distinct front members spread along the cost axis: for each of ``k``
    targets at the middles of equal slices of [cheapest, costliest] member, the nearest member
    not taken yet (ties to the cheaper). Returns them in order of cost; all members when the
    front has no more than ``k``."""
    check_int("k", k, 0)
    order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    if k >= len(order):
        return order
    low, high = costs[order[0]], costs[order[-1]]
    taken: list[int] = []
    for slot in range(k):
        target = low + (high - low) * (slot + 0.5) / k
        taken.append(min((i for i in order if i not in taken),
                         key=lambda i: (abs(costs[i] - target), costs[i])))
    return sorted(taken, key=lambda i: (costs[i], i))


def finetune_along_front(
    front: Sequence[Mapping], finetune: int | Sequence[float], *, space: PruningSpace,
    baselines_at: Callable[[float], Mapping[str, Pruned]],
    finish_one: Callable[[str, Pruned], FinishedMethod], progress: bool = True,
) -> dict:
    """Fine-tune members of ``front`` (:func:`pick_members`: ``finetune`` of them spread by
    MACs ratio, or the best within each MACs budget of a list), and every baseline at each
    member's MACs ratio.

    Args:
        front: front entries with ``macs_ratio`` and ``mask`` (a :meth:`PruningSpace.describe`
            description), as the search result lists them.
        baselines_at: the run's baselines pruned at a MACs budget, by name.
        finish_one: the run's finish step for one method (fine-tune, measure), which must not
            show progress of its own (this stage shows one bar over every fine-tune).

    Returns ``{"members": [...], "baselines": {name: [...]}}``: per member its index in
    ``front``, per baseline entry the budget it was pruned at, and for each the accuracies
    before and after fine-tuning, MACs, MACs ratio and parameters.
    """
    check_front_finetune(finetune)
    picked = pick_members([float(entry["macs_ratio"]) for entry in front], finetune)
    members: list[FinetunedMember] = []
    baselines: dict[str, list[FinetunedBaseline]] = {}
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("fine-tune along the front", total=len(picked))
        for number, index in enumerate(picked, 1):
            budget = float(front[index]["macs_ratio"])
            where = f"{number}/{len(picked)}, MACs ratio {budget:.3f}"
            bar.update(task, description=f"fine-tune along the front ({where}): member")
            mask = space.from_description(front[index]["mask"])
            row = finish_one(f"front member {index}", Pruned(mask)).row
            members.append({"front_index": index, **finetuned_figures(row)})
            bar.update(task, description=f"fine-tune along the front ({where}): baselines")
            for name, pruned in baselines_at(budget).items():
                row = finish_one(name, pruned).row
                baselines.setdefault(name, []).append({"budget": budget,
                                                       **finetuned_figures(row)})
            bar.advance(task)
    return {"members": members, "baselines": baselines}


def finetuned_figures(row: Mapping) -> FinetunedFigures:
    """A finished method's ``results.json`` row as a ``finetuned`` entry of ``pareto.json``:
    before / after fine-tuning accuracies under explicit names, MACs and parameters."""
    return {new: row[old] for old, new in _FIGURES.items()}
