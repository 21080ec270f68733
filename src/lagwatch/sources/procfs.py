"""Linux procfs source: every process from /proc, without root wherever the kernel allows it.

Per process it reads up to four files, ``schedstat``, ``stat``, ``status`` and ``io``, through
descriptors kept open across ticks and re-read with ``pread``: /proc regenerates the text on
each read, so this saves an open and a close per read (the dominant cost at 1000+ processes).
How many are kept is bounded by RLIMIT_NOFILE (lagwatch.sources.fd_budget); beyond that, files
are opened per read, and ``sweep_info()`` says which mode the sweep is in.

What a tick reads (the rule that keeps a sweep cheap; bench/floor.c mirrors it):
- A single-threaded process: ``schedstat`` first, its count of times the thread was scheduled.
  A thread that has not run since the last tick cannot have used CPU, faulted, switched, read,
  written, allocated, renamed itself or changed state (beyond being woken, which it will see
  at its next run): its last sample stands. The one field that changes without the process
  running is its parent (re-parenting when the parent exits), so the children of processes
  that exited or became zombies since the last tick are read in full.
- Any other process (it ran, it has several threads: /proc/PID/schedstat is the main thread's
  only; it is new; schedstat is missing or refused): ``stat``, ``status`` and ``io``. Texts
  identical to the last tick's are not parsed again.
- Other threads' context switches: lagwatch.sources.procfs_threads, a bounded number of
  per-thread reads per tick. A process whose threads are read has its ``status`` and ``io``
  read again just before them, and its voluntary switches split into wakeups and storage waits
  after them: the split compares every thread's switches with the operations of that moment.

Samples are built by keyword from a dict per process (``_PidState.fields``): a reordered or
extended ProcessSample can never receive a value in the wrong field.

Definitions on Linux (docs/metrics.md):
- cpu: utime + stime; child_cpu: cutime + cstime (reaped children, for fork storms)
- memory: RssAnon + VmSwap (private memory, the closest analogue of macOS's phys_footprint)
- pageins: major faults; disk: read_bytes / write_bytes from /proc/PID/io
- wakeups: voluntary context switches (times the process blocked and was woken again) less
  those that were waits for storage, and disk operations (lagwatch.sources.io_waits);
  ctx_switches: voluntary + involuntary, both summed over all threads
- cmdline: /proc/PID/cmdline, read once per process and again when its name changes (an exec)
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from lagwatch.model import CMDLINE_MAX_CHARS, ProcessSample, join_cmdline
from lagwatch.sources import fd_budget
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.io_waits import WaitSplitter
from lagwatch.sources.procfs_threads import (
    MIN_THREAD_READS,
    ThreadCounts,
    share,
    thread_budget,
)
from lagwatch.sources.system_linux import LinuxSystem

try:  # Unix-only modules: this module must still import everywhere.
    import pwd
except ImportError:  # pragma: no cover - Windows
    pwd = None  # type: ignore[assignment]

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
_SIZES = (1024, _READ_SIZE, _READ_SIZE, 64)
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
# Whether a read keeps its descriptor: a file read on every tick (schedstat, a multi-threaded
# process's files) first; the files of a process read after it ran, while room is left for
# every process's schedstat; a new process's files not at all (most never run again soon).
_KEEP_FIRST, _KEEP_IF_ROOM, _NO_KEEP = 2, 1, 0
_MODE_MEMORY = 60  # sweeps a refused descriptor keeps the mode "partial"
_EVICT_EVERY = 16  # sweeps between passes closing the descriptors of long-idle processes
_IDLE_SWEEPS = 32  # ...idle for this many sweeps (only its schedstat stays open)


@dataclass(slots=True)
class _PidState:
    pid: int
    born: int  # the sweep that first saw it
    starttime: int = -1
    fds: list[int] = field(default_factory=lambda: [-1, -1, -1, -1])
    # The sample's keyword arguments and the texts they were parsed from: most processes are
    # idle, and comparing bytes is far cheaper than parsing them.
    fields: dict[str, Any] = field(default_factory=dict)  # empty until first read in full
    # The sample built from ``fields`` (None once they change): an idle process's next sample
    # is this same object (the sampler never changes a sample it got: model.copy_sample).
    sample: ProcessSample | None = None
    last_texts: tuple[bytes, bytes, bytes] | None = None
    last_sched: bytes | None = None
    # Known single-threaded with a usable schedstat: an unchanged schedstat is enough.
    single: bool = False
    active_at: int = 0  # the last sweep that read it in full
    main_switches: tuple[int, int] = (0, 0)  # the main thread's (voluntary, involuntary)
    threads: ThreadCounts | None = None
    # The command line, read once per process and again when its name changes (an exec).
    cmdline: str | None = None
    cmdline_of: str | None = None  # the name it was read for


@dataclass(slots=True)
class _Work:
    """After the sweep: a process whose threads need reading, and what its split needs."""

    state: _PidState
    sample: ProcessSample
    priority: int  # ThreadCounts.due
    io: bytes  # /proc/PID/io as last read
    rest: list[bytes]  # stat's fields after the name


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
        thread_reads_per_tick: int | None = None,
        thread_cpu_share: float | None = 0.5,
    ) -> None:
        if reason := probe(proc_root):
            raise SourceError(reason)
        self.proc_root = proc_root
        self.keep_fds = keep_fds
        self.thread_refresh_s = thread_refresh_s
        self.reuse_unchanged = reuse_unchanged  # off only to measure the worst case
        # None: thread_budget(processes). Set to bound per-thread reads to a fixed number.
        self.thread_reads_per_tick = thread_reads_per_tick
        # Per-thread reads of a tick stop once they cost this share of the sweep's own CPU time
        # (None: only the count bounds them; tests that count reads use that).
        self.thread_cpu_share = thread_cpu_share
        # schedstat needs CONFIG_SCHED_INFO; without it every file is read every tick.
        self._schedstat = reuse_unchanged and os.path.exists(f"{proc_root}/self/schedstat")
        self._ns_per_tick = 1e9 / os.sysconf("SC_CLK_TCK")
        self._pids: dict[str, _PidState] = {}  # by /proc entry name: no int() per entry
        self._users: dict[int, str | None] = {}
        self._memory_total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        self._cpu_count = os.cpu_count() or 1
        self._fds = fd_budget.shared()  # one RLIMIT_NOFILE per process, shared by sources
        self._refused = 0  # keeps refused in this sweep
        self._probes_kept = 0  # schedstat descriptors among the kept ones
        self._room = 0  # descriptors left for schedstat files not yet kept
        self._sweep = 0
        self._partial_at = -_MODE_MEMORY  # last sweep a schedstat descriptor was refused
        self._evicted_at = 0
        self._dead: set[int] = set()  # pids that exited or turned zombie in the last sweep
        self.thread_reads = 0  # per-thread status files read in the last tick
        self.thread_budget = 0  # ...and how many it was allowed
        self._waits = WaitSplitter()  # which voluntary switches were storage waits
        self._system = LinuxSystem(proc_root)  # CPU per core, memory, load: for the header

    # -- what the sweep is doing -----------------------------------------------------------

    @property
    def sweep_mode(self) -> str:
        """``kept-fds``: every process's per-tick read goes through a kept descriptor;
        ``kept-fds-partial``: the descriptor limit is below what this many processes need,
        some are opened per read; ``open-close``: no descriptors are kept."""
        if not self.keep_fds:
            return "open-close"
        if self._sweep - self._partial_at < _MODE_MEMORY:
            return "kept-fds-partial"
        return "kept-fds"

    def sweep_info(self) -> dict[str, Any]:
        fds = self._fds
        return {
            "sweep_mode": self.sweep_mode,
            "processes": len(self._pids),
            "descriptors_kept": fds.kept,
            "descriptor_budget": fds.limit if self.keep_fds else 0,
            "nofile_soft_limit": fds.soft,
            "nofile_hard_limit": fds.hard,
            "nofile_soft_limit_was": fds.raised_from,
            "thread_reads_last_tick": self.thread_reads,
            "thread_read_budget": self.thread_budget,
            "thread_cpu_share": self.thread_cpu_share,
        }

    # -- file access -----------------------------------------------------------------------

    def _read(self, entry: str, state: _PidState, which: int, keep: int) -> bytes:
        """Read one /proc/PID file, through a kept descriptor when possible; ``keep`` says
        whether a newly opened one is kept (_KEEP_FIRST, _KEEP_IF_ROOM, _NO_KEEP)."""
        fds = state.fds
        fd = fds[which]
        if fd >= 0:
            try:
                data = os.pread(fd, _SIZES[which], 0)
                if len(data) == _SIZES[which]:
                    data = os.pread(fd, _READ_SIZE, 0)
                return data
            except OSError as exc:
                self._close(state, which)
                raise _classify(exc) from None
        if fd == _REFUSED:
            raise _Denied
        path = f"{self.proc_root}/{entry}/{_FILES[which]}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise _classify(exc) from None
            # The rest of the process holds more descriptors than the reserve: give some back
            # and try once more.
            self._out_of_descriptors()
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.pread(fd, _READ_SIZE, 0)
        except OSError as exc:
            os.close(fd)
            raise _classify(exc) from None
        if not self.keep_fds or keep == _NO_KEEP:
            os.close(fd)
        elif self._fds.may_keep(0 if keep == _KEEP_FIRST else self._room):
            fds[which] = fd
            self._fds.kept += 1
            if which == _SCHED:
                self._probes_kept += 1
                self._room -= 1
        else:
            os.close(fd)
            self._refused += 1
            if which == _SCHED:
                self._partial_at = self._sweep
        return data

    def _out_of_descriptors(self) -> None:
        """EMFILE: lower the budget (or raise the limit) and give back the descriptors kept
        beyond it, the ones read least often first (all but schedstat, then schedstat)."""
        self._fds.out_of_descriptors()
        self._partial_at = self._sweep
        for which in (_STAT, _STATUS, _IO, _SCHED):
            for state in self._pids.values():
                if self._fds.kept <= self._fds.limit:
                    return
                self._close(state, which)

    def _close(self, state: _PidState, which: int) -> None:
        fd = state.fds[which]
        if fd >= 0:
            os.close(fd)
            self._fds.kept -= 1
            if which == _SCHED:
                self._probes_kept -= 1
        state.fds[which] = -1

    def _forget(self, entry: str) -> None:
        state = self._pids.pop(entry, None)
        if state is not None:
            for which in range(4):
                self._close(state, which)
            self._waits.forget(state.pid)

    def _evict(self, idle_sweeps: int) -> None:
        """Close stat, status and io of single-threaded processes that have not run for
        ``idle_sweeps`` sweeps: they are read again only when they run (schedstat stays)."""
        self._evicted_at = self._sweep
        oldest = self._sweep - idle_sweeps
        for state in self._pids.values():
            if state.single and state.active_at <= oldest:
                fds = state.fds
                if fds[_STAT] >= 0 or fds[_STATUS] >= 0 or fds[_IO] >= 0:
                    for which in (_STAT, _STATUS, _IO):
                        self._close(state, which)

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
        self._sweep += 1
        try:
            try:
                entries = os.listdir(self.proc_root)
            except OSError as exc:
                if exc.errno not in (errno.EMFILE, errno.ENFILE):
                    raise
                self._out_of_descriptors()
                entries = os.listdir(self.proc_root)
        except OSError as exc:
            raise SourceError(f"cannot list {self.proc_root}: {exc.strerror}") from exc
        self._refused = 0
        started = time.thread_time()
        now = time.monotonic()
        samples: list[ProcessSample] = []
        warnings: list[str] = []
        # Processes whose threads need reading after the sweep.
        work: list[_Work] = []
        # Children of these were re-parented: their ppid changed without them running.
        orphaned, self._dead = self._dead, set()
        self._room = max(0, len(entries) - self._probes_kept)
        get = self._pids.get
        append = samples.append
        pread = os.pread
        make = ProcessSample
        read_full = self._read_full
        for entry in entries:
            state = get(entry)
            sched = None
            if state is not None and state.single:
                # The hot path: an idle single-threaded process costs one pread.
                fd = state.fds[_SCHED]
                if fd >= 0:
                    try:
                        sched = pread(fd, 64, 0)
                    except OSError:
                        sched = None  # gone, or another process under the pid: read in full
                    else:
                        fields = state.fields
                        if sched == state.last_sched and not (
                            orphaned and fields["ppid"] in orphaned
                        ):
                            sample = state.sample  # _sample(), inlined in the hot loop
                            if sample is None:
                                sample = state.sample = make(**fields)
                            append(sample)
                            continue
            try:
                try:
                    sample = read_full(entry, state, sched, now, work, orphaned)
                except _Gone:
                    if state is None:
                        raise
                    # Its kept descriptors belong to an exited process; the pid may already
                    # be another's: look once more, afresh.
                    self._dead.add(state.pid)
                    self._forget(entry)
                    sample = read_full(entry, None, None, now, work, orphaned)
            except _Gone:
                self._forget(entry)
                continue
            except (OSError, ValueError, IndexError) as exc:
                # Anything else (an unexpected text, an I/O error): skip this process this
                # tick and say why; the loop goes on.
                self._forget(entry)
                warnings.append(f"procfs: pid {entry}: {exc}")
                continue
            if sample is not None:
                append(sample)
        if len(self._pids) != len(samples):  # some processes exited
            listed = set(entries)
            for entry in [e for e in self._pids if e not in listed]:
                self._dead.add(self._pids[entry].pid)
                self._forget(entry)
        self._read_threads(work, len(samples), now, time.thread_time() - started, warnings)
        if self._refused and self._sweep - self._evicted_at >= _EVICT_EVERY // 2:
            self._evict(2)  # short of descriptors: give back all but the busiest processes'
        elif self._sweep - self._evicted_at >= _EVICT_EVERY:
            self._evict(_IDLE_SWEEPS)
        return SourceReading(
            processes=samples,
            system={
                "memory_total_bytes": self._memory_total,
                "cpu_count": self._cpu_count,
                "sweep_mode": self.sweep_mode,
                **self._system.read(),
            },
            warnings=warnings,
        )

    def _read_full(
        self, entry: str, state: _PidState | None, sched: bytes | None, now: float,
        work: list[_Work], orphaned: set[int],
    ) -> ProcessSample | None:  # fmt: skip
        if state is None:
            if not entry.isdigit():
                return None
            state = self._pids[entry] = _PidState(pid=int(entry), born=self._sweep)
        fds = state.fds
        fields = state.fields
        if (
            sched is None
            and self._schedstat
            and fds[_SCHED] != _REFUSED
            and (not fields or state.single)
        ):
            # Read before stat: a run between the two reads then shows at the next tick.
            try:
                sched = self._read(entry, state, _SCHED, _KEEP_FIRST)
            except (_Denied, _Gone, OSError):
                # Reading stat says whether it is gone; if it is not, schedstat is not
                # readable for this process: it is read in full on every tick.
                fds[_SCHED] = _REFUSED
            if (
                state.single
                and sched is not None
                and sched == state.last_sched
                and not (orphaned and fields["ppid"] in orphaned)
            ):
                return self._sample(state)
        # A new process's files are not kept: most are not read in full again soon.
        keep = _NO_KEEP if not fields else _KEEP_IF_ROOM if state.single else _KEEP_FIRST
        try:
            stat = self._read(entry, state, _STAT, keep)
            if len(stat) == _READ_SIZE:  # not all of it: unknown shape, skip
                raise ValueError("stat longer than expected")
        except _Denied:
            raise _Gone from None  # stat is world-readable; denied means hidden (hidepid)
        restricted = False
        try:
            status = self._read(entry, state, _STATUS, keep)
        except _Denied:
            status = b""
            restricted = True
        io = b""
        if fds[_IO] != _REFUSED:
            try:
                io = self._read(entry, state, _IO, keep)
            except _Denied:
                fds[_IO] = _REFUSED
        if fds[_IO] == _REFUSED:
            restricted = True
        texts = (stat, status, io)
        rest: list[bytes] | None = None  # stat's fields after the name, when parsed
        if not fields or not self.reuse_unchanged or texts != state.last_texts:
            fields, rest = self._parse(state, texts, restricted)
            if state.starttime not in (-1, fields["start_id"]):
                self._forget(entry)  # pid reused: start afresh with new descriptors
                return self._read_full(entry, None, None, now, work, orphaned)
            state.starttime = fields["start_id"]
            if state.cmdline_of != fields["name"]:
                # Once per process, and again after an exec (same pid and start, a new name).
                state.cmdline_of = fields["name"]
                state.cmdline = read_cmdline(f"{self.proc_root}/{entry}/cmdline")
            fields["cmdline"] = state.cmdline
            state.fields = fields
            state.sample = None
            if fields["state"] == "zombie":
                self._dead.add(state.pid)  # its children are re-parented now
                orphaned.add(state.pid)
        state.last_sched = sched
        state.active_at = self._sweep
        threads = fields["threads"]
        # Single-threaded: schedstat decides from the next tick on (read first then, even if
        # it was not read this time). Its texts are not kept: it is read in full only after it
        # ran, when they have changed anyway (and 10 000 status texts are 15 MB).
        state.single = threads == 1 and self._schedstat and fds[_SCHED] != _REFUSED
        state.last_texts = None if state.single else texts
        if threads != 1 and fds[_SCHED] >= 0:
            self._close(state, _SCHED)  # the main thread's schedstat says nothing here
        priority = 0
        counts = state.threads
        if threads > 1 and fields["ctx_switches"] is not None:
            if counts is None:
                # Seen before with one thread: the others are new since, and count from their
                # start (at first sight, from their count when first read).
                counts = state.threads = ThreadCounts(listed=state.born != self._sweep)
            priority = counts.due(fields["cpu_ns"] or 0, now, self.thread_refresh_s)
        elif counts is not None and counts.order is not None:
            counts.order = None  # down to one thread: no pass to finish
        if priority:
            # Its wait split waits for the threads' switches (after the sweep): a worker
            # thread's synced writes are storage waits, not wakeups.
            if rest is None:
                rest = stat[stat.rindex(b")") + 2 :].split()
            # A sample of its own: _read_threads fills in its switches after the sweep.
            state.sample = None
            sample = ProcessSample(**fields)
            work.append(_Work(state, sample, priority, io, rest))
            return sample
        if rest is not None:  # new texts: new counts to split
            self._split(state, io, rest)
        return self._sample(state)

    @staticmethod
    def _sample(state: _PidState) -> ProcessSample:
        """The sample of ``state.fields``, built once for as long as they stay the same."""
        sample = state.sample
        if sample is None:
            sample = state.sample = ProcessSample(**state.fields)
        return sample

    def _parse(
        self, state: _PidState, texts: tuple[bytes, bytes, bytes], restricted: bool
    ) -> tuple[dict[str, Any], list[bytes]]:
        """A ProcessSample's keyword arguments from the three texts (wakeups and storage
        operations still unknown: ``_split`` sets them), and stat's fields after the name."""
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
        ctx = None
        if vol is not None:
            if state.starttime not in (-1, starttime):
                state.threads = None  # a reused pid: counts start afresh
            state.main_switches = (vol, invol or 0)
            ctx = self._switches(state)[1]
        letter = rest[0].decode()
        ns_per_tick = self._ns_per_tick
        return {
            "pid": state.pid,
            "start_id": starttime,
            "name": stat[stat.index(b"(") + 1 : close_at].decode("utf-8", "replace"),
            "ppid": int(rest[1]),
            "uid": uid,
            "user": self._user(uid),
            "state": _STATES.get(letter, letter),
            "restricted": restricted,
            "memory_bytes": memory,
            "threads": int(rest[17]),
            "cpu_ns": int((int(rest[11]) + int(rest[12])) * ns_per_tick),
            "child_cpu_ns": int((int(rest[13]) + int(rest[14])) * ns_per_tick),
            "disk_read_bytes": read_bytes,
            "disk_write_bytes": write_bytes,
            "pageins": int(rest[9]),
            "wakeups": None,
            "ctx_switches": ctx,
            "disk_read_ops": None,
            "disk_write_ops": None,
            "cmdline": state.cmdline,
        }, rest

    @staticmethod
    def _switches(state: _PidState) -> tuple[int, int]:
        """(voluntary, all) context switches: the main thread's counts plus the other
        threads' credited so far (both only grow, so the sums do too)."""
        vol, invol = state.main_switches
        other = state.threads
        if other is not None:
            vol += other.voluntary
            invol += other.involuntary
        return vol, vol + invol

    def _split(self, state: _PidState, io: bytes, rest: list[bytes]) -> None:
        """Set ``state.fields``' wakeups, context switches and storage operations from the
        switches counted so far (lagwatch.sources.io_waits)."""
        f = state.fields
        state.sample = None
        voluntary: int | None = None
        if f["ctx_switches"] is not None:  # status was readable
            voluntary, f["ctx_switches"] = self._switches(state)
        f["wakeups"], f["disk_read_ops"], f["disk_write_ops"] = self._waits.split(
            state.pid, state.starttime, voluntary, io, rest, f["threads"],
            f["disk_read_bytes"], f["disk_write_bytes"],
        )  # fmt: skip

    def _read_threads(
        self, work: list[_Work], processes: int, now: float, sweep_cpu_s: float,
        warnings: list[str],
    ) -> None:  # fmt: skip
        """Per-thread reads for the processes that need them, within the tick's budget: the
        ones that used CPU first, then refreshes; fair shares within each group. Then every
        one of them, read or not, has its switches split."""
        budget = self.thread_reads_per_tick
        if budget is None:
            budget = thread_budget(processes)
        self.thread_budget = budget
        stop = None
        if self.thread_cpu_share is not None:
            deadline = time.thread_time() + self.thread_cpu_share * sweep_cpu_s

            def stop() -> bool:
                return time.thread_time() > deadline

        reads = 0
        for priority in (2, 1):
            group = [w for w in work if w.priority == priority]
            if not group:
                continue
            wants = [max(0, (w.sample.threads or 1) - 1) for w in group]
            for w, quota in zip(group, share(wants, budget - reads), strict=True):
                if stop is not None and reads >= MIN_THREAD_READS and stop():
                    break
                state = w.state
                counts = state.threads
                assert counts is not None
                if quota > 0:
                    self._reread(w)
                reads += counts.read(
                    f"{self.proc_root}/{state.pid}/task", str(state.pid), quota, now,
                    fresh=state.born == self._sweep > 1, stop=stop,
                )  # fmt: skip
        self.thread_reads = reads
        for w in work:
            state, sample, f = w.state, w.sample, w.state.fields
            try:
                self._split(state, w.io, w.rest)
            except (ValueError, IndexError) as exc:  # an unexpected io text: unknown, said
                warnings.append(f"procfs: pid {state.pid}: {exc}")
                f["wakeups"] = f["disk_read_ops"] = f["disk_write_ops"] = None
            sample.wakeups, sample.ctx_switches = f["wakeups"], f["ctx_switches"]
            sample.disk_read_ops, sample.disk_write_ops = f["disk_read_ops"], f["disk_write_ops"]
            sample.disk_read_bytes = f["disk_read_bytes"]
            sample.disk_write_bytes = f["disk_write_bytes"]
            state.sample = sample  # what ``fields`` say now

    def _reread(self, w: _Work) -> None:
        """The main thread's switches and the storage counters again, just before the other
        threads' are read: the split compares switches with the operations that caused them,
        and a busy process does many more between the sweep and its thread reads."""
        state = w.state
        entry = str(state.pid)
        try:
            status = self._read(entry, state, _STATUS, _KEEP_FIRST)
            vol, invol = _status_tuple(status)[3:]
            io = b""
            if state.fds[_IO] != _REFUSED and w.io:
                io = self._read(entry, state, _IO, _KEEP_FIRST)
                read_bytes, write_bytes = parse_io(io)
        except (_Gone, _Denied, OSError, ValueError, IndexError):
            return  # gone or changed meanwhile: the sweep's texts stand
        f = state.fields
        state.sample = None
        if vol is not None and f["ctx_switches"] is not None:
            state.main_switches = (vol, invol or 0)
        if io:
            w.io = io
            f["disk_read_bytes"], f["disk_write_bytes"] = read_bytes, write_bytes
        # state.last_texts stay the sweep's: the next tick parses whatever changed since.

    def close(self) -> None:
        for entry in list(self._pids):
            self._forget(entry)


def describe_sweep(source: str, info: dict[str, Any]) -> str:
    """One line for `lagwatch sources`: how the sweep reads processes here."""
    mode = info["sweep_mode"]
    how = {
        "kept-fds": "descriptors kept open across ticks",
        "kept-fds-partial": "descriptors kept for as many processes as the limit allows, "
        "the others opened per read",
        "open-close": "every file opened and closed per read",
    }.get(mode, mode)
    limits = f"RLIMIT_NOFILE {info['nofile_soft_limit']} (hard {info['nofile_hard_limit']})"
    if info.get("nofile_soft_limit_was") is not None:
        limits += f", raised from {info['nofile_soft_limit_was']}"
    return (
        f"{source} sweep: {mode}: {how}; {info['descriptors_kept']} kept of a budget of "
        f"{info['descriptor_budget']}, {limits}; {info['thread_reads_last_tick']} per-thread "
        f"reads last tick (at most {info['thread_read_budget']}"
        + (
            f", or {info['thread_cpu_share']:.0%} of the sweep's CPU time)."
            if info.get("thread_cpu_share") is not None
            else ")."
        )
    )


def boot_time_s() -> float:
    """Wall-clock time of boot (for start times in seconds)."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
