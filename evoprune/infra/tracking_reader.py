"""Read back what a W&B run wrote locally, without the W&B server.

A run's ``run-<id>.wandb`` file is a LevelDB-style log of protobuf ``Record`` messages:
a 7-byte file header (``:W&B``, magic ``0xBEE1``, version 0), then 32 KiB blocks of
chunks, each with a 7-byte header (CRC-32 of type byte + data, length, type). wandb 0.31
has no Python reader for it any more (its internals moved to the Go ``wandb-core``), so
this module parses it directly with wandb's own protobuf classes. The format is what
``wandb sync`` consumes, so it is stable across wandb versions.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

_FILE_HEADER = struct.Struct("<4sHB")
_IDENT, _MAGIC, _VERSION = b":W&B", 0xBEE1, 0
_CHUNK_HEADER = struct.Struct("<IHB")
_BLOCK_LEN = 32 * 1024
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
# The chunk checksum is seeded with the CRC of the chunk's type byte (as in LevelDB).
_TYPE_CRC = {t: zlib.crc32(bytes([t])) for t in (_FULL, _FIRST, _MIDDLE, _LAST)}


def find_run_file(run_path: str | Path) -> Path:
    """Return the ``run-*.wandb`` file of a run directory (or ``run_path`` if it is one)."""
    path = Path(run_path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"no W&B run directory or .wandb file at {str(path)!r}")
    files = sorted(path.glob("run-*.wandb"))
    if len(files) != 1:
        found = [f.name for f in files] or "none"
        raise FileNotFoundError(
            f"expected exactly one run-*.wandb file in {str(path)!r}, found {found}"
        )
    return files[0]


def _iter_payloads(data: bytes, name: str) -> Iterator[bytes]:
    """Yield each record's bytes, joining records split across blocks."""
    if len(data) < _FILE_HEADER.size:
        raise ValueError(f"{name}: too short to be a .wandb file ({len(data)} bytes)")
    ident, magic, version = _FILE_HEADER.unpack_from(data)
    if (ident, magic, version) != (_IDENT, _MAGIC, _VERSION):
        raise ValueError(
            f"{name}: not a .wandb log (header {ident!r}/{magic:#x}/v{version}, "
            f"expected {_IDENT!r}/{_MAGIC:#x}/v{_VERSION})"
        )
    pos = _FILE_HEADER.size
    parts: list[bytes] = []
    while True:
        # A block tail too small for a chunk header is zero padding.
        if _BLOCK_LEN - pos % _BLOCK_LEN < _CHUNK_HEADER.size:
            pos += _BLOCK_LEN - pos % _BLOCK_LEN
        if pos + _CHUNK_HEADER.size > len(data):
            # A run killed mid-write leaves a torn last record; keep what was complete.
            return
        checksum, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        start = pos + _CHUNK_HEADER.size
        chunk = data[start : start + length]
        if kind == 0 and length == 0 and checksum == 0:
            return  # preallocated, never-written space
        if len(chunk) < length:
            return
        if kind not in _TYPE_CRC:
            raise ValueError(f"{name}: unknown chunk type {kind} at byte {pos}")
        if zlib.crc32(chunk, _TYPE_CRC[kind]) != checksum:
            raise ValueError(f"{name}: checksum mismatch in chunk at byte {pos}")
        pos = start + length
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            parts = [chunk]
        else:
            parts.append(chunk)
            if kind == _LAST:
                yield b"".join(parts)
                parts = []


def iter_records(run_path: str | Path) -> Iterator[Any]:
    """Yield the protobuf ``Record`` messages of a run, in the order they were written."""
    from wandb.proto import wandb_internal_pb2 as pb

    run_file = find_run_file(run_path)
    for payload in _iter_payloads(run_file.read_bytes(), str(run_file)):
        record = pb.Record()
        record.ParseFromString(payload)
        yield record


def wait_for_run_file(run_path: str | Path, timeout_s: float = 30.0, poll_s: float = 0.01) -> bool:
    """Wait until a run's ``.wandb`` file ends with its exit record; return whether it did.

    ``run.finish()`` returns before wandb-core has flushed the file (the service closes
    the run's stream asynchronously, usually within milliseconds), so readers must wait.
    """
    from wandb.proto import wandb_internal_pb2 as pb

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            run_file = find_run_file(run_path)
            last = None
            for payload in _iter_payloads(run_file.read_bytes(), str(run_file)):
                last = payload
        except FileNotFoundError:
            last = None
        if last is not None:
            record = pb.Record()
            record.ParseFromString(last)
            # The exit record is the last one wandb writes for a finished run.
            if record.WhichOneof("record_type") == "exit":
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def _item_path(item: Any) -> Sequence[str]:
    # Top-level keys come either as `key` or as a one-element `nested_key`.
    return [item.key] if item.key else list(item.nested_key)


def _item_value(item: Any) -> Any:
    # History items may carry a typed value instead of JSON text.
    kind = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    if kind is None:
        return json.loads(item.value_json)
    if kind == "none":
        return None
    if kind == "json":
        return json.loads(item.json)
    return getattr(item, kind)


def _set_path(target: dict[str, Any], path: Sequence[str], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _remove_path(target: dict[str, Any], path: Sequence[str]) -> None:
    for key in path[:-1]:
        target = target.get(key, {})
    target.pop(path[-1], None)


def _apply_items(target: dict[str, Any], update: Any, remove: Any) -> None:
    for item in update:
        _set_path(target, _item_path(item), _item_value(item))
    for item in remove:
        _remove_path(target, _item_path(item))


def read_offline_run(run_path: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Return ``(history rows, final summary)`` of a locally written run.

    ``run_path`` is a run directory (e.g. ``wandb/offline-run-*``) or its ``.wandb`` file.
    Rows and summary keep wandb's own keys (``_step``, ``_runtime``, ``_timestamp``, and
    ``_wandb`` in the summary) next to the logged ones.
    """
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    for record in iter_records(run_path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row: dict[str, Any] = {}
            _apply_items(row, record.history.item, ())
            history.append(row)
        elif kind == "summary":
            _apply_items(summary, record.summary.update, record.summary.remove)
    return history, summary


def read_offline_config(run_path: str | Path) -> dict[str, Any]:
    """Return the config a locally written run recorded (without wandb's ``_wandb`` key)."""
    config: dict[str, Any] = {}
    for record in iter_records(run_path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            _apply_items(config, record.run.config.update, record.run.config.remove)
        elif kind == "config":
            _apply_items(config, record.config.update, record.config.remove)
    config.pop("_wandb", None)
    return config
