"""results.json and pareto.json against their schemas: a real run's files pass, broken ones
are named."""

import json

import pytest

from evoprune.report.schema import SCHEMAS, main
from tests.conftest import app_outputs, schema_violations


def test_a_runs_results_are_valid(fast_run):
    assert app_outputs(fast_run.run_dir) == [fast_run.run_dir / "results.json"]
    assert schema_violations(app_outputs(fast_run.run_dir)) == []


def test_a_broken_results_file_is_named_with_the_bad_field(fast_run, tmp_path):
    results = json.loads((fast_run.run_dir / "results.json").read_text())
    method = next(iter(results["methods"]))
    results["methods"][method]["macs_ratio"] = 1.5
    del results["dense"]["macs"]
    (tmp_path / "results.json").write_text(json.dumps(results))
    problems = schema_violations([tmp_path / "results.json"])
    assert len(problems) == 2
    assert any(f"methods/{method}/macs_ratio: 1.5 is greater than the maximum of 1" in p
               for p in problems)
    assert any("dense: 'macs' is a required property" in p for p in problems)


def test_a_pareto_file_with_an_empty_front_or_a_third_objective_is_refused(tmp_path):
    pareto = {"objectives": {"val_acc": "max", "macs_ratio": "min", "params": "min"},
              "reference": [0.1, 1.000001], "hypervolume": 0.0, "front": [], "dense": None,
              "baselines": {}, "chosen": None, "budget": 0.5, "finetuned": None}
    (tmp_path / "pareto.json").write_text(json.dumps(pareto))
    problems = schema_violations([tmp_path / "pareto.json"])
    assert any("objectives" in p for p in problems) and any("front" in p for p in problems)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_command_prints_each_schema(name, capsys):
    assert main([name]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == f"{name}.json"
    assert main(["nothing"]) == 2


def test_the_results_schema_is_built_from_the_typed_records():
    from typing import Annotated, Literal, TypedDict

    from evoprune.finish.records import Bounds, Fraction, MethodRow
    from evoprune.report.schema import RESULTS, json_schema

    class Row(TypedDict, total=False):
        share: Annotated[float, Bounds(exclusive_minimum=0, maximum=1)]
        kind: Literal["a", "b"]
        counts: dict[str, int]
        note: str | None

    assert json_schema(Row) == {
        "type": "object", "required": [],
        "properties": {"share": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                       "kind": {"enum": ["a", "b"]},
                       "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                       "note": {"type": ["string", "null"]}}}
    assert json_schema(Fraction | None) == {"type": ["number", "null"], "minimum": 0,
                                            "maximum": 1}
    method = RESULTS["properties"]["methods"]["additionalProperties"]
    assert method == json_schema(MethodRow) and "search" not in method["required"]
    with pytest.raises(TypeError, match="no JSON schema"):
        json_schema(set)
