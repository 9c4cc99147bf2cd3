"""MkDocs hook: the classes of user errors, read from the package at every build.

``docs/reference/errors.md`` holds the line ``<!-- user-errors -->``; it becomes a section
listing ``UserError`` (``src/evoprune/infra/errors.py``) and every class in the package that derives
from it (directly or through another), each rendered by mkdocstrings from its docstring. A
package without ``UserError`` in ``src/evoprune/infra/errors.py`` stops the build. The classes are
found by reading the source, not by importing it, so the build needs neither torch nor the
package's dependencies.
"""

from __future__ import annotations

import re
from pathlib import Path

PLACEHOLDER = "<!-- user-errors -->"
PAGE = "reference/errors.md"
BASE = "UserError"

_CLASS = re.compile(r"^class\s+(\w+)\s*\(([^)]*)\)\s*:", re.M)


def user_error_classes(package: Path) -> list[str]:
    """Dotted paths of ``UserError`` and its subclasses under ``package``, base first."""
    defined: dict[str, str] = {}        # class name -> dotted path
    bases: dict[str, list[str]] = {}    # class name -> its bases' last name components
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for name, args in _CLASS.findall(path.read_text()):
            defined.setdefault(name, f"{module}.{name}")
            bases[name] = [a.strip().split(".")[-1] for a in args.split(",") if a.strip()]
    found, pending = [], [BASE]
    while pending:
        name = pending.pop(0)
        if name in found or name not in defined:
            continue
        found.append(name)
        pending.extend(sorted(n for n, b in bases.items() if name in b))
    return [defined[name] for name in found]


def render(root: Path) -> str:
    classes = user_error_classes(root / "src" / "evoprune")
    if not classes or classes[0] != f"evoprune.infra.errors.{BASE}":
        raise ValueError(f"{BASE} is not defined in src/evoprune/infra/errors.py: the errors "
                         "reference lists it and its subclasses")
    out = ["## Error classes", "",
           "Every mistake a user can make and fix raises `UserError` or one of its subclasses; "
           "the commands print its message as one line, `error: <message>`, with exit status 2. "
           "Each subclass also derives from the built-in exception it has always been.", ""]
    for dotted in classes:
        out += [f"::: {dotted}", "    options:", "      show_root_heading: true",
                "      show_root_full_path: true", "      heading_level: 3",
                "      members: false", ""]
    return "\n".join(out)
