"""Linux procfs source: every process from /proc, without root wherever the kernel allows it.

Per process it reads three files, ``stat``, ``status`` and ``io``, through file descriptors kept
open across ticks and re-read with ``pread``: /proc regenerates the text on each read, so this
saves an open and a close per file per tick (the dominant cost at 1000+ processes).

Definitions on Linux (docs/metrics.md):
- cpu: utime + stime; child_cpu: cutime + cstime (reaped children, for fork storms)
- memory: RssAnon + VmSwap (private memory, the closest analogue of macOS's phys_footprint)
- pageins: major faults; disk: read_bytes / write_bytes from /proc/PID/io
- wakeups: voluntary context switches (times the process blocked and was woken again),
  ctx_switches: voluntary + involuntary, both summed over all threads
"""

from __future__ import annotations

import errno
import os
import sys
import time
from dataclasses import dataclass, field

from lagwatch.model import ProcessSample
from lagwatch.sources.base import SourceError, SourceReading

try:  # Unix-only modules: this module must still import everywhere.
    import pwd
    import resource
except ImportError:  # pragma: no cover - Windows
    pwd = None  # type: ignore[assignment]
    resource = None  # type: ignore[assignment]

_STATES = {
    "R": "running",
    "S": "sleeping",
    "D": "disk-wait",
    "Z": "zombie",
    "T": "stopped",
    "t": "stopped",
    "I": "idle",
    "X": "dead",
    "P": "parked",
    "W": "paging",
}
_PF_KTHREAD = 0x00200000
_READ_SIZE = 8192
# Errors that mean "this process is gone" rather than "something is wrong".
_GONE = (errno.ESRCH, errno.ENOENT)


def probe(proc_root: str = "/proc") -> str | None:
    if not sys.platform.startswith("linux"):
        return "procfs exists on Linux only"
    if not os.path.exists(os.path.join(proc_root, "self", "stat")):
        return f"{proc_root} is not mounted"
    return None


@dataclass(slots=True)
class StatFields:
    name: str
    state: str
    ppid: int
    flags: int
    majflt: int
    utime: int
    stime: int
    cutime: int
    cstime: int
    threads: int
    starttime: int


