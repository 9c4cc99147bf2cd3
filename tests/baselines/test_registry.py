import re
from pathlib import Path

import pytest

from evoprune.baselines.registry import BASELINES, names_for, resolve

README = Path(__file__).resolve().parents[2] / "README.md"


def test_keywords_and_lists_resolve_for_each_pruning_kind():
    assert resolve("default", "structured") == ["uniform_magnitude", "global_magnitude"]
    assert resolve("all", "structured") == list(BASELINES)
    assert resolve("all", "unstructured") == ["uniform_magnitude", "global_magnitude"]
    assert resolve(["lamp", "random", "lamp"], "structured") == ["lamp", "random"]
    assert resolve([], "structured") == []


@pytest.mark.parametrize("names, kind, message", [
    (["nope"], "structured", "baselines \\['nope'\\] do not exist; choose from \\['uniform"),
    (["lamp"], "unstructured",
     "baselines \\['lamp'\\] do not apply to unstructured pruning; for it choose from"),
    ("some", "structured", "baselines must be one of \\['default', 'all'\\] or a list"),
])
def test_bad_names_are_refused_with_the_choices(names, kind, message):
    with pytest.raises(ValueError, match=message):
        resolve(names, kind)


def test_readme_table_lists_every_baseline_with_its_kinds():
    text = README.read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \|[^|]*\|[^|]*\| ([\w, ]+) \|", text, flags=re.M))
    assert set(rows) == set(BASELINES)
    for name, kinds in rows.items():
        assert {k.strip() for k in kinds.split(",")} == {
            kind for kind in ("structured", "unstructured") if name in names_for(kind)}
