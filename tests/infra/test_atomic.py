import errno
import os
import stat
import subprocess
import sys

import pytest

from evoprune.infra.atomic import WriteFailed, check_writable, write_atomic, write_failed


def test_writes_whole_file_with_default_permissions(tmp_path):
    target = tmp_path / "sub" / "out.json"
    write_atomic(target, lambda tmp: tmp.write_text("{}"))
    assert target.read_text() == "{}"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]


def test_failed_write_leaves_nothing_and_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


# a process whose writes fail past 20 kB, as on a full disk (EFBIG instead of ENOSPC: a file
# size limit is the one way to make writes fail without root or a real full disk)
_LIMITED_WRITER = """
import resource, signal, sys, torch
from evoprune.infra.atomic import WriteFailed, save_torch_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.RLIM_INFINITY))
try:
    save_torch_atomic(sys.argv[1], {"w": torch.zeros(100_000)})
except WriteFailed as err:
    print(err)
"""


def test_a_failed_write_names_the_file_and_the_cause_and_leaves_no_temp(tmp_path):
    target = tmp_path / "search.pt"
    done = subprocess.run([sys.executable, "-c", _LIMITED_WRITER, str(target)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # no abort, no C++ stream error
    assert done.stdout.strip() == (f"cannot write {target}: File too large; a file size limit "
                                   "(ulimit -f) is in force")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_and_permission_messages(tmp_path):
    full = write_failed(tmp_path / "x.pt", OSError(errno.ENOSPC, "No space left on device"))
    assert str(full) == (f"cannot write {tmp_path / 'x.pt'}: No space left on device; free some "
                         "space, or write elsewhere (hydra.run.dir=..., cache_dir=...)")
    assert full.errno == errno.ENOSPC
    denied = write_failed(tmp_path, OSError(errno.EACCES, "Permission denied"), "run dir x")
    assert str(denied).startswith("run dir x: Permission denied; choose a directory")


def test_check_writable(tmp_path):
    assert check_writable(tmp_path / "new" / "dir", "hydra.run.dir") == tmp_path / "new" / "dir"
    assert list((tmp_path / "new" / "dir").iterdir()) == []  # the probe is gone
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteFailed, match=f"cache_dir={tmp_path / 'file' / 'c'} is not "
                                          "writable: Not a directory"):
        check_writable(tmp_path / "file" / "c", "cache_dir")
