"""MkDocs hook: the configuration reference, read from conf/ at every build.

``docs/reference/configuration.md`` holds the line ``<!-- config-reference -->``; this hook
replaces it with one section per config file: ``conf/config.yaml`` first (the default choice of
each group, then every key), then each group's options in the order of the defaults list
(``conf/<group>/*.yaml``, nested groups such as ``debug/search`` included). Every key is shown
with its dotted name as given on the command line, its default as written in the file, and the
comment written beside it (continued on the following comment lines indented past the key) or,
after a blank line, on the comment lines just above it. A key that PyYAML reads but the comment
reader missed, or the other way round, stops the build: the page never drifts from conf/.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PLACEHOLDER = "<!-- config-reference -->"
PAGE = "reference/configuration.md"

_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[A-Za-z_@][\w@.\-/]*|\"[^\"]*\"|'[^']*'):(?=\s|$)")
_ITEM = re.compile(r"^(?P<indent>\s*)-\s+(?P<text>.*)$")


@dataclass
class Entry:
    """One key of a file: its raw default text and its comment."""

    value: str
    comment: list[str] = field(default_factory=list)


@dataclass
class ConfigFile:
    """What one YAML file says: header, defaults list, keys with comments, loose notes."""

    path: Path
    header: list[str]
    package_global: bool
    defaults: list[tuple[str, str]]  # (item, comment)
    entries: dict[tuple[str, ...], Entry]
    notes: list[str]
    data: dict


def _split_comment(text: str) -> tuple[str, str | None]:
    """Split ``value  # comment`` at the first ``#`` after a space, outside quotes."""
    quote = None
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i].rstrip(), text[i + 1:].strip()
    return text.rstrip(), None


def read_file(path: Path) -> ConfigFile:
    """Read one config file's keys, defaults list and comments, line by line."""
    lines = path.read_text().splitlines()
    header: list[str] = []
    start = 0
    while start < len(lines) and lines[start].lstrip().startswith("#"):
        header.append(lines[start].strip()[1:].strip())
        start += 1
    package_global = any(h.startswith("@package _global_") for h in header)
    header = [h for h in header if not h.startswith("@package")]

    entries: dict[tuple[str, ...], Entry] = {}
    defaults: list[tuple[str, str]] = []
    notes: list[str] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] = []      # comment lines that may lead the next key
    pending_indent = -1
    pending_after_blank = False
    last: Entry | None = None    # the key that a deeper comment line continues
    last_indent = -1
    last_item: int | None = None  # index in defaults that a deeper comment line continues
    blank_before = True

    def flush_pending_as_notes() -> None:
        nonlocal pending
        if pending:
            notes.append(" ".join(pending))
        pending = []

    for raw in lines[start:]:
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if not stripped:
            flush_pending_as_notes()
            last, last_item, blank_before = None, None, True
            continue
        if stripped.startswith("#"):
            text = stripped[1:].strip()
            if last is not None and indent > last_indent and not pending:
                last.comment.append(text)
            elif last_item is not None and not pending:
                item, comment = defaults[last_item]
                defaults[last_item] = (item, f"{comment} {text}".strip())
            else:
                if not pending:
                    pending_indent, pending_after_blank = indent, blank_before
                pending.append(text)
            blank_before = False
            continue
        item = _ITEM.match(raw)
        if item:
            if stack and stack[-1][1] == "defaults" and len(stack) == 1:
                value, comment = _split_comment(item.group("text"))
                defaults.append((value, comment or ""))
                last_item = len(defaults) - 1
            else:
                raise ValueError(f"{path}: block lists other than defaults are not read: {raw!r}")
            flush_pending_as_notes()
            last, blank_before = None, False
            continue
        match = _KEY.match(raw)
        if not match:
            raise ValueError(f"{path}: cannot read this line: {raw!r}")
        key = match.group("key").strip("'\"")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        value, comment = _split_comment(raw[match.end():].strip())
        entry = Entry(value.strip())
        if pending and pending_after_blank and pending_indent == indent:
            entry.comment.extend(pending)
            pending = []
        flush_pending_as_notes()
        if comment is not None:
            entry.comment.append(comment)
        path_key = tuple(k for _, k in stack)
        if path_key != ("defaults",):
            entries[path_key] = entry
        last, last_indent, last_item, blank_before = entry, indent, None, False
    flush_pending_as_notes()

    data = yaml.safe_load(path.read_text()) or {}
    data.pop("defaults", None)
    _check_same_keys(path, data, entries)
    return ConfigFile(path, header, package_global, defaults, entries, notes, data)


