"""A thin ctypes binding to libproc and sysctlbyname: one method per call, errno mapped.

Nothing is loaded at import: ``LibProc(path)`` opens the library on first use, so this module
imports on every platform and tests can point it at a fake (tests/fake_libsystem/). The path
defaults to /usr/lib/libSystem.B.dylib (which re-exports libproc; it lives in the dyld shared
cache, so it cannot be checked with os.path.exists) and can be overridden with the environment
variable LAGWATCH_LIBSYSTEM.

Kernel behaviour this layer accounts for (reference sections 1.4, 2.6):
- proc_pid_rusage writes the full struct of the flavor whatever the buffer: every buffer here is
  at least the largest flavor (464 bytes). Flavor 6 falls back to 5 then 4 on EINVAL (macOS
  older than 13 / 11); the flavor that works is remembered once for the process's lifetime.
- proc_pidinfo returns bytes copied, 0 with errno on failure; a short copy is an error.
- proc_name needs a buffer of at least 32 bytes; proc_pidpath between 1024 and 4096.
- EPERM (another user's process, without root) and ESRCH (gone, or a zombie for task info) are
  raised as :class:`AccessDenied` and :class:`ProcessGone` so callers can degrade per process.
- Times are Mach ticks: convert with ``hw.tbfrequency`` (ticks per second), which stays right
  under Rosetta, where mach_timebase_info lies. task_for_pid is never called.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_size_t, c_uint32, c_uint64, c_void_p

from lagwatch import kernel_names, platform_seam
from lagwatch.sources import libproc_abi as abi

DEFAULT_LIBRARY = platform_seam.LIBSYSTEM
ENV_LIBRARY = platform_seam.ENV_LIBSYSTEM


class LibprocError(OSError):
    """A libproc call failed for a reason other than permission or a vanished process."""


class LibprocUnavailable(LibprocError):
    """The library cannot be loaded or lacks a function lagwatch needs."""


class AccessDenied(LibprocError):
    """EPERM: another user's process and we are not root."""


class ProcessGone(LibprocError):
    """ESRCH: the process exited (or, for task info, is a zombie)."""


def library_path() -> str:
    return platform_seam.libsystem_path()  # DEFAULT_LIBRARY unless ENV_LIBRARY names another


def _raise_for(err: int, what: str, pid: int | None = None) -> None:
    where = f"{what}(pid {pid})" if pid is not None else what
    if err == errno.EPERM:
        raise AccessDenied(err, f"{where}: operation not permitted")
    if err == errno.ESRCH:
        raise ProcessGone(err, f"{where}: no such process")
    raise LibprocError(err, f"{where}: {os.strerror(err) if err else 'failed without errno'}")


