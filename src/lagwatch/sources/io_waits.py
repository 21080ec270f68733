"""Linux: storage operations per process, and which voluntary switches were waits for storage.

Linux counts how often a process gave up the CPU of its own accord (voluntary context switches)
but not why: a timer that fires 20 000 times a second and a write+fsync loop look the same
there, while a person blames the first on wakeups and the second on the disk. What the kernel
offers per process, and who may read it (docs/metrics.md, "Wakeups on Linux"):

- /proc/PID/io ``syscr``/``syscw`` (read and write calls, any file) and ``read_bytes``/
  ``write_bytes`` (bytes that really went to or will go to storage): the owner and root;
- /proc/PID/stat field 42 ``delayacct_blkio_ticks`` (time spent waiting for block I/O, main
  thread only): anyone, but 0 unless delay accounting is on (``kernel.task_delayacct=1``, which
  only root can set; off by default since Linux 5.14);
- /proc/PID/sched ``iowait_count``: only with CONFIG_SCHEDSTATS and ``kernel.sched_schedstats=1``
  (root); the taskstats netlink family's ``blkio_count``: CAP_NET_ADMIN and delay accounting.

So, from what procfs already reads:

- storage operations in an interval = the read (write) calls, at most one per 4 KiB page that
  went to (was dirtied for) storage: ``min(Δsyscr, ⌈Δread_bytes/4096⌉)``. Calls on pipes,
  sockets and terminals move no storage bytes and do not count; a large sequential read counts
  once per call, not once per page.
- waits for storage = at most ``IO_WAITS_PER_OP`` voluntary switches per storage operation (a
  synced write waits for its data, then for the journal commit or device flush that makes it
  durable: two, measured on ext4); wakeups = the other voluntary switches. Where delay
  accounting is on and a single-threaded process spent no time waiting for block I/O in the
  interval, none of its switches are counted as storage waits.

Another user's process (no /proc/PID/io without root) keeps all its voluntary switches as
wakeups (an upper bound) and its operations are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

IO_WAITS_PER_OP = 2
PAGE_BYTES = 4096
DELAYACCT_SYSCTL = "/proc/sys/kernel/task_delayacct"
_BLKIO_FIELD = 39  # /proc/PID/stat field 42, counted from the state (field 3)


def parse_io_calls(data: bytes) -> tuple[int | None, int | None]:
    """(syscr, syscw) from /proc/PID/io."""
    i = data.find(b"syscr:")
    j = data.find(b"\nsyscw:", i)
    if i < 0 or j < 0:
        return None, None
    end = data.find(b"\n", j + 7)
    return int(data[i + 6 : j]), int(data[j + 7 : end if end >= 0 else len(data)])


def storage_ops(calls: int, nbytes: int) -> int:
    """Calls that moved storage bytes, at most one per page moved."""
    return min(calls, -(-nbytes // PAGE_BYTES))


def delayacct_on(path: str = DELAYACCT_SYSCTL) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(8).strip() == b"1"
    except OSError:
        return False  # kernels before 5.14 have no switch (and account when built to)


@dataclass(slots=True)
class _Last:
    starttime: int
    voluntary: int = 0
    syscr: int = 0
    syscw: int = 0
    read_bytes: int = 0
    write_bytes: int = 0
    blkio_ticks: int = 0
    wakeups: int = 0
    read_ops: int = 0
    write_ops: int = 0


def _delta(cur: int, prev: int) -> int:
    return cur - prev if cur >= prev else cur  # a counter that went back restarted


class WaitSplitter:
    """Keeps per process the counters of its last reading and cumulative wakeups and storage
    operations (what ``split`` returns), so rates derive from them as from any counter."""

    def __init__(self, delayacct: bool | None = None) -> None:
        self.delayacct = delayacct_on() if delayacct is None else delayacct
        self._last: dict[int, _Last] = {}

    def forget(self, pid: int) -> None:
        self._last.pop(pid, None)

    def split(
        self,
        pid: int,
        starttime: int,
        voluntary: int | None,
        io: bytes,
        stat_rest: list[bytes],
        threads: int,
        read_bytes: int | None,
        write_bytes: int | None,
    ) -> tuple[int | None, int | None, int | None]:
        """(wakeups, disk_read_ops, disk_write_ops), cumulative, for one reading of ``pid``:
        ``voluntary`` switches over all threads, the /proc/PID/io text (empty when refused),
        /proc/PID/stat's fields after the name, and the storage bytes procfs parsed."""
        last = self._last.get(pid)
        if last is None or last.starttime != starttime:
            last = self._last[pid] = _Last(starttime)  # new process: counters from zero
        syscr, syscw = parse_io_calls(io) if io else (None, None)
        if voluntary is not None:
            d_vol = _delta(voluntary, last.voluntary)
            last.voluntary = voluntary
        else:
            d_vol = 0
        if syscr is None or syscw is None or read_bytes is None or write_bytes is None:
            last.wakeups += d_vol
            return (None if voluntary is None else last.wakeups), None, None
        read_ops = storage_ops(_delta(syscr, last.syscr), _delta(read_bytes, last.read_bytes))
        write_ops = storage_ops(_delta(syscw, last.syscw), _delta(write_bytes, last.write_bytes))
        last.syscr, last.syscw = syscr, syscw
        last.read_bytes, last.write_bytes = read_bytes, write_bytes
        waits = min(d_vol, IO_WAITS_PER_OP * (read_ops + write_ops))
        if self.delayacct and threads == 1 and len(stat_rest) > _BLKIO_FIELD:
            blkio = int(stat_rest[_BLKIO_FIELD])
            if blkio == last.blkio_ticks:
                waits = 0  # it never waited for block I/O: its switches were wakeups
            last.blkio_ticks = blkio
        last.wakeups += d_vol - waits
        last.read_ops += read_ops
        last.write_ops += write_ops
        return (None if voluntary is None else last.wakeups), last.read_ops, last.write_ops
