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
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from evoprune.finish.records import (
    Bounds,
    Count,
    FinetunedFront,
    NonNegative,
    Results,
    Score,
)

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string",
               type(None): "null"}


def json_schema(hint: Any) -> dict:
    """The JSON schema of a typed record or of one field's annotation: TypedDicts (required
    keys required, other keys allowed), ``dict[str, X]``, ``list[X]``, ``Literal``, unions with
    None, plain types, and ``Annotated[T, Bounds(...)]`` (the bounds added to T's schema)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        bounds = [meta.keywords() for meta in args[1:] if isinstance(meta, Bounds)]
        return {**json_schema(args[0]), **{k: v for b in bounds for k, v in b.items()}}
    if typing.is_typeddict(hint):
        fields = typing.get_type_hints(hint, include_extras=True)
        return {"type": "object", "required": sorted(hint.__required_keys__),
                "properties": {name: json_schema(field) for name, field in fields.items()}}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        options = [json_schema(arg) for arg in args]
        if all(set(option) <= {"type", "minimum", "maximum", "exclusiveMinimum"}
               for option in options):  # simple types: one schema with a list of types
            merged = {k: v for option in options for k, v in option.items() if k != "type"}
            return {**merged, "type": [option["type"] for option in options]}
        return {"anyOf": options}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(args[1])}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0])}
    if hint is Any:
        return {}
    if hint in _JSON_TYPES:
        return {"type": _JSON_TYPES[hint]}
    raise TypeError(f"no JSON schema for {hint!r}")


# pareto.json's fields, in the records' units
_SCORE = json_schema(Score)  # the task's score (results.json's metric)
_COUNT = json_schema(Count)
_NONNEGATIVE = json_schema(NonNegative)
_COST_RATIO = _NONNEGATIVE  # pruned / dense; a latency ratio may pass 1

RESULTS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "results.json",
    "description": "A completed run: its resolved config, the dense model and every method.",
    **json_schema(Results),
    "additionalProperties": False,
}

_MASK = {"type": "object", "required": ["num_units", "groups"],
         "properties": {"num_units": _COUNT, "groups": {"type": "array"}}}

_POINT = {  # one trade-off, with its cost under the file's cost key
    "type": "object",
    "required": ["val_acc"],
    "properties": {"val_acc": _SCORE, "macs_ratio": _COST_RATIO,
                   "latency_ratio": _COST_RATIO, "macs": _COUNT, "params": _COUNT},
    "anyOf": [{"required": ["macs_ratio"]}, {"required": ["latency_ratio"]}],
}

PARETO = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "pareto.json",
    "description": "A multi-objective search's front, before fine-tuning, with the dense model, "
                   "the baselines, the member chosen and (pareto.finetune) the front after "
                   "fine-tuning.",
    "type": "object",
    "required": ["objectives", "score", "reference", "hypervolume", "front", "dense",
                 "baselines", "chosen", "budget", "finetuned"],
    "additionalProperties": False,
    "properties": {
        "objectives": {"type": "object", "minProperties": 2, "maxProperties": 2,
                       "required": ["val_acc"],
                       "additionalProperties": {"enum": ["max", "min"]}},
        "score": {"type": "string", "minLength": 1},  # what every val_acc in the file is
        "reference": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                      "maxItems": 2},
        "hypervolume": _NONNEGATIVE,
        "front": {"type": "array", "minItems": 1,
                  "items": {**_POINT, "properties": {**_POINT["properties"], "mask": _MASK}}},
        "dense": {"oneOf": [{"type": "null"}, _POINT]},
        "baselines": {"type": "object", "additionalProperties": _POINT},
        "chosen": {"oneOf": [{"type": "null"}, _POINT]},
        "budget": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
        "finetuned": {"oneOf": [{"type": "null"}, json_schema(FinetunedFront)]},
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