class LibProc:
    """libproc + sysctlbyname, loaded lazily from ``path``.

    Thread-safety: a call sequence per method is self-contained (fresh buffers per call), so one
    instance may be shared; the flavor fallback is decided under a lock.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path or library_path()
        self._lib: ctypes.CDLL | None = None
        self._load_error: str | None = None
        self._flavor: int | None = None  # the rusage flavor this kernel accepts, once known
        self._flavor_lock = threading.Lock()
        self._pid_capacity = 1024

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> ctypes.CDLL:
        """Open the library (once). Raises LibprocUnavailable with the reason."""
        if self._lib is not None:
            return self._lib
        if self._load_error is not None:
            raise LibprocUnavailable(errno.ENOENT, self._load_error)
        try:
            lib = ctypes.CDLL(self.path, use_errno=True)
            self._declare(lib)
        except (OSError, AttributeError) as exc:
            self._load_error = f"cannot load libproc from {self.path}: {exc}"
            raise LibprocUnavailable(errno.ENOENT, self._load_error) from None
        self._lib = lib
        return lib

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        lib.proc_listallpids.argtypes = [c_void_p, c_int]
        lib.proc_listallpids.restype = c_int
        lib.proc_pidinfo.argtypes = [c_int, c_int, c_uint64, c_void_p, c_int]
        lib.proc_pidinfo.restype = c_int
        lib.proc_pid_rusage.argtypes = [c_int, c_int, c_void_p]
        lib.proc_pid_rusage.restype = c_int
        lib.proc_name.argtypes = [c_int, c_void_p, c_uint32]
        lib.proc_name.restype = c_int
        lib.proc_pidpath.argtypes = [c_int, c_void_p, c_uint32]
        lib.proc_pidpath.restype = c_int
        lib.sysctlbyname.argtypes = [c_char_p, c_void_p, POINTER(c_size_t), c_void_p, c_size_t]
        lib.sysctlbyname.restype = c_int

    @property
    def rusage_flavor(self) -> int | None:
        """The proc_pid_rusage flavor in use (6, 5 or 4), once a call has settled it."""
        return self._flavor

    # -- process list ----------------------------------------------------------------------

    def list_pids(self) -> list[int]:
        """Every pid (including 0, kernel_task). proc_listallpids returns a *count* of pids,
        0 on error; a full buffer may mean more exist, so grow and ask again."""
        lib = self.load()
        while True:
            capacity = self._pid_capacity
            buf = (c_int * capacity)()
            count = lib.proc_listallpids(buf, ctypes.sizeof(buf))
            if count <= 0:
                _raise_for(ctypes.get_errno(), "proc_listallpids")
            if count < capacity:
                # Keep room for growth so the common case is one call per tick.
                self._pid_capacity = max(1024, count * 2)
                return list(dict.fromkeys(buf[:count]))
            self._pid_capacity = capacity * 2

    # -- rusage ----------------------------------------------------------------------------

    def rusage(self, pid: int) -> tuple[abi.RusageInfoV6, int]:
        """(struct, flavor). Fields beyond ``RUSAGE_INFO_SIZES[flavor]`` are not valid (they stay
        zero). The buffer is a whole v6 struct whatever the flavor."""
        lib = self.load()
        buf = abi.RusageInfoV6()
        flavor = self._flavor if self._flavor is not None else abi.RUSAGE_INFO_V6
        while True:
            if lib.proc_pid_rusage(pid, flavor, byref(buf)) == 0:
                if self._flavor is None:
                    with self._flavor_lock:
                        self._flavor = flavor
                return buf, flavor
            err = ctypes.get_errno()
            if err == errno.EINVAL and self._flavor is None and flavor > abi.RUSAGE_INFO_V4:
                flavor -= 1  # this kernel predates the flavor: 6 -> 5 -> 4
                continue
            if err == errno.EINVAL and self._flavor is not None and flavor != self._flavor:
                flavor = self._flavor  # another thread settled it meanwhile
                continue
            _raise_for(err, f"proc_pid_rusage[v{flavor}]", pid)

    # -- proc_pidinfo ----------------------------------------------------------------------

    def _pidinfo(self, pid: int, flavor: int, arg: int, struct: ctypes.Structure, what: str):
        lib = self.load()
        size = ctypes.sizeof(struct)
        got = lib.proc_pidinfo(pid, flavor, arg, byref(struct), size)
        if got <= 0:
            _raise_for(ctypes.get_errno(), what, pid)
        if got < size:
            raise LibprocError(errno.EIO, f"{what}(pid {pid}): short read ({got} of {size} bytes)")
        return struct

    def task_all_info(self, pid: int) -> abi.ProcTaskAllInfo:
        """BSD info + task info in one call (same-user checked; ESRCH for zombies)."""
        return self._pidinfo(
            pid, abi.PROC_PIDTASKALLINFO, 0, abi.ProcTaskAllInfo(), "proc_pidinfo[TASKALLINFO]"
        )

    def task_info(self, pid: int) -> abi.ProcTaskInfo:
        return self._pidinfo(
            pid, abi.PROC_PIDTASKINFO, 0, abi.ProcTaskInfo(), "proc_pidinfo[TASKINFO]"
        )

    def bsd_info(self, pid: int, zombies: bool = False) -> abi.ProcBsdInfo:
        return self._pidinfo(
            pid, abi.PROC_PIDTBSDINFO, int(zombies), abi.ProcBsdInfo(), "proc_pidinfo[TBSDINFO]"
        )

    def short_bsd_info(self, pid: int, zombies: bool = True) -> abi.ProcBsdShortInfo:
        """Not same-user checked: works on other users' processes."""
        return self._pidinfo(
            pid,
            abi.PROC_PIDT_SHORTBSDINFO,
            int(zombies),
            abi.ProcBsdShortInfo(),
            "proc_pidinfo[SHORTBSDINFO]",
        )

    def unique_id(self, pid: int, zombies: bool = True) -> int:
        """p_uniqueid: never reused within a boot; not same-user checked; reaches zombies only
        when asked (arg != 0), like the BSD infos."""
        info = self._pidinfo(
            pid,
            abi.PROC_PIDUNIQIDENTIFIERINFO,
            int(zombies),
            abi.ProcUniqIdentifierInfo(),
            "proc_pidinfo[UNIQIDENTIFIERINFO]",
        )
        return int(info.p_uniqueid)

    # -- names -----------------------------------------------------------------------------

    def name_bytes(self, pid: int) -> bytes:
        """proc_name: pbi_name (up to 31 bytes) or pbi_comm (15), as the kernel keeps them: cut
        by bytes, maybe inside a UTF-8 character. It reads TBSDINFO inside libproc, so it is
        same-user checked like it (AccessDenied for other users' processes)."""
        lib = self.load()
        buf = ctypes.create_string_buffer(2 * abi.PROC_NAME_MIN_BUFFER)
        n = lib.proc_name(pid, buf, ctypes.sizeof(buf))
        if n <= 0:
            _raise_for(ctypes.get_errno(), "proc_name", pid)
        return buf.raw[:n]

    def name(self, pid: int) -> str:
        """proc_name as text; a character the kernel cut in half is dropped."""
        return kernel_names.decode(self.name_bytes(pid))

    def pidpath(self, pid: int) -> str:
        """Executable path (not same-user checked)."""
        lib = self.load()
        buf = ctypes.create_string_buffer(abi.PROC_PIDPATHINFO_MAXSIZE)
        n = lib.proc_pidpath(pid, buf, ctypes.sizeof(buf))
        if n <= 0:
            _raise_for(ctypes.get_errno(), "proc_pidpath", pid)
        return buf.raw[:n].decode("utf-8", "replace")

    # -- sysctl ----------------------------------------------------------------------------

    def sysctl_int(self, name: str) -> int:
        """An integer sysctl (int32 or int64: the kernel says how many bytes it wrote)."""
        lib = self.load()
        value = c_uint64(0)
        size = c_size_t(ctypes.sizeof(value))
        if lib.sysctlbyname(name.encode(), byref(value), byref(size), None, 0) != 0:
            _raise_for(ctypes.get_errno(), f"sysctlbyname({name})")
        if size.value == 4:
            return value.value & 0xFFFFFFFF
        if size.value != 8:
            raise LibprocError(errno.EIO, f"sysctlbyname({name}): {size.value}-byte value")
        return value.value

    def timebase_hz(self) -> int:
        """Mach ticks per second (24 MHz on Apple Silicon, 1 GHz on Intel), from hw.tbfrequency.

        Never mach_timebase_info: under Rosetta it reports 1/1 while libproc still returns
        native 24 MHz ticks, a 41.67x undercount."""
        hz = self.sysctl_int("hw.tbfrequency")
        if hz <= 0:
            raise LibprocError(errno.EINVAL, f"hw.tbfrequency is {hz}")
        return hz


def ticks_to_ns(ticks: int, timebase_hz: int) -> int:
    """Mach ticks -> nanoseconds, exactly (integer arithmetic, no float rounding drift)."""
    return ticks * 1_000_000_000 // timebase_hz