def _leaves(data: dict, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every key path of ``data`` in file order, mappings included, with its value."""
    out = []
    for key, value in data.items():
        path = (*prefix, str(key))
        out.append((path, value))
        if isinstance(value, dict):
            out.extend(_leaves(value, path))
    return out


def _check_same_keys(path: Path, data: dict, entries: dict) -> None:
    loaded = {p for p, _ in _leaves(data)}
    read = set(entries)
    if loaded != read:
        raise ValueError(f"{path}: keys read line by line {sorted(read - loaded)} and keys "
                         f"PyYAML reads {sorted(loaded - read)} differ; fix the hook or the file")


# ----------------------------------------------------------------------------- rendering

def _text(parts: list[str]) -> str:
    """Comment text as Markdown: code spans kept, everything else escaped for a table cell."""
    out = []
    for i, chunk in enumerate(re.split(r"(`[^`]*`)", " ".join(parts))):
        if i % 2:
            out.append(chunk)
            continue
        chunk = chunk.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for char in "\\|*_[]":
            chunk = chunk.replace(char, "\\" + char)
        out.append(chunk)
    return "".join(out)


def _code(value: str) -> str:
    if not value:
        return ""
    ticks = "``" if "`" in value else "`"
    return f"{ticks}{value}{ticks}"


def _dotted(prefix: tuple[str, ...], key: tuple[str, ...]) -> str:
    return ".".join((*prefix, *key))


def _table(cfg: ConfigFile, prefix: tuple[str, ...], paths: list[tuple[str, ...]]) -> list[str]:
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for p in paths:
        entry = cfg.entries[p]
        if _is_mapping(cfg.data, p) and not entry.comment:
            continue  # a section without a comment of its own: its keys say it all
        value = entry.value if entry.value else ""
        rows.append(f"| `{_dotted(prefix, p)}` | {_code(value)} | {_text(entry.comment)} |")
    return rows


def _is_mapping(data: dict, path: tuple[str, ...]) -> bool:
    node = data
    for key in path:
        node = node[key]
    return isinstance(node, dict)


def render_root(cfg: ConfigFile, groups: dict[str, list[Path]], conf: Path) -> list[str]:
    out = ["## Groups and their defaults", ""]
    out += [f"From the defaults list of `{cfg.path.relative_to(conf.parent)}`. Choose an option "
            "with `group=option`; an option's keys are listed in its section below.", ""]
    out += ["| group | default | options | note |", "| --- | --- | --- | --- |"]
    seen = set()
    for item, comment in cfg.defaults:
        if item == "_self_":
            continue
        name, _, choice = item.partition(":")
        name = name.strip()
        group = name.replace("optional ", "").split("@")[0].strip()
        seen.add(group)
        options = ", ".join(f"[`{p.stem}`](#{_anchor(group, p.stem)})"
                            for p in groups.get(group, []))
        out.append(f"| `{group}` | `{choice.strip()}` | {options} | {_text([comment])} |")
    for group, paths in groups.items():
        if group not in seen:
            options = ", ".join(f"[`{p.stem}`](#{_anchor(group, p.stem)})" for p in paths)
            out.append(f"| `{group}` | | {options} | |")
    out += ["", "## Top-level keys", ""]
    out += [f"Set in `{cfg.path.relative_to(conf.parent)}`.", ""]
    top = [p for p in cfg.entries if len(p) == 1]
    scalars = [p for p in top if not _is_mapping(cfg.data, p)]
    out += _table(cfg, (), scalars) + [""]
    for p in top:
        if not _is_mapping(cfg.data, p):
            continue
        out += [f"### `{p[0]}`", ""]
        if cfg.entries[p].comment:
            out += [_text(cfg.entries[p].comment), ""]
        inner = [q for q in cfg.entries if len(q) > 1 and q[0] == p[0]]
        out += _table(cfg, (), inner) + [""]
    if cfg.notes:
        out += [f"Notes in the file: {_text(cfg.notes)}", ""]
    return out


def _anchor(group: str, option: str) -> str:
    return f"{group.replace('/', '-')}-{option}".lower().replace("_", "-")


def render_option(cfg: ConfigFile, group: str, conf: Path) -> list[str]:
    option = cfg.path.stem
    rel = cfg.path.relative_to(conf.parent)
    out = [f"### `{option}` {{#{_anchor(group, option)}}}", ""]
    where = "keys at the top level (`# @package _global_`)" if cfg.package_global \
        else f"keys under `{group.replace('/', '.')}`"
    out += [f"`{rel}`, {where}.", ""]
    if cfg.header:
        out += [_text(cfg.header), ""]
    if cfg.defaults:
        items = "; ".join(_code(item) + (f" ({_text([c])})" if c else "")
                          for item, c in cfg.defaults)
        out += [f"Defaults list: {items}.", ""]
    prefix = () if cfg.package_global else tuple(group.split("/"))
    if cfg.entries:
        out += _table(cfg, prefix, list(cfg.entries)) + [""]
    else:
        out += ["No keys of its own.", ""]
    if cfg.notes:
        out += [f"Note in the file: {_text(cfg.notes)}", ""]
    return out


def render(root: Path) -> str:
    conf = root / "conf"
    """The whole generated part of the page."""
    root = read_file(conf / "config.yaml")
    groups: dict[str, list[Path]] = {}
    for path in sorted(conf.rglob("*.yaml")):
        if path.parent != conf:
            groups.setdefault(path.parent.relative_to(conf).as_posix(), []).append(path)
    order = []
    for item, _ in root.defaults:
        group = item.partition(":")[0].replace("optional ", "").split("@")[0].strip()
        if group in groups and group not in order:
            order.append(group)
    order += sorted(g for g in groups if g not in order)
    groups = {g: groups[g] for g in order}
    out = render_root(root, groups, conf)
    for group, paths in groups.items():
        out += [f"## `{group}`", ""]
        for path in paths:
            out += render_option(read_file(path), group, conf)
    return "\n".join(out)
