"""The JSON schemas of ``results.json`` and ``pareto.json``: the contract between a run and
whatever reads its outputs (the aggregation of a sweep, ``load_pruned``, a user's notebook).

Every ``results.json`` and ``pareto.json`` the test suite writes is validated against them.
Rows may carry figures beyond the ones named here (a strategy's or a baseline's own, such as
RL's ``greedy_*`` or gradual pruning's ``gradual_steps``); the named ones always have the types
given. ``python -m evoprune.report.schema results`` (or ``pareto``) prints one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping

_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
_FRACTION_OR_NULL = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_COUNT = {"type": "integer", "minimum": 0}
_NONNEGATIVE = {"type": "number", "minimum": 0}
_COST_RATIO = {"type": "number", "minimum": 0}  # pruned / dense; a latency ratio may pass 1

DENSE_ROW = {
    "type": "object",
    "required": ["val_acc", "test_acc", "macs", "params", "latency_ms"],
    "properties": {"val_acc": _FRACTION, "test_acc": _FRACTION, "macs": _COUNT,
                   "params": _COUNT, "latency_ms": _NONNEGATIVE},
}

SEARCH_FIGURES = {
    "type": "object",
    "required": ["evaluations", "requests", "wall_time_s", "cost", "cost_ratio"],
    "properties": {
        "evaluations": _COUNT, "requests": _COUNT, "wall_time_s": _NONNEGATIVE,
        "cost": {"enum": ["macs", "latency"]}, "cost_ratio": _COST_RATIO,
        "latency_ms": _NONNEGATIVE, "dense_latency_ms": _NONNEGATIVE,
        "selection": {"type": "object"},
    },
}

METHOD_ROW = {
    "type": "object",
    "required": ["val_acc", "test_acc", "test_acc_before_finetune", "val_acc_before_finetune",
                 "macs", "macs_ratio", "params", "latency_ms", "kept_per_group"],
    "properties": {
        "val_acc": _FRACTION, "test_acc": _FRACTION,
        # null: the method never stopped training (gradual pruning), so it has no honest value
        "test_acc_before_finetune": _FRACTION_OR_NULL,
        "val_acc_before_finetune": _FRACTION_OR_NULL,
        "macs": _COUNT, "macs_ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "params": _COUNT, "latency_ms": _NONNEGATIVE,
        "kept_per_group": {"type": "object", "additionalProperties": _COUNT},
        "search": SEARCH_FIGURES,
    },
}

RESULTS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "results.json",
    "description": "A completed run: its resolved config, the dense model and every method.",
    "type": "object",
    "required": ["config", "cost", "dense", "methods", "searched", "wall_time_s"],
    "additionalProperties": False,
    "properties": {
        "config": {"type": "object", "required": ["seed", "budget", "data", "model"]},
        "cost": {"type": "string", "minLength": 1},
        "dense": DENSE_ROW,
        "methods": {"type": "object", "additionalProperties": METHOD_ROW},
        "searched": {"type": ["string", "null"]},
        "wall_time_s": _NONNEGATIVE,
    },
}

_MASK = {"type": "object", "required": ["num_units", "groups"],
         "properties": {"num_units": _COUNT, "groups": {"type": "array"}}}

_POINT = {  # one trade-off, with its cost under the file's cost key
    "type": "object",
    "required": ["val_acc"],
    "properties": {"val_acc": _FRACTION, "macs_ratio": _COST_RATIO,
                   "latency_ratio": _COST_RATIO, "macs": _COUNT, "params": _COUNT},
    "anyOf": [{"required": ["macs_ratio"]}, {"required": ["latency_ratio"]}],
}

_FINETUNED_FIGURES = {
    "type": "object",
    "required": ["macs_ratio", "macs", "params", "val_acc_after_finetune",
                 "test_acc_after_finetune"],
    "properties": {"macs_ratio": _COST_RATIO, "macs": _COUNT, "params": _COUNT,
                   "val_acc_before_finetune": _FRACTION_OR_NULL,
                   "test_acc_before_finetune": _FRACTION_OR_NULL,
                   "val_acc_after_finetune": _FRACTION, "test_acc_after_finetune": _FRACTION},
}

PARETO = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "pareto.json",
    "description": "A multi-objective search's front, before fine-tuning, with the dense model, "
                   "the baselines, the member chosen and (pareto.finetune) the front after "
                   "fine-tuning.",
    "type": "object",
    "required": ["objectives", "reference", "hypervolume", "front", "dense", "baselines",
                 "chosen", "budget", "finetuned"],
    "additionalProperties": False,
    "properties": {
        "objectives": {"type": "object", "minProperties": 2, "maxProperties": 2,
                       "required": ["val_acc"],
                       "additionalProperties": {"enum": ["max", "min"]}},
        "reference": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                      "maxItems": 2},
        "hypervolume": _NONNEGATIVE,
        "front": {"type": "array", "minItems": 1,
                  "items": {**_POINT, "properties": {**_POINT["properties"], "mask": _MASK}}},
        "dense": {"oneOf": [{"type": "null"}, _POINT]},
        "baselines": {"type": "object", "additionalProperties": _POINT},
        "chosen": {"oneOf": [{"type": "null"}, _POINT]},
        "budget": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
        "finetuned": {"oneOf": [{"type": "null"}, {
            "type": "object",
            "required": ["members", "baselines"],
            "properties": {
                "members": {"type": "array", "items": {
                    **_FINETUNED_FIGURES,
                    "required": [*_FINETUNED_FIGURES["required"], "front_index"]}},
                "baselines": {"type": "object", "additionalProperties": {
                    "type": "array", "items": _FINETUNED_FIGURES}},
            },
        }]},
    },
}

SCHEMAS: Mapping[str, dict] = {"results": RESULTS, "pareto": PARETO}


def main(argv: list[str] | None = None) -> int:
    """Print the schema named on the command line (``results`` or ``pareto``) as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in SCHEMAS:
        print(f"usage: python -m evoprune.report.schema {{{','.join(SCHEMAS)}}}",
              file=sys.stderr)
        return 2
    print(json.dumps(SCHEMAS[args[0]], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
