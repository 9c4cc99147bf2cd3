"""Atomic file writes: a reader (or a crash) never sees half a file, and a failed write says
which file and why (no space left, no permission) instead of a C++ stream error."""

from __future__ import annotations

import errno
import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from evoprune.infra.errors import UserError

# what to do about the causes a user meets; any other errno is said as the OS says it
_ADVICE = {
    errno.ENOSPC: "free some space, or write elsewhere (hydra.run.dir=..., cache_dir=...)",
    errno.EDQUOT: "free some space, or write elsewhere (hydra.run.dir=..., cache_dir=...)",
    errno.EFBIG: "a file size limit (ulimit -f) is in force",
    errno.EACCES: "choose a directory you can write to (hydra.run.dir=..., cache_dir=...)",
    errno.EPERM: "choose a directory you can write to (hydra.run.dir=..., cache_dir=...)",
    errno.EROFS: "choose a directory on a writable file system (hydra.run.dir=..., cache_dir=...)",
}


class WriteFailed(UserError, OSError):
    """A file could not be written: the message names the path and the cause."""


def write_failed(path: str | Path, err: OSError, what: str | None = None) -> WriteFailed:
    """The :class:`WriteFailed` for ``err`` raised while writing ``path`` (``what``: how the
    message begins; by default ``cannot write <path>``)."""
    cause = os.strerror(err.errno) if err.errno else str(err)
    advice = _ADVICE.get(err.errno)
    failed = WriteFailed(f"{what or f'cannot write {path}'}: {cause}"
                         + (f"; {advice}" if advice else ""))
    failed.errno = err.errno
    return failed


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temp file beside ``path``, fsync it, then rename it over ``path``.

    The temp file keeps ``path``'s suffix (some writers check it) and is removed if ``write``
    fails or is interrupted. The result gets the permissions a plain ``open`` would give it
    (temp files are created private). An ``OSError`` (disk full, permission) becomes
    :class:`WriteFailed` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.tmp-",
                                    suffix=path.suffix)
    except OSError as err:
        raise write_failed(path, err) from err
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise (err if isinstance(err, WriteFailed) else write_failed(path, err)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """``data`` to ``path``, atomically."""
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def save_torch_atomic(path: str | Path, payload: Any) -> None:
    """``torch.save(payload)`` to ``path``, atomically. Serialised in memory first: torch's
    file writer turns a failed write (a full disk) into a C++ error or an abort, a Python
    write says ``No space left on device``."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def check_writable(folder: str | Path, what: str) -> Path:
    """Create ``folder`` if needed and write a probe file in it, before any long work; raise
    :class:`WriteFailed` naming the setting ``what`` (``hydra.run.dir``, ``cache_dir``) and
    the cause."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"evoprune")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as err:
        raise write_failed(folder, err, f"{what}={folder} is not writable") from err
    return folder


def _umask() -> int:
    current = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(current)
    return current
