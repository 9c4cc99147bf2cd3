"""Every baseline, registered once: its name, how it prunes for each pruning kind, what it uses,
and whether ``baselines=default`` runs it. Config checks, the run and the README's table all
read this registry.

A baseline is a function ``(BaselineContext) -> Pruned``: a mask the run fine-tunes like any
searched mask, or (gradual pruning, which prunes while it trains) a mask with the model it
already fine-tuned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from torch import nn

from evoprune.baselines import oneshot
from evoprune.baselines.gradual import gradual_magnitude
from evoprune.data import DataSplits
from evoprune.pruning.pruned import Pruned
from evoprune.pruning.space import PruningSpace
from evoprune.pruning.unstructured import UnstructuredSpace
from evoprune.training.distill import DistillConfig
from evoprune.training.train import TrainConfig

KEYWORDS = ("default", "all")  # baselines=default | all | [name, ...]


@dataclass(frozen=True)
class BaselineContext:
    """Everything a baseline may use. Only training data may inform a mask (never val/test)."""

    model: nn.Module  # the trained dense model (do not modify)
    space: PruningSpace | UnstructuredSpace
    data: DataSplits
    budget: float
    seed: int
    finetune: TrainConfig = field(default_factory=TrainConfig)  # for baselines that train
    distill: DistillConfig | None = None
    gradual_steps: int = 5
    importance_p: int = 1
    progress: bool = False


@dataclass(frozen=True)
class Baseline:
    name: str
    prune: Mapping[str, Callable[[BaselineContext], Pruned]]  # by pruning kind
    uses: str  # what informs its mask besides the budget (the baselines guide)
    reference: str
    default: bool = False
    trains: bool = False  # fine-tunes its own model while it prunes (no mask without training)
    refuses: Callable[[object], str | None] | None = None  # why a model's space is out of reach
    prunes: str = "channels"  # channels (whole blocks kept) | blocks | units (any group)


def _mask_only(ranking: Callable[[BaselineContext], np.ndarray]):
    def prune(context: BaselineContext) -> Pruned:
        return Pruned(ranking(context))

    prune.__doc__ = ranking.__doc__
    return prune


def _gradual(context: BaselineContext) -> Pruned:
    """Gradual magnitude pruning: prune in steps, fine-tuning between them (its own model)."""
    result = gradual_magnitude(
        context.model, context.space, context.data, budget=context.budget,
        finetune=context.finetune, seed=context.seed, steps=context.gradual_steps,
        importance_p=context.importance_p, distill=context.distill, progress=context.progress,
    )
    return Pruned(result.mask, result.model, {"gradual_steps": result.history})


BASELINES: dict[str, Baseline] = {b.name: b for b in (
    Baseline("uniform_magnitude",
             {"structured": _mask_only(oneshot.uniform_magnitude),
              "unstructured": _mask_only(oneshot.uniform_magnitude)},
             uses="weight magnitudes (pruning.importance_p)",
             reference="Li et al., 2017 (L1-norm filter pruning)", default=True),
    Baseline("global_magnitude",
             {"structured": _mask_only(oneshot.global_magnitude),
              "unstructured": _mask_only(oneshot.global_weight_magnitude)},
             uses="weight magnitudes, one global ranking",
             reference="Han et al., 2015 (global threshold)", default=True),
    Baseline("lamp", {"structured": _mask_only(oneshot.lamp)},
             uses="weight magnitudes, layer-adaptive scores",
             reference="Lee et al., ICLR 2021 (torch-pruning's LAMPImportance)"),
    Baseline("taylor", {"structured": _mask_only(oneshot.taylor)},
             uses="gradients on 4 training batches",
             reference="Molchanov et al., CVPR 2019 (torch-pruning's GroupTaylorImportance)"),
    Baseline("head_importance", {"structured": _mask_only(oneshot.head_importance)},
             uses="gradients on 4 training batches: a gate on each head's (unit's) output",
             reference="Michel et al., NeurIPS 2019 (are sixteen heads better than one?)",
             refuses=oneshot.head_importance_refusal),
    Baseline("slimming", {"structured": _mask_only(oneshot.slimming)},
             uses="BatchNorm scales, one global ranking (sparse after train.l1_bn); a unit "
                  "without one by its weight norm (train.group_lasso)",
             reference="Liu et al., ICCV 2017 (network slimming)"),
    Baseline("random", {"structured": _mask_only(oneshot.random)},
             uses="nothing: a seeded random ranking of units",
             reference="the floor every criterion must beat", prunes="units"),
    Baseline("block_magnitude", {"structured": _mask_only(oneshot.block_magnitude)},
             uses="mean weight magnitude of each residual block (pruning.granularity=block|both)",
             reference="Veit et al., NeurIPS 2016 (removing residual blocks)", prunes="blocks"),
    Baseline("torch_prune", {"structured": _mask_only(oneshot.torch_prune)},
             uses="L1 norm of each root layer's own output channels",
             reference="PyTorch's torch.nn.utils.prune.ln_structured (n=1, dim=0), per layer",
             refuses=oneshot.torch_prune_refusal),
    Baseline("gradual_magnitude", {"structured": _gradual},
             uses="weight magnitudes while it fine-tunes (gradual.steps, the finetune settings)",
             reference="Zhu & Gupta, 2017 (AGP, cubic schedule)", trains=True),
)}


def applicable(names: str | Sequence[str], space) -> tuple[list[str], list[str]]:
    """The baselines of ``names`` (``baselines=``) that can prune ``space``'s model, and why
    the others cannot. Named one by one, one that cannot is a ValueError saying why; a keyword
    (``all``) leaves it out and says so."""
    chosen, reasons = [], []
    for name in resolve(names, space.kind):
        refuses = BASELINES[name].refuses
        reason = _granularity_refusal(BASELINES[name], space) or (
            refuses(space) if refuses is not None else None)
        if not reason:
            chosen.append(name)
        elif isinstance(names, str):
            reasons.append(f"{name} left out: {reason}")
        else:
            raise ValueError(f"{name} cannot prune this model: {reason}; leave it out")
    return chosen, reasons


def _granularity_refusal(baseline: Baseline, space) -> str | None:
    """Why ``baseline`` finds nothing it prunes in ``space`` (pruning.granularity), or None."""
    kinds = {group.kind for group in getattr(space, "groups", ())}
    if baseline.prunes == "blocks" and "block" not in kinds:
        return "it removes whole residual blocks: use pruning.granularity=block or both"
    if baseline.prunes == "channels" and space.kind == "structured" and not kinds - {"block"}:
        return "it prunes channels, and pruning.granularity=block leaves none"
    return None


def one_shot_names(kind: str) -> list[str]:
    """The baselines of a pruning kind whose answer is a mask alone, cheap to compute: what a
    search can start from (``warm_start``)."""
    return [name for name in names_for(kind) if not BASELINES[name].trains]


def check_warm_start(names: Sequence[str], kind: str) -> list[str]:
    """``names`` if every one is a one-shot baseline of ``kind``, else a ValueError."""
    allowed = one_shot_names(kind)
    if isinstance(names, str) or any(name not in allowed for name in names):
        raise ValueError(f"warm_start must list one-shot baselines from {allowed}, got "
                         f"{list(names) if not isinstance(names, str) else names!r}")
    return list(names)


def names_for(kind: str) -> list[str]:
    """The baselines that apply to a pruning kind (``structured`` or ``unstructured``)."""
    return [name for name, baseline in BASELINES.items() if kind in baseline.prune]


def resolve(names: str | Sequence[str], kind: str) -> list[str]:
    """``default``, ``all`` or a list of names, as the list of baselines to run for ``kind``.
    Unknown names, and names that do not apply to ``kind``, raise ValueError."""
    if isinstance(names, str):
        if names not in KEYWORDS:
            raise ValueError(f"baselines must be one of {list(KEYWORDS)} or a list of names "
                             f"from {names_for(kind)}, got {names!r}")
        return [name for name in names_for(kind)
                if names == "all" or BASELINES[name].default]
    names = list(names)
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise ValueError(f"baselines {unknown} do not exist; choose from {list(BASELINES)}")
    other_kind = [name for name in names if kind not in BASELINES[name].prune]
    if other_kind:
        raise ValueError(f"baselines {other_kind} do not apply to {kind} pruning; for it "
                         f"choose from {names_for(kind)}")
    return list(dict.fromkeys(names))


def prune(name: str, context: BaselineContext) -> Pruned:
    """Run baseline ``name`` for the context's pruning kind; one that prunes channels sees the
    space with every block kept."""
    baseline = BASELINES[name]
    if baseline.prunes == "channels" and context.space.block_names:
        context = replace(context, space=context.space.with_blocks_kept())
    return baseline.prune[context.space.kind](context)