def parse_stat(data: bytes) -> StatFields:
    """Parse /proc/PID/stat. The name may hold spaces and parentheses: it runs from the first
    '(' to the *last* ')'."""
    open_at = data.index(b"(")
    close_at = data.rindex(b")")
    rest = data[close_at + 2 :].split()
    return StatFields(
        name=data[open_at + 1 : close_at].decode("utf-8", "replace"),
        state=rest[0].decode(),
        ppid=int(rest[1]),
        flags=int(rest[6]),
        majflt=int(rest[9]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        cutime=int(rest[13]),
        cstime=int(rest[14]),
        threads=int(rest[17]),
        starttime=int(rest[19]),
    )


def _field(data: bytes, key: bytes) -> int | None:
    """The first integer after ``key`` (which includes its separator) in a procfs text."""
    at = data.find(key)
    if at < 0:
        return None
    start = at + len(key)
    end = data.find(b"\n", start)
    token = data[start : end if end >= 0 else len(data)].split()
    return int(token[0]) if token else None


@dataclass(slots=True)
class StatusFields:
    uid: int | None
    rss_anon_kb: int | None
    swap_kb: int | None
    voluntary: int | None
    involuntary: int | None


def parse_status(data: bytes) -> StatusFields:
    return StatusFields(
        uid=_field(data, b"\nUid:"),
        rss_anon_kb=_field(data, b"\nRssAnon:"),
        swap_kb=_field(data, b"\nVmSwap:"),
        voluntary=_field(data, b"\nvoluntary_ctxt_switches:"),
        involuntary=_field(data, b"\nnonvoluntary_ctxt_switches:"),
    )


def parse_io(data: bytes) -> tuple[int | None, int | None]:
    """(read_bytes, write_bytes) from /proc/PID/io: bytes that really went to storage, not
    rchar/wchar, which count page-cache hits and pipes."""
    return _field(data, b"read_bytes:"), _field(data, b"\nwrite_bytes:")


class _Gone(Exception):
    pass


class _Denied(Exception):
    pass


@dataclass(slots=True)
class _PidState:
    starttime: int
    stat_fd: int = -1
    status_fd: int = -1
    io_fd: int = -1  # -2: refused, do not retry for this process
    # Context switches summed over threads: last count per tid and the running totals. Threads
    # that exit take their counts with them, so totals advance by per-thread deltas.
    thread_counts: dict[int, tuple[int, int]] = field(default_factory=dict)
    voluntary_total: int = 0
    involuntary_total: int = 0
    last_cpu_ticks: int = -1


class ProcfsSource:
    name = "procfs"

    def __init__(self, proc_root: str = "/proc", keep_fds: bool = True) -> None:
        if reason := probe(proc_root):
            raise SourceError(reason)
        self.proc_root = proc_root
        self.keep_fds = keep_fds
        self._ns_per_tick = 1e9 / os.sysconf("SC_CLK_TCK")
        self._page_size = os.sysconf("SC_PAGE_SIZE")
        self._pids: dict[int, _PidState] = {}
        self._users: dict[int, str | None] = {}
        self._memory_total = os.sysconf("SC_PHYS_PAGES") * self._page_size
        self._cpu_count = os.cpu_count() or 1
        if keep_fds:
            _raise_fd_limit()

    # -- file access -----------------------------------------------------------------------

    def _read(self, pid: int, state: _PidState, attr: str, fname: str) -> bytes:
        """Read one /proc/PID file, through a kept descriptor when possible."""
        fd = getattr(state, attr)
        if fd >= 0:
            try:
                return os.pread(fd, _READ_SIZE, 0)
            except OSError as exc:
                self._close_fd(state, attr)
                if exc.errno in _GONE:
                    raise _Gone from None
                if exc.errno in (errno.EACCES, errno.EPERM):
                    raise _Denied from None
                raise
        path = f"{self.proc_root}/{pid}/{fname}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE) and self.keep_fds:
                # Out of descriptors: give back the kept ones and read open-read-close.
                self.keep_fds = False
                self._release_fds()
                return self._read(pid, state, attr, fname)
            if exc.errno in _GONE:
                raise _Gone from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise _Denied from None
            raise
        try:
            data = os.pread(fd, _READ_SIZE, 0)
        except OSError as exc:
            os.close(fd)
            if exc.errno in _GONE:
                raise _Gone from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise _Denied from None
            raise
        if self.keep_fds:
            setattr(state, attr, fd)
        else:
            os.close(fd)
        return data

    @staticmethod
    def _close_fd(state: _PidState, attr: str) -> None:
        fd = getattr(state, attr)
        if fd >= 0:
            os.close(fd)
        setattr(state, attr, -1)

    def _release_fds(self) -> None:
        for state in self._pids.values():
            for attr in ("stat_fd", "status_fd", "io_fd"):
                if getattr(state, attr) >= 0:
                    self._close_fd(state, attr)

    def _forget(self, pid: int) -> None:
        state = self._pids.pop(pid, None)
        if state is not None:
            for attr in ("stat_fd", "status_fd", "io_fd"):
                self._close_fd(state, attr)

    def _user(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        if uid not in self._users:
            if pwd is None:
                return str(uid)
            try:
                self._users[uid] = pwd.getpwuid(uid).pw_name
            except KeyError:
                self._users[uid] = str(uid)
        return self._users[uid]

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> SourceReading:
        try:
            entries = os.listdir(self.proc_root)
        except OSError as exc:
            raise SourceError(f"cannot list {self.proc_root}: {exc.strerror}") from exc
        samples: list[ProcessSample] = []
        seen: set[int] = set()
        warnings: list[str] = []
        for entry in entries:
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                sample = self._read_pid(pid)
            except _Gone:
                self._forget(pid)
                continue
            except OSError as exc:  # anything else: skip this process this tick, say why
                self._forget(pid)
                warnings.append(f"procfs: pid {pid}: {exc}")
                continue
            seen.add(pid)
            samples.append(sample)
        for pid in [p for p in self._pids if p not in seen]:
            self._forget(pid)
        return SourceReading(
            processes=samples,
            system={"memory_total_bytes": self._memory_total, "cpu_count": self._cpu_count},
            warnings=warnings,
        )

    def _read_pid(self, pid: int) -> ProcessSample:
        state = self._pids.get(pid)
        if state is None:
            state = _PidState(starttime=-1)
            self._pids[pid] = state
        try:
            stat = parse_stat(self._read(pid, state, "stat_fd", "stat"))
        except _Denied:
            raise _Gone from None  # stat is world-readable; denied means hidden (hidepid)
        if state.starttime != stat.starttime:
            if state.starttime != -1:  # pid reused: start afresh with new descriptors
                self._forget(pid)
                state = _PidState(starttime=stat.starttime)
                self._pids[pid] = state
                stat = parse_stat(self._read(pid, state, "stat_fd", "stat"))
            state.starttime = stat.starttime
        restricted = False
        try:
            status = parse_status(self._read(pid, state, "status_fd", "status"))
        except _Denied:
            status = StatusFields(None, None, None, None, None)
            restricted = True

        read_bytes = write_bytes = None
        if state.io_fd != -2:
            try:
                read_bytes, write_bytes = parse_io(self._read(pid, state, "io_fd", "io"))
            except _Denied:
                state.io_fd = -2
        if state.io_fd == -2:
            restricted = True

        kthread = bool(stat.flags & _PF_KTHREAD)
        if kthread:
            memory = 0  # kernel threads have no user memory: a true zero, not a guess
        elif status.rss_anon_kb is not None:
            memory = (status.rss_anon_kb + (status.swap_kb or 0)) * 1024
        else:
            memory = None
        cpu_ticks = stat.utime + stat.stime
        voluntary, involuntary = self._ctx_switches(pid, state, stat, status, cpu_ticks)
        return ProcessSample(
            pid=pid,
            start_id=stat.starttime,
            name=stat.name,
            ppid=stat.ppid,
            uid=status.uid,
            user=self._user(status.uid),
            state=_STATES.get(stat.state, stat.state),
            restricted=restricted,
            memory_bytes=memory,
            threads=stat.threads,
            cpu_ns=int(cpu_ticks * self._ns_per_tick),
            child_cpu_ns=int((stat.cutime + stat.cstime) * self._ns_per_tick),
            disk_read_bytes=read_bytes,
            disk_write_bytes=write_bytes,
            pageins=stat.majflt,
            wakeups=voluntary,
            ctx_switches=None if voluntary is None else voluntary + (involuntary or 0),
        )

    def _ctx_switches(
        self, pid: int, state: _PidState, stat: StatFields, status: StatusFields, cpu_ticks: int
    ) -> tuple[int | None, int | None]:
        """Context switches of all threads. /proc/PID/status counts only the main thread, so a
        multi-threaded process's other threads are read from /proc/PID/task/TID/status, but
        only in ticks where the process used CPU: switches cost CPU, and counts not read now
        are not lost, they show up at the next read (per-thread deltas)."""
        if status.voluntary is None:
            return None, None
        counts = state.thread_counts
        if stat.threads > 1 and cpu_ticks != state.last_cpu_ticks:
            current = self._thread_switches(pid)
            current.setdefault(pid, (status.voluntary, status.involuntary or 0))
        else:
            current = dict(counts)
            current[pid] = (status.voluntary, status.involuntary or 0)
        state.last_cpu_ticks = cpu_ticks
        for tid, (vol, invol) in current.items():
            old_vol, old_invol = counts.get(tid, (0, 0))
            state.voluntary_total += max(0, vol - old_vol)
            state.involuntary_total += max(0, invol - old_invol)
        state.thread_counts = current
        return state.voluntary_total, state.involuntary_total

    def _thread_switches(self, pid: int) -> dict[int, tuple[int, int]]:
        task_dir = f"{self.proc_root}/{pid}/task"
        result: dict[int, tuple[int, int]] = {}
        try:
            tids = os.listdir(task_dir)
        except OSError:
            return result
        for tid in tids:
            try:
                with open(f"{task_dir}/{tid}/status", "rb", buffering=0) as fh:
                    data = fh.read(_READ_SIZE)
            except OSError:
                continue  # thread exited meanwhile
            vol = _field(data, b"\nvoluntary_ctxt_switches:")
            invol = _field(data, b"\nnonvoluntary_ctxt_switches:")
            if vol is not None:
                result[int(tid)] = (vol, invol or 0)
        return result

    def close(self) -> None:
        for pid in list(self._pids):
            self._forget(pid)


def _raise_fd_limit() -> None:
    """Kept descriptors need ~3 per process; raise the soft limit to the hard one."""
    if resource is None:
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


def boot_time_s() -> float:
    """Wall-clock time of boot (for start times in seconds)."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
