"""macOS process source `libproc`: every process, read directly from the kernel, without root.

Per process and tick, two calls: ``proc_pid_rusage`` (flavor 6, else 5, else 4) and
``proc_pidinfo(PROC_PIDTASKALLINFO)``. What each field means (docs/metrics.md, "macOS"):

- identity: pid + ``ri_proc_start_abstime``; cpu: ``ri_user_time + ri_system_time``; child cpu:
  ``ri_child_user_time + ri_child_system_time`` (all Mach ticks, converted with hw.tbfrequency)
- memory: ``ri_phys_footprint`` (Activity Monitor's and top's MEM)
- wakeups: ``ri_pkg_idle_wkups`` only (a subset of ri_interrupt_wkups: never add the two)
- energy: ``ri_energy_nj`` (v6, Apple Silicon only; Intel kernels leave it 0, so None there)
- disk: ``ri_diskio_bytesread/byteswritten``; pageins: ``ri_pageins``; cpu_qos_ns from
  ``ri_cpu_time_qos_*``; threads and context switches from TASKINFO; ppid, uid, status, name
  from the BSD info.

Other users' processes (EPERM without root) stay in the list with what the unchecked calls give
(PROC_PIDT_SHORTBSDINFO: ppid, uid, status, 15-char comm; PROC_PIDUNIQIDENTIFIERINFO for their
identity; proc_pidpath to complete a truncated name) and ``restricted=True``; everything else
is None. task_for_pid is never called.

State: XNU never assigns SSLEEP, so a live process always reports SRUN. The state is therefore
"running" when the kernel counts a runnable thread (pti_numrunning > 0), "sleeping" when it
counts none, and None (unknown) for a restricted SRUN process; SSTOP, SZOMB and SIDL are taken
as reported ("stopped", "zombie", "starting").
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
from dataclasses import dataclass

from lagwatch import kernel_names, platform_seam
from lagwatch.model import ProcessSample
from lagwatch.sources import libproc_abi as abi
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.libproc import (
    AccessDenied,
    LibProc,
    LibprocError,
    ProcessGone,
)
from lagwatch.sources.system_psutil import PsutilSystem

try:  # Unix-only: this module must still import everywhere.
    import pwd
except ImportError:  # pragma: no cover - Windows
    pwd = None  # type: ignore[assignment]

NAME = "libproc"

_STATUS_NAMES = {
    abi.SIDL: "starting",
    abi.SSLEEP: "sleeping",  # never assigned by XNU; kept for completeness
    abi.SSTOP: "stopped",
    abi.SZOMB: "zombie",
}

# A name this long, in bytes, may have been cut by the kernel (pbi_comm keeps 15 bytes, pbi_name
# 31, possibly inside a UTF-8 character: lagwatch.kernel_names).
_COMM_MAX = kernel_names.PBI_COMM_BYTES
_NAME_MAX = kernel_names.PBI_NAME_BYTES


def state_name(status: int, numrunning: int | None) -> str | None:
    """Honest process state from pbi_status and, when known, the count of runnable threads."""
    if status in _STATUS_NAMES:
        return _STATUS_NAMES[status]
    if status == abi.SRUN:
        if numrunning is None:
            return None  # alive, but whether it runs or waits is not ours to see
        return "running" if numrunning > 0 else "sleeping"
    return None


def _cbytes(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]


def maybe_cut(raw: bytes) -> bool:
    """A kernel name (pbi_comm, pbi_name or proc_name's copy of either) that fills its field,
    in bytes, or ends inside a UTF-8 character, may be the start of a longer name."""
    return len(raw) in (_COMM_MAX, _NAME_MAX) or kernel_names.may_be_cut(raw, _NAME_MAX)


def expand_name(name: str, path: str | None, cut: bool | None = None) -> str:
    """The executable's basename when the kernel's name is a truncated prefix of it. ``cut``:
    whether the kernel's name may have been cut (default: it is 15 or 31 bytes long)."""
    if not path:
        return name
    if cut is None:
        cut = maybe_cut(name.encode("utf-8", "replace"))
    base = path.rstrip("/").rsplit("/", 1)[-1]
    if cut and len(base) > len(name) and base.startswith(name):
        return base
    return name or base


@dataclass(slots=True)
class _Known:
    """Cached per process identity: the kernel's raw name bytes and the full name made of them
    (looked up once; redone when the raw bytes change, i.e. after an exec)."""

    raw: bytes
    name: str


# Field positions in the tuples read in one call from each buffer (see libproc_abi).
_RU = abi.RUSAGE_INDEX
_RU_USER, _RU_SYS = _RU["ri_user_time"], _RU["ri_system_time"]
_RU_CHILD_USER, _RU_CHILD_SYS = _RU["ri_child_user_time"], _RU["ri_child_system_time"]
_RU_WAKE, _RU_PAGEINS = _RU["ri_pkg_idle_wkups"], _RU["ri_pageins"]
_RU_FOOTPRINT, _RU_START = _RU["ri_phys_footprint"], _RU["ri_proc_start_abstime"]
_RU_READ, _RU_WRITE = _RU["ri_diskio_bytesread"], _RU["ri_diskio_byteswritten"]
_RU_ENERGY = _RU["ri_energy_nj"]
_RU_QOS = tuple((qos, _RU[field]) for qos, field in abi.QOS_FIELDS.items())
_TA = abi.TASKALLINFO_INDEX
_TA_STATUS, _TA_PPID, _TA_UID = _TA["pbi_status"], _TA["pbi_ppid"], _TA["pbi_uid"]
_TA_COMM, _TA_NAME = _TA["pbi_comm"], _TA["pbi_name"]
_TA_THREADS, _TA_RUNNING, _TA_CSW = _TA["pti_threadnum"], _TA["pti_numrunning"], _TA["pti_csw"]
_SB = abi.SHORTBSDINFO_INDEX
_SB_STATUS, _SB_PPID, _SB_UID, _SB_COMM = (
    _SB["pbsi_status"], _SB["pbsi_ppid"], _SB["pbsi_uid"], _SB["pbsi_comm"]
)  # fmt: skip
_unpack_rusage = abi.RUSAGE_UNPACK.unpack_from
_unpack_taskall = abi.TASKALLINFO_UNPACK.unpack_from
_unpack_short = abi.SHORTBSDINFO_UNPACK.unpack_from


def platforms() -> tuple[str, ...]:
    """macOS; and, for tests, any platform where LAGWATCH_LIBSYSTEM names a stand-in library
    (a fake libSystem built by the test suite)."""
    here = platform_seam.sys_platform()
    if platform_seam.libsystem_overridden() and here != "darwin":
        return ("darwin", here)
    return ("darwin",)


def probe(lib: LibProc | None = None) -> str | None:
    """None when libproc is usable here, else why not."""
    if not platform_seam.is_macos() and not platform_seam.libsystem_overridden():
        return "libproc exists on macOS only"
    lib = lib or LibProc()
    try:
        lib.load()
        lib.timebase_hz()
    except LibprocError as exc:
        return str(exc.strerror or exc)
    return None


def detail(lib: LibProc | None = None) -> str:
    """Why it is available: library, rusage flavor, timebase (for `lagwatch sources`)."""
    lib = lib or LibProc()
    try:
        hz = lib.timebase_hz()
        for pid in [os.getpid(), *lib.list_pids()][:64]:  # settle the flavor on a readable pid
            try:
                lib.rusage(pid)
                break
            except (AccessDenied, ProcessGone):
                continue
    except LibprocError as exc:
        return f"{lib.path}: {exc.strerror or exc}"
    if lib.rusage_flavor is None:
        return f"{lib.path}, timebase {hz / 1e6:g} MHz (no readable process to settle rusage)"
    energy = "ri_energy_nj" if lib.rusage_flavor == abi.RUSAGE_INFO_V6 else "no energy counter"
    return f"{lib.path}, rusage v{lib.rusage_flavor}, timebase {hz / 1e6:g} MHz, {energy}"


class LibprocSource:
    """The `libproc` process source (see the module docstring)."""

    name = NAME

    def __init__(self, lib: LibProc | None = None) -> None:
        self.lib = lib or LibProc()
        try:
            self.lib.load()
            self.timebase_hz = self.lib.timebase_hz()
        except LibprocError as exc:
            raise SourceError(str(exc.strerror or exc)) from None
        # ticks -> ns as an exact fraction (125/3 on Apple Silicon, 1/1 on Intel).
        g = math.gcd(1_000_000_000, self.timebase_hz)
        self._ns_num, self._ns_den = 1_000_000_000 // g, self.timebase_hz // g
        # ri_energy_nj is only maintained by arm64 kernels (CONFIG_PERVASIVE_ENERGY); an Intel
        # kernel leaves it 0, which must read as unknown, not as zero watts.
        self.measures_energy = self._sysctl("hw.optional.arm64") == 1
        self._memory_total = self._sysctl("hw.memsize")
        self._cpu_count = self._sysctl("hw.logicalcpu") or os.cpu_count()
        self._users: dict[int, str | None] = {}
        self._known: dict[tuple[int, int], _Known] = {}
        # pid -> p_uniqueid of processes that were restricted at the last read.
        self._restricted_ids: dict[int, int] = {}
        # pid -> (ri_proc_start_abstime, p_uniqueid): a process that became readable keeps the
        # identity it had while restricted, so its first readable interval has no bogus delta.
        self._carried: dict[int, tuple[int, int]] = {}
        self.restricted_count = 0
        self._warned: set[str] = set()
        self._system = PsutilSystem()

    def _sysctl(self, name: str) -> int | None:
        try:
            return self.lib.sysctl_int(name)
        except LibprocError:
            return None

    def _user(self, uid: int) -> str | None:
        user = self._users.get(uid)
        if user is None:
            if pwd is None:
                user = str(uid)
            else:
                try:
                    user = pwd.getpwuid(uid).pw_name
                except KeyError:
                    user = str(uid)
            self._users[uid] = user
        return user

    def ns(self, ticks: int) -> int:
        """Mach ticks -> ns with hw.tbfrequency (exact integer arithmetic)."""
        return ticks * self._ns_num // self._ns_den

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> SourceReading:
        try:
            pids = self.lib.list_pids()
        except LibprocError as exc:
            raise SourceError(f"cannot list processes: {exc.strerror or exc}") from None
        samples: list[ProcessSample] = []
        warnings: list[str] = []
        restricted_ids: dict[int, int] = {}
        live: set[tuple[int, int]] = set()
        for pid in pids:
            try:
                sample = self._read_pid(pid, restricted_ids)
            except ProcessGone:
                continue  # exited between the list and the read
            except LibprocError as exc:
                message = f"libproc: pid {pid}: {exc.strerror or exc}"
                if message not in self._warned:  # once per process and cause, not every tick
                    if len(self._warned) > 1000:
                        self._warned.clear()
                    self._warned.add(message)
                    warnings.append(message)
                continue
            samples.append(sample)
            live.add((sample.pid, sample.start_id))
        self._restricted_ids = restricted_ids
        self.restricted_count = len(restricted_ids)
        if len(self._known) > len(live):
            self._known = {k: v for k, v in self._known.items() if k in live}
        if self._carried:
            pids_seen = {ident[0] for ident in live}
            self._carried = {p: v for p, v in self._carried.items() if p in pids_seen}
        system: dict = {"cpu_count": self._cpu_count, "restricted_processes": len(restricted_ids)}
        if self._memory_total:
            system["memory_total_bytes"] = self._memory_total
        # CPU per core, memory, swap and load for the header, through psutil (the compressor
        # is not among its figures). Command lines stay None here: KERN_PROCARGS2 is not in
        # the reference this code is built from (shared/reference/macos-apis.md).
        system.update(self._system.read())
        return SourceReading(processes=samples, system=system, warnings=warnings)

    def _read_pid(self, pid: int, restricted_ids: dict[int, int]) -> ProcessSample:
        lib = self.lib
        try:
            buf, flavor = lib.rusage(pid)
        except AccessDenied:
            return self._restricted(pid, restricted_ids)
        ru = _unpack_rusage(buf)
        try:
            t = _unpack_taskall(lib.task_all_info(pid))
        except ProcessGone:
            return self._zombie_or_gone(pid, ru, flavor)
        except AccessDenied:  # rusage allowed but task info not (sandbox/MACF): partial view
            return self._restricted(pid, restricted_ids, ru=ru, flavor=flavor)
        start_id = self._start_id(pid, ru[_RU_START])
        uid = t[_TA_UID]
        sample = ProcessSample(
            pid=pid,
            start_id=start_id,
            name=self._name(pid, start_id, t[_TA_NAME] + t[_TA_COMM]),
            ppid=t[_TA_PPID],
            uid=uid,
            user=self._user(uid),
            state=state_name(t[_TA_STATUS], t[_TA_RUNNING]),
            threads=t[_TA_THREADS],
            ctx_switches=t[_TA_CSW],
        )
        self._fill_rusage(sample, ru, flavor)
        return sample

    def _fill_rusage(self, s: ProcessSample, ru: tuple, flavor: int) -> None:
        num, den = self._ns_num, self._ns_den
        s.memory_bytes = ru[_RU_FOOTPRINT]
        s.cpu_ns = (ru[_RU_USER] + ru[_RU_SYS]) * num // den
        s.child_cpu_ns = (ru[_RU_CHILD_USER] + ru[_RU_CHILD_SYS]) * num // den
        s.wakeups = ru[_RU_WAKE]
        s.pageins = ru[_RU_PAGEINS]
        s.disk_read_bytes = ru[_RU_READ]
        s.disk_write_bytes = ru[_RU_WRITE]
        s.cpu_qos_ns = {qos: ru[i] * num // den for qos, i in _RU_QOS}
        if flavor >= abi.RUSAGE_INFO_V6 and self.measures_energy:
            s.energy_nj = ru[_RU_ENERGY]

    def _start_id(self, pid: int, start_abstime: int) -> int:
        if self._carried:
            carried = self._carried.get(pid)
            if carried is not None:
                if carried[0] == start_abstime:
                    return carried[1]
                del self._carried[pid]  # a new process took the pid
        old_uid = self._restricted_ids.get(pid)
        if old_uid is not None:
            # Restricted at the last read, readable now: the same process (it changed user)
            # or a new one on a reused pid. Only the unique id can tell.
            with contextlib.suppress(LibprocError):
                if self.lib.unique_id(pid) == old_uid:
                    self._carried[pid] = (start_abstime, old_uid)
                    return old_uid
        return start_abstime

    def _name(self, pid: int, start_id: int, raw: bytes) -> str:
        """The name from pbi_name (else pbi_comm), completed from the executable path when the
        kernel cut it; cached per identity while the raw bytes stay the same."""
        known = self._known.get((pid, start_id))
        if known is not None and known.raw == raw:
            return known.name
        kernel = _cbytes(raw[: 2 * abi.MAXCOMLEN]) or _cbytes(raw[2 * abi.MAXCOMLEN :])
        name = kernel_names.decode(kernel)  # a character the kernel cut in half is dropped
        if maybe_cut(kernel) or not name:
            with contextlib.suppress(LibprocError):
                name = expand_name(name, self.lib.pidpath(pid), cut=True)
        name = name or f"pid {pid}"
        self._known[(pid, start_id)] = _Known(raw, name)
        return name

    def _restricted(
        self,
        pid: int,
        restricted_ids: dict[int, int],
        ru: tuple | None = None,
        flavor: int | None = None,
    ) -> ProcessSample:
        """Another user's process: only what the unchecked calls give."""
        try:
            short: tuple | None = _unpack_short(self.lib.short_bsd_info(pid))
        except AccessDenied:  # a sandbox can deny even this: keep the pid, know nothing
            short = None
        try:
            uniq = self.lib.unique_id(pid)
        except AccessDenied:
            uniq = 0
        start_id = ru[_RU_START] if ru is not None else uniq
        restricted_ids[pid] = uniq
        raw = short[_SB_COMM] if short is not None else b""
        known = self._known.get((pid, start_id))
        if known is None or known.raw != raw:
            known = _Known(raw, self._restricted_name(pid, _cbytes(raw)))
            self._known[(pid, start_id)] = known
        sample = ProcessSample(pid=pid, start_id=start_id, name=known.name, restricted=True)
        if short is not None:
            sample.ppid = short[_SB_PPID]
            sample.uid = short[_SB_UID]
            sample.user = self._user(sample.uid)
            sample.state = state_name(short[_SB_STATUS], None)
        if ru is not None and flavor is not None:
            self._fill_rusage(sample, ru, flavor)
        return sample

    def _restricted_name(self, pid: int, comm: bytes) -> str:
        """proc_name is tried (it works where MACF lets TBSDINFO through), then the comm,
        completed from the executable path when the kernel cut it (at 15 bytes)."""
        try:
            kernel = self.lib.name_bytes(pid)
        except LibprocError:
            kernel = comm
        name = kernel_names.decode(kernel)
        if maybe_cut(kernel) or not name:
            with contextlib.suppress(LibprocError):
                name = expand_name(name, self.lib.pidpath(pid), cut=True)
        return name or f"pid {pid}"

    def _zombie_or_gone(self, pid: int, ru: tuple, flavor: int) -> ProcessSample:
        """Task info fails with ESRCH for a zombie (no task left) and for a process that just
        exited; the short BSD info, which can reach zombies, tells which."""
        short = _unpack_short(self.lib.short_bsd_info(pid, zombies=True))  # ProcessGone: gone
        if short[_SB_STATUS] != abi.SZOMB:
            raise ProcessGone(errno.ESRCH, f"pid {pid} exited during the read")
        start_id = self._start_id(pid, ru[_RU_START])
        uid = short[_SB_UID]
        known = self._known.get((pid, start_id))  # keep the name it had while alive
        sample = ProcessSample(
            pid=pid,
            start_id=start_id,
            name=known.name
            if known is not None
            else self._name(pid, start_id, bytes(2 * abi.MAXCOMLEN) + short[_SB_COMM]),
            ppid=short[_SB_PPID],
            uid=uid,
            user=self._user(uid),
            state="zombie",
        )
        self._fill_rusage(sample, ru, flavor)
        return sample

    def close(self) -> None:
        self._known.clear()
