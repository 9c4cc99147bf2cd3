"""The rows of ``results.json`` as typed records: what the finish stage measures of the dense
model and of every method, field by field.

They are ``TypedDict`` records, so a row is still the plain dict that is written, tracked and
aggregated, while its fields have names and types a reader and a type checker can see. Each
field's bounds ride along in its annotation (``Fraction`` is a float in [0, 1], a
:class:`Bounds`); the JSON schema
of ``results.json`` (:mod:`evoprune.report.schema`) is built from these records, so the two
cannot disagree. A row may carry figures beyond these (a strategy's or a baseline's own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypedDict


@dataclass(frozen=True)
class Bounds:
    """The range of a number field, read by :mod:`evoprune.report.schema`."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None

    def keywords(self) -> dict[str, float]:
        """The bounds as JSON-schema keywords."""
        names = {"minimum": "minimum", "maximum": "maximum",
                 "exclusive_minimum": "exclusiveMinimum"}
        return {names[key]: value for key, value in vars(self).items() if value is not None}


Fraction = Annotated[float, Bounds(minimum=0, maximum=1)]
Count = Annotated[int, Bounds(minimum=0)]
NonNegative = Annotated[float, Bounds(minimum=0)]
# the task's score, higher is better: top-1 accuracy in [0, 1] for classification; R², a
# negated error and so on for other tasks (results.json's "metric" names it)
Score = float


class DenseRow(TypedDict):
    """The dense (unpruned) model: accuracies, cost and latency."""

    val_acc: Score
    test_acc: Score
    macs: Count  # multiply-accumulates per input sample
    params: Count
    latency_ms: NonNegative  # median CPU time of one forward pass (latency settings)


class _SearchFigures(TypedDict):
    evaluations: Count  # masks run through the model
    requests: Count  # masks scored, cache hits included
    wall_time_s: NonNegative
    cost: Literal["macs", "latency"]  # what the budget limited for the search
    cost_ratio: NonNegative  # the searched mask's ratio in that cost, before fine-tuning


class SearchFigures(_SearchFigures, total=False):
    """What the searched method's row adds under ``search``."""

    latency_ms: NonNegative  # with cost=latency: the two timings cost_ratio came from
    dense_latency_ms: NonNegative
    latency_table_s: NonNegative  # latency.estimate=table: seconds to build the table
    latency_table_cells: Count  # and the layer timings it holds
    selection: dict[str, Any]  # with selection.finalists > 1: what the selection saw


class _MethodRow(TypedDict):
    val_acc: Score  # after fine-tuning
    test_acc: Score
    # as the search scored the mask; None when the method never stopped training (gradual)
    test_acc_before_finetune: Score | None
    val_acc_before_finetune: Score | None
    macs: Count
    macs_ratio: Fraction  # pruned / dense MACs
    params: Count
    latency_ms: NonNegative
    kept_per_group: dict[str, Count]  # units each group keeps


class ComputeMatched(TypedDict):
    """How a compute-matched baseline (``<name>+compute``) was given the search's time: its
    fine-tune ran ``epochs`` in all, ``extra_epochs`` more than every other method's, the
    searched method's ``search_s`` at its fine-tune's ``seconds_per_epoch``."""

    epochs: Count
    extra_epochs: Count
    search_s: NonNegative
    seconds_per_epoch: NonNegative


class MethodRow(_MethodRow, total=False):
    """One method's pruned, fine-tuned model."""

    search: SearchFigures  # the searched method only
    finetune_s: NonNegative  # seconds its fine-tune took (none for a method that trains itself)
    compute_matched: ComputeMatched  # a baseline given the search's seconds as epochs
    # export.onnx: largest |ONNX Runtime output - torch program output| on test samples
    onnx_max_abs_diff: NonNegative


class FinetunedFigures(TypedDict):
    """A mask fine-tuned along the front (``pareto.finetune``): its cost and its accuracies
    before and after the fine-tune, under explicit names."""

    macs_ratio: Fraction
    macs: Count
    params: Count
    val_acc_before_finetune: Score | None
    test_acc_before_finetune: Score | None
    val_acc_after_finetune: Score
    test_acc_after_finetune: Score


class FinetunedMember(FinetunedFigures):
    """A front member fine-tuned: its place in ``pareto.json``'s front."""

    front_index: Count


class FinetunedBaseline(FinetunedFigures):
    """A baseline pruned within a member's MACs ratio and fine-tuned the same way."""

    budget: Fraction


class _FinetunedFront(TypedDict):
    members: list[FinetunedMember]
    baselines: dict[str, list[FinetunedBaseline]]  # one entry per member, in member order


class FinetunedFront(_FinetunedFront, total=False):
    """``pareto.json``'s ``finetuned``: the front after fine-tuning, beside the baselines."""

    dense_test_acc: Score
    wall_time_s: NonNegative
    metric: str  # what every *_acc figure holds (results.json's metric)


class RunConfig(TypedDict):
    """The resolved config the run was made with (every key; these are the ones always read
    back)."""

    seed: int
    budget: Annotated[float, Bounds(exclusive_minimum=0, maximum=1)]
    data: dict[str, Any]
    model: dict[str, Any]


class Results(TypedDict):
    """``results.json``: a completed run. Every ``val_acc`` / ``test_acc`` in it holds the
    task's score, named by ``metric`` (top-1 ``accuracy`` for classification; higher is better
    for every metric: a lower-is-better one is negated, ``neg_rmse``)."""

    config: RunConfig
    task: str  # classification | regression | multilabel | custom
    metric: str  # what val_acc / test_acc hold: accuracy, r2, neg_rmse, map, f1, ...
    cost: str  # the cost unit and rule, in words
    dense: DenseRow
    methods: dict[str, MethodRow]
    searched: str | None  # the searched method's name, None without a search
    wall_time_s: NonNegative
