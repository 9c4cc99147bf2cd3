"""MkDocs hook: the JSON schemas of results.json and pareto.json, read from the package at
every build.

``docs/reference/outputs.md`` holds the line ``<!-- output-schemas -->``; it becomes one
collapsible block per schema of ``evoprune.report.schema.SCHEMAS``, the JSON that
``python -m evoprune.report.schema <name>`` prints. The module is imported from the checkout
(it and the typed records it reads, ``evoprune.finish.records``, import no torch). A missing
placeholder or module stops the build.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

PLACEHOLDER = "<!-- output-schemas -->"
PAGE = "reference/outputs.md"
MODULE = Path("src") / "evoprune" / "report" / "schema.py"


def load_schemas(root: Path) -> dict[str, dict]:
    """``SCHEMAS`` of ``evoprune.report.schema``, imported from the checkout at ``root``."""
    if not (root / MODULE).is_file():
        raise ValueError(f"{root / MODULE} is missing: {PAGE} shows its schemas")
    sys.path.insert(0, str(root / "src"))  # this checkout's package, installed or not
    try:
        module = importlib.import_module("evoprune.report.schema")
    finally:
        sys.path.remove(str(root / "src"))
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
