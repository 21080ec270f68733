"""Linux procfs source: every process from /proc, without root wherever the kernel allows it.

Per process it reads three files, ``stat``, ``status`` and ``io``, through file descriptors kept
open across ticks and re-read with ``pread``: /proc regenerates the text on each read, so this
saves an open and a close per file per tick (the dominant cost at 1000+ processes).

Definitions on Linux (docs/metrics.md):
- cpu: utime + stime; child_cpu: cutime + cstime (reaped children, for fork storms)
- memory: RssAnon + VmSwap (private memory, the closest analogue of macOS's phys_footprint)
- pageins: major faults; disk: read_bytes / write_bytes from /proc/PID/io
- wakeups: voluntary context switches (times the process blocked and was woken again) less
  those that were waits for storage, and disk operations (lagwatch.sources.io_waits);
  ctx_switches: voluntary + involuntary, both summed over all threads
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from dataclasses import dataclass, field

from lagwatch.model import CMDLINE_MAX_CHARS, ProcessSample, join_cmdline
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.io_waits import WaitSplitter
from lagwatch.sources.system_linux import LinuxSystem

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
# Per-file read sizes: os.pread allocates the whole size on every call, and stat and schedstat
# are short. A read that fills its size is repeated with _READ_SIZE.
_SIZES = (1024, _READ_SIZE, _READ_SIZE, 256)
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
    """The fields lagwatch needs from /proc/PID/status."""
    return StatusFields(*_status_tuple(data))


def _status_tuple(
    data: bytes,
) -> tuple[int | None, int | None, int | None, int | None, int | None]:
    """(uid, rss_anon_kb, swap_kb, voluntary, involuntary). Written for speed (it runs for
    every process every tick): one forward pass of ``find``; ``int()`` skips the padding."""
    uid = rss = swap = vol = invol = None
    at = data.find(b"\nUid:")
    if at >= 0:
        at += 5
        uid = int(data[at : data.find(b"\t", at + 1)])
    else:
        at = 0
    i = data.find(b"\nRssAnon:", at)
    if i >= 0:
        at = i + 9
        rss = int(data[at : data.find(b"k", at)])
        i = data.find(b"\nVmSwap:", at)
        if i >= 0:
            at = i + 8
            swap = int(data[at : data.find(b"k", at)])
    i = data.find(b"\nvoluntary_ctxt_switches:", at)
    if i >= 0:
        at = i + 25
        end = data.find(b"\n", at)
        vol = int(data[at:end])
        i = data.find(b"nonvoluntary_ctxt_switches:", end)
        if i >= 0:
            at = i + 27
            invol = int(data[at : data.find(b"\n", at)])
    return uid, rss, swap, vol, invol


def parse_io(data: bytes) -> tuple[int | None, int | None]:
    """(read_bytes, write_bytes) from /proc/PID/io: bytes that really went to storage, not
    rchar/wchar, which count page-cache hits and pipes."""
    i = data.find(b"\nread_bytes:")
    if i < 0:
        return None, None
    j = data.find(b"\nwrite_bytes:", i)
    end = data.find(b"\n", j + 14)
    return int(data[i + 12 : j]), int(data[j + 14 : end if end >= 0 else len(data)])


def read_cmdline(path: str) -> str | None:
    """/proc/PID/cmdline (arguments, each ended by a NUL) as one line; None when unreadable
    or empty (kernel threads, zombies). Only the start of a huge one is read."""
    try:
        with open(path, "rb", buffering=0) as fh:
            data = fh.read(4 * CMDLINE_MAX_CHARS)
    except OSError:
        return None
    return join_cmdline(data.rstrip(b"\0").split(b"\0"))


class _Gone(Exception):
    pass


class _Denied(Exception):
    pass


_STAT, _STATUS, _IO, _SCHED = 0, 1, 2, 3
_FILES = ("stat", "status", "io", "schedstat")
_REFUSED = -2  # a descriptor slot whose file the kernel refused: not retried for this process


@dataclass(slots=True)
class _PidState:
    starttime: int
    fds: list[int] = field(default_factory=lambda: [-1, -1, -1, -1])
    # Context switches summed over threads: last count per tid and the running totals. Threads
    # that exit take their counts with them, so totals advance by per-thread deltas.
    thread_counts: dict[int, tuple[int, int]] = field(default_factory=dict)
    voluntary_total: int = 0
    involuntary_total: int = 0
    last_cpu_ticks: int = -1
    threads_read_at: float = 0.0  # monotonic time the per-thread counts were last read
    # The texts read last tick and the sample built from them: most processes are idle, their
    # texts come back byte-identical, and comparing bytes is far cheaper than parsing them.
    last_texts: tuple[bytes, bytes, bytes] | None = None
    last_args: tuple | None = None
    last_sched: bytes = b""  # /proc/PID/schedstat last tick
    # The command line, read once per process and again when its name changes (an exec).
    cmdline: str | None = None
    cmdline_of: str | None = None  # the name it was read for


def _classify(exc: OSError) -> Exception:
    if exc.errno in _GONE:
        return _Gone()
    if exc.errno in (errno.EACCES, errno.EPERM):
        return _Denied()
    return exc


class ProcfsSource:
    name = "procfs"

    def __init__(
        self,
        proc_root: str = "/proc",
        keep_fds: bool = True,
        thread_refresh_s: float = 5.0,
        reuse_unchanged: bool = True,
    ) -> None:
        if reason := probe(proc_root):
            raise SourceError(reason)
        self.proc_root = proc_root
        self.keep_fds = keep_fds
        self.thread_refresh_s = thread_refresh_s
        self.reuse_unchanged = reuse_unchanged  # off only to measure the worst case
        # schedstat needs CONFIG_SCHED_INFO; without it every file is read every tick.
        self._schedstat = reuse_unchanged and os.path.exists(f"{proc_root}/self/schedstat")
        self._ns_per_tick = 1e9 / os.sysconf("SC_CLK_TCK")
        self._pids: dict[int, _PidState] = {}
        self._users: dict[int, str | None] = {}
        self._memory_total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        self._cpu_count = os.cpu_count() or 1
        self._waits = WaitSplitter()  # which voluntary switches were storage waits
        self._system = LinuxSystem(proc_root)  # CPU per core, memory, load: for the header
        if keep_fds:
            _raise_fd_limit()

    # -- file access -----------------------------------------------------------------------

    def _read(self, pid: int, state: _PidState, which: int) -> bytes:
        """Read one /proc/PID file, through a kept descriptor when possible."""
        fds = state.fds
        fd = fds[which]
        if fd >= 0:
            try:
                data = os.pread(fd, _SIZES[which], 0)
                if len(data) == _SIZES[which]:
                    data = os.pread(fd, _READ_SIZE, 0)
                return data
            except OSError as exc:
                os.close(fd)
                fds[which] = -1
                raise _classify(exc) from None
        try:
            fd = os.open(f"{self.proc_root}/{pid}/{_FILES[which]}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE) and self.keep_fds:
                # Out of descriptors: give back the kept ones and read open-read-close.
                self.keep_fds = False
                self._release_fds()
                return self._read(pid, state, which)
            raise _classify(exc) from None
        try:
            data = os.pread(fd, _READ_SIZE, 0)
        except OSError as exc:
            os.close(fd)
            raise _classify(exc) from None
        if self.keep_fds:
            fds[which] = fd
        else:
            os.close(fd)
        return data

    def _release_fds(self) -> None:
        for state in self._pids.values():
            _close_all(state)

    def _forget(self, pid: int) -> None:
        state = self._pids.pop(pid, None)
        if state is not None:
            _close_all(state)
        self._waits.forget(pid)

    def _user(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        name = self._users.get(uid)
        if name is None:
            name = str(uid)
            if pwd is not None:
                with contextlib.suppress(KeyError):  # a uid without a passwd entry
                    name = pwd.getpwuid(uid).pw_name
            self._users[uid] = name
        return name

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> SourceReading:
        try:
            entries = os.listdir(self.proc_root)
        except OSError as exc:
            raise SourceError(f"cannot list {self.proc_root}: {exc.strerror}") from exc
        samples: list[ProcessSample] = []
        seen: set[int] = set()
        warnings: list[str] = []
        now = time.monotonic()
        read_pid = self._read_pid
        for entry in entries:
            if not entry.isdigit():
                continue
            pid = int(entry)
            try:
                sample = read_pid(pid, now)
            except _Gone:
                self._forget(pid)
                continue
            except (OSError, ValueError, IndexError) as exc:
                # Anything else (an unexpected text, an I/O error): skip this process this
                # tick and say why; the loop goes on.
                self._forget(pid)
                warnings.append(f"procfs: pid {pid}: {exc}")
                continue
            seen.add(pid)
            state = self._pids[pid]
            if state.cmdline_of != sample.name:
                state.cmdline_of = sample.name
                state.cmdline = read_cmdline(f"{self.proc_root}/{pid}/cmdline")
            sample.cmdline = state.cmdline
            samples.append(sample)
        if len(seen) != len(self._pids):
            for pid in [p for p in self._pids if p not in seen]:
                self._forget(pid)
        return SourceReading(
            processes=samples,
            system={
                "memory_total_bytes": self._memory_total,
                "cpu_count": self._cpu_count,
                **self._system.read(),
            },
            warnings=warnings,
        )

    def _read_pid(self, pid: int, now: float) -> ProcessSample:
        # The hot path: runs for every process every tick, so it is written flat.
        state = self._pids.get(pid)
        if state is None:
            state = self._pids[pid] = _PidState(starttime=-1)
        fds = state.fds
        fd = fds[_STAT]
        try:
            stat = os.pread(fd, 1024, 0) if fd >= 0 else self._read(pid, state, _STAT)
            if len(stat) == 1024:
                stat = self._read(pid, state, _STAT)  # a long name: read the rest
        except _Denied:
            raise _Gone from None  # stat is world-readable; denied means hidden (hidepid)
        except OSError as exc:
            os.close(fd)
            fds[_STAT] = -1
            raise _classify(exc) from None
        last = state.last_texts
        if self._schedstat and last is not None and stat == last[0] and state.last_args[9] == 1:
            # Same stat text and one thread: if schedstat's count of times the thread was
            # scheduled is also unchanged, it has not run, so it cannot have switched, read,
            # written or touched memory: status and io are unchanged and need no reading.
            sched = self._read(pid, state, _SCHED)
            unchanged = sched == state.last_sched
            state.last_sched = sched
            if unchanged and self.reuse_unchanged:
                return ProcessSample(*state.last_args)
        restricted = False
        try:
            status = self._read(pid, state, _STATUS)
        except _Denied:
            status = b""
            restricted = True
        io = b""
        if fds[_IO] != _REFUSED:
            try:
                io = self._read(pid, state, _IO)
            except _Denied:
                fds[_IO] = _REFUSED
        if fds[_IO] == _REFUSED:
            restricted = True

        texts = (stat, status, io)
        if (
            self.reuse_unchanged
            and texts == state.last_texts
            and (state.last_args[9] == 1 or now - state.threads_read_at < self.thread_refresh_s)
        ):
            return ProcessSample(*state.last_args)  # nothing changed since the last tick
        args = self._parse(pid, state, texts, restricted, now)
        if args[1] != state.starttime and state.starttime != -1:
            self._forget(pid)  # pid reused: start afresh with new descriptors
            return self._read_pid(pid, now)
        state.starttime = args[1]
        state.last_texts = texts
        state.last_args = args
        return ProcessSample(*args)

    def _parse(
        self, pid: int, state: _PidState, texts: tuple[bytes, bytes, bytes], restricted: bool,
        now: float,
    ) -> tuple:  # fmt: skip
        """The arguments of a ProcessSample, in field order, from the three texts."""
        stat, status, io = texts
        close_at = stat.rindex(b")")
        rest = stat[close_at + 2 :].split()
        uid = rss_kb = swap_kb = vol = invol = None
        if status:
            uid, rss_kb, swap_kb, vol, invol = _status_tuple(status)
        read_bytes, write_bytes = parse_io(io) if io else (None, None)
        if int(rest[6]) & _PF_KTHREAD:
            memory = 0  # kernel threads have no user memory: a true zero, not a guess
        elif rss_kb is not None:
            memory = (rss_kb + (swap_kb or 0)) * 1024
        else:
            memory = None
        starttime = int(rest[19])
        cpu_ticks = int(rest[11]) + int(rest[12])
        threads = int(rest[17])
        ctx = None
        if vol is not None:
            if state.starttime not in (-1, starttime):
                state = _PidState(starttime=starttime)  # reused pid: counts start afresh
            vol, invol = self._ctx_switches(pid, state, vol, invol or 0, threads, cpu_ticks, now)
            ctx = vol + invol
        wakeups, read_ops, write_ops = self._waits.split(
            pid, starttime, vol, io, rest, threads, read_bytes, write_bytes
        )
        letter = rest[0].decode()
        ns_per_tick = self._ns_per_tick
        return (
            pid,
            starttime,
            stat[stat.index(b"(") + 1 : close_at].decode("utf-8", "replace"),
            int(rest[1]),
            uid,
            self._user(uid),
            _STATES.get(letter, letter),
            restricted,
            memory,
            threads,
            int(cpu_ticks * ns_per_tick),
            int((int(rest[13]) + int(rest[14])) * ns_per_tick),
            read_bytes,
            write_bytes,
            int(rest[9]),
            wakeups,
            ctx,
            read_ops,
            write_ops,
        )

    def _ctx_switches(
        self, pid: int, state: _PidState, vol: int, invol: int, threads: int, cpu_ticks: int,
        now: float,
    ) -> tuple[int, int]:  # fmt: skip
        """Context switches of all threads. /proc/PID/status counts only the main thread, so a
        multi-threaded process's other threads are read from /proc/PID/task/TID/status: every
        tick in which it used CPU (switching costs CPU), else every ``thread_refresh_s``.
        Counts not read in one tick are not lost, they show up at the next read (the totals
        advance by per-thread deltas)."""
        counts = state.thread_counts
        stale = now - state.threads_read_at >= self.thread_refresh_s
        if threads > 1 and (cpu_ticks != state.last_cpu_ticks or stale):
            state.threads_read_at = now
            current = self._thread_switches(pid)
            current.setdefault(pid, (vol, invol))
            for tid, (v, i) in current.items():
                old_v, old_i = counts.get(tid, (0, 0))
                state.voluntary_total += max(0, v - old_v)
                state.involuntary_total += max(0, i - old_i)
            state.thread_counts = current
        else:
            old_v, old_i = counts.get(pid, (0, 0))
            state.voluntary_total += max(0, vol - old_v)
            state.involuntary_total += max(0, invol - old_i)
            counts[pid] = (vol, invol)
        state.last_cpu_ticks = cpu_ticks
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
                    st = parse_status(fh.read(_READ_SIZE))
            except (OSError, ValueError):
                continue  # thread exited meanwhile
            if st.voluntary is not None:
                result[int(tid)] = (st.voluntary, st.involuntary or 0)
        return result

    def close(self) -> None:
        for pid in list(self._pids):
            self._forget(pid)


def _close_all(state: _PidState) -> None:
    for i, fd in enumerate(state.fds):
        if fd >= 0:
            os.close(fd)
        state.fds[i] = -1


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
