"""MkDocs hook: the parts of the reference generated at every build, so they cannot drift from
what they describe. Each generator module in this folder names its ``PAGE``, the
``PLACEHOLDER`` line that page holds, and ``render(root)`` (the repository root) that returns
the Markdown put in its place: the configuration keys (``config_reference``), the user errors
(``user_errors``) and the output schemas (``output_schemas``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GENERATORS = ("config_reference", "user_errors", "output_schemas")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


_BY_PAGE = {module.PAGE: module for module in map(_load, GENERATORS)}


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs hook)
    generator = _BY_PAGE.get(page.file.src_uri)
    if generator is None:
        return markdown
    if generator.PLACEHOLDER not in markdown:
        raise ValueError(f"{generator.PAGE} lost its {generator.PLACEHOLDER} line")
    root = Path(config["config_file_path"]).parent
    return markdown.replace(generator.PLACEHOLDER, generator.render(root))
