"""The package's folders depend downwards only: each imports from the layers below it, never
from its own layer's neighbours or from above, so none imports another that imports it back."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.helpers import SOURCE

PACKAGE = SOURCE / "evoprune"

# bottom to top; the entry points (evoprune/*.py) sit above them all
LAYERS = [
    {"infra"},
    {"tasks"},
    {"data", "models"},
    {"pruning"},
    {"training", "evaluate"},
    {"search"},
    {"baselines", "finish"},
    {"report"},
    {"config"},
]
LEVEL = {folder: level for level, folders in enumerate(LAYERS) for folder in folders}


def imported_modules(path: Path, root: Path = SOURCE) -> list[str]:
    """Every evoprune module ``path`` (under ``root``) imports, at the top, inside functions
    or for type checking alike, relative imports resolved."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            found.append(".".join(base + ([node.module] if node.module else [])))
    return [name for name in found if name.split(".")[0] == "evoprune"]


def folder_imports() -> dict[str, dict[str, set[str]]]:
    """``{folder: {imported folder: {files}}}`` for the package's folders."""
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2:  # an entry point: may import anything
            continue
        for name in imported_modules(path):
            target = name.split(".")[1] if name.count(".") else None
            if target and target != parts[0] and (PACKAGE / target).is_dir():
                edges[parts[0]][target].add(str(path.relative_to(SOURCE)))
    return edges


def test_every_folder_has_a_layer():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert folders == set(LEVEL)


def test_folders_import_only_the_layers_below():
    upward = [f"{source} -> {target} ({', '.join(sorted(files))})"
              for source, targets in folder_imports().items()
              for target, files in targets.items() if LEVEL[target] >= LEVEL[source]]
    assert upward == []


def test_imports_inside_functions_and_relative_ones_are_seen(tmp_path):
    module = tmp_path / "evoprune" / "infra" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("import torch\n\n\ndef f():\n    from ..search import loop\n"
                      "    from . import atomic\n    import evoprune.report.pareto\n")
    assert sorted(imported_modules(module, tmp_path)) == [
        "evoprune.infra", "evoprune.report.pareto", "evoprune.search"]
