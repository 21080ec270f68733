"""Build and drive the fake libSystem (fake_libsystem.c) that the libproc tests run against.

``build(directory)`` compiles the C source with ``cc`` into a shared library (skipping the
calling test, with the reason, when there is no compiler). ``FakeLibSystem(path)`` loads it and
wraps the control functions; the binding under test loads the same file by path, and since the
dynamic loader hands back the same image, both see one process table.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

SOURCE = Path(__file__).with_name("fake_libsystem.c")

# pbi_status values (bsd/sys/proc.h).
SIDL, SRUN, SSTOP, SZOMB = 1, 2, 4, 5


def build(directory: Path) -> Path:
    """Compile the fake into ``directory``; skip the test when no C compiler is installed."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc) to build the fake libSystem for the libproc tests")
    out = directory / "libfakesystem.so"
    cmd = [cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out), str(SOURCE)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"building the fake libSystem failed:\n{proc.stderr}")
    return out


class FakeLibSystem:
    """The fake's control surface (see the comment at the top of fake_libsystem.c)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        lib = ctypes.CDLL(str(path), use_errno=True)
        c = ctypes
        lib.fake_add.argtypes = [
            c.c_int, c.c_uint32, c.c_uint32, c.c_uint32, c.c_char_p, c.c_char_p, c.c_char_p,
            c.c_uint64,
        ]  # fmt: skip
        lib.fake_set.argtypes = [c.c_int, c.c_char_p, c.c_uint64]
        lib.fake_inc.argtypes = [c.c_int, c.c_char_p, c.c_uint64]
        lib.fake_auto_inc.argtypes = [c.c_int, c.c_char_p, c.c_uint64]
        lib.fake_remove.argtypes = [c.c_int]
        lib.fake_zombify.argtypes = [c.c_int]
        lib.fake_set_uid.argtypes = [c.c_int, c.c_uint32]
        lib.fake_set_responsible.argtypes = [c.c_int, c.c_int]
        lib.fake_set_caller_uid.argtypes = [c.c_uint32]
        lib.fake_set_max_flavor.argtypes = [c.c_int]
        lib.fake_set_short_read.argtypes = [c.c_int]
        lib.fake_set_sysctl.argtypes = [c.c_char_p, c.c_uint64, c.c_int]
        lib.fake_count.argtypes = [c.c_char_p]
        lib.fake_count.restype = c.c_long
        lib.fake_unique_id.argtypes = [c.c_int]
        lib.fake_unique_id.restype = c.c_uint64
        lib.fake_load_table.argtypes = [c.c_char_p]
        # The libproc calls themselves, for tests of the fake's conventions.
        lib.proc_pid_rusage.argtypes = [c.c_int, c.c_int, c.c_void_p]
        lib.proc_pidinfo.argtypes = [c.c_int, c.c_int, c.c_uint64, c.c_void_p, c.c_int]
        lib.proc_listallpids.argtypes = [c.c_void_p, c.c_int]
        lib.proc_name.argtypes = [c.c_int, c.c_void_p, c.c_uint32]
        lib.proc_pidpath.argtypes = [c.c_int, c.c_void_p, c.c_uint32]
        self.lib = lib

    def reset(self) -> None:
        self.lib.fake_reset()

    def add(
        self,
        pid: int,
        *,
        uid: int = 501,
        ppid: int = 1,
        status: int = SRUN,
        comm: str = "",
        name: str = "",
        path: str = "",
        start: int = 1_000,
        **fields: int,
    ) -> None:
        rc = self.lib.fake_add(
            pid, uid, ppid, status, comm.encode(), name.encode(), path.encode(), start
        )
        assert rc == 0, "fake process table full"
        for field, value in fields.items():
            self.set(pid, field, value)

    def set(self, pid: int, field: str, value: int) -> None:
        assert self.lib.fake_set(pid, field.encode(), value) == 0, f"unknown {field} or pid {pid}"

    def inc(self, pid: int, field: str, delta: int) -> None:
        assert self.lib.fake_inc(pid, field.encode(), delta) == 0, f"unknown {field} or pid {pid}"

    def auto_inc(self, pid: int, field: str, delta: int) -> None:
        assert self.lib.fake_auto_inc(pid, field.encode(), delta) == 0

    def remove(self, pid: int) -> None:
        assert self.lib.fake_remove(pid) == 0

    def zombify(self, pid: int) -> None:
        assert self.lib.fake_zombify(pid) == 0

    def set_uid(self, pid: int, uid: int) -> None:
        assert self.lib.fake_set_uid(pid, uid) == 0

    def set_responsible(self, pid: int, responsible: int) -> None:
        """macOS charges ``pid`` to ``responsible`` (an app's helper or XPC service)."""
        assert self.lib.fake_set_responsible(pid, responsible) == 0

    def caller_uid(self, uid: int) -> None:
        self.lib.fake_set_caller_uid(uid)

    def max_flavor(self, flavor: int) -> None:
        self.lib.fake_set_max_flavor(flavor)

    def short_read(self, nbytes: int) -> None:
        self.lib.fake_set_short_read(nbytes)

    def sysctl(self, name: str, value: int, width: int = 8) -> None:
        assert self.lib.fake_set_sysctl(name.encode(), value, width) == 0

    def count(self, what: str) -> int:
        n = self.lib.fake_count(what.encode())
        assert n >= 0, f"unknown counter {what}"
        return n

    def unique_id(self, pid: int) -> int:
        return self.lib.fake_unique_id(pid)
