"""MkDocs hook: the JSON schemas of results.json and pareto.json, read from the package at
every build.

``docs/reference/outputs.md`` holds the line ``<!-- output-schemas -->``; it becomes one
collapsible block per schema of ``evoprune.report.schema.SCHEMAS``, the JSON that
``python -m evoprune.report.schema <name>`` prints. The module is loaded from its file (it
imports only the standard library), so the build needs neither torch nor the package's other
dependencies. A missing placeholder or module stops the build.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

PLACEHOLDER = "<!-- output-schemas -->"
PAGE = "reference/outputs.md"
MODULE = Path("evoprune") / "report" / "schema.py"


def load_schemas(root: Path) -> dict[str, dict]:
    """``SCHEMAS`` of ``evoprune/report/schema.py`` under ``root``."""
    path = root / MODULE
    if not path.is_file():
        raise ValueError(f"{path} is missing: {PAGE} shows its schemas")
    spec = importlib.util.spec_from_file_location("_evoprune_report_schema", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.SCHEMAS)


def render(root: Path) -> str:
    out = []
    for name, schema in load_schemas(root).items():
        out += [f'??? note "`{schema.get("title", name)}`: '
                f'`python -m evoprune.report.schema {name}`"', "",
                "    ```json"]
        out += [f"    {line}" for line in json.dumps(schema, indent=2).splitlines()]
        out += ["    ```", ""]
    return "\n".join(out)
