"""Context switches summed over all of a process's threads, at a bounded cost per tick.

/proc/PID/status counts the main thread only; the others are in /proc/PID/task/TID/status,
one open per thread. Reading every thread of every busy process each tick makes a tick's cost
grow with threads (one process with 20 000 threads would cost more than 10 000 processes), so:

- threads are read only when the process's own counters say something happened (its CPU time
  moved), or every ``refresh_s`` to catch threads that switch without using measurable CPU;
- a tick reads at most a budget of thread files, which grows with the number of processes, not
  threads (``thread_budget``), shared fairly between the processes that need reads, and stops
  early once they have cost a share of what the sweep of every process cost (a thread's status
  costs several times a process's idle check, more in a process with thousands of threads);
- a process with more threads than its share is read in passes over its threads: the threads
  whose counts moved at their last read ("hot") first, then the next ones in turn.

Counts are never lost or invented: a thread's switches are credited, as a delta since its
previous read, when it is read. A thread seen for the first time in a process already being
tracked counts from its start (it is new); threads already there when lagwatch first saw the
process start from their count at their first read. Switches of threads that exit between two
reads of them are lost (the kernel folds them into counts /proc does not show).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

_READ_SIZE = 8192
_VOL = b"\nvoluntary_ctxt_switches:"
_INVOL = b"\nnonvoluntary_ctxt_switches:"

# Thread-file reads allowed per tick: at least this many, or this share of the process count.
MIN_THREAD_READS = 32
THREAD_READS_PER_PROCESS = 0.25
CHECK_EVERY = 16  # reads between looks at the clock when a tick's CPU share is capped


def thread_budget(processes: int) -> int:
    return max(MIN_THREAD_READS, int(processes * THREAD_READS_PER_PROCESS))


def switches(data: bytes) -> tuple[int, int] | None:
    """(voluntary, involuntary) context switches from a status text."""
    i = data.find(_VOL)
    if i < 0:
        return None
    i += len(_VOL)
    j = data.find(b"\n", i)
    if j < 0:
        return int(data[i:]), 0
    k = data.find(_INVOL, j)
    if k < 0:
        return int(data[i:j]), 0
    k += len(_INVOL)
    end = data.find(b"\n", k)
    return int(data[i:j]), int(data[k : end if end >= 0 else len(data)])


@dataclass(slots=True)
class ThreadCounts:
    """Per-process state: what each thread other than the main one counted when last read."""

    voluntary: int = 0  # switches of the other threads, credited so far
    involuntary: int = 0
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    hot: dict[str, None] = field(default_factory=dict)  # insertion-ordered set, oldest first
    order: list[str] | None = None  # the current pass's threads (None: list at the next read)
    cursor: int = 0
    listed: bool = False  # a listing was taken before (new threads since then count in full)
    pass_done_at: float = float("-inf")
    last_cpu: int = -1  # the process's CPU time at the last tick
    hot_read_at: float = float("nan")  # the tick whose reads began with the hot threads

    def due(self, cpu: int, now: float, refresh_s: float) -> int:
        """0: no reads needed; 2: the process used CPU since the last tick; 1: a pass is under
        way or a refresh is due."""
        moved = cpu != self.last_cpu
        self.last_cpu = cpu
        if moved:
            return 2
        if self.order is not None or now - self.pass_done_at >= refresh_s:
            return 1
        return 0

    def read(
        self, task_dir: str, leader: str, quota: int, now: float, fresh: bool,
        stop: Callable[[], bool] | None = None,
    ) -> int:  # fmt: skip
        """Read up to ``quota`` thread files, fewer if ``stop()`` says so (asked every
        CHECK_EVERY reads); return how many were read. ``fresh``: the process appeared in this
        tick, so all of its threads' counts are new."""
        if quota <= 0:
            return 0
        if self.order is None:
            try:
                tids = os.listdir(task_dir)
            except OSError:
                return 0
            tids = [t for t in tids if t != leader]
            counts = self.counts
            if self.listed:  # threads created since the last listing count from their start
                self.counts = {t: counts.get(t, (0, 0)) for t in tids}
            else:
                # The first listing: threads read now, in the tick the process appeared, count
                # from their start; the others start from their count at their first read.
                self.counts = {t: (0, 0) for t in tids[:quota]} if fresh else {}
            self.hot = {t: None for t in self.hot if t in self.counts}
            self.order, self.cursor, self.listed = tids, 0, True
        order = self.order
        batch: list[str] = []
        cursor = self.cursor
        marks: list[int] = []  # the pass's position after each entry of the batch
        if len(order) > quota and self.hot and self.hot_read_at != now:
            # More threads than reads: the ones that moved last time first (up to half).
            self.hot_read_at = now
            for tid in self.hot:
                if len(batch) >= quota // 2:
                    break
                batch.append(tid)
                marks.append(cursor)
        taken = set(batch)
        while len(batch) < quota and cursor < len(order):
            tid = order[cursor]
            cursor += 1
            if tid not in taken:
                batch.append(tid)
                marks.append(cursor)
        done = self._credit(task_dir, batch, stop)
        if done:
            self.cursor = marks[done - 1]
        if self.cursor >= len(order):
            self.order = None
            self.pass_done_at = now
        return done

    def _credit(self, task_dir: str, tids: list[str], stop: Callable[[], bool] | None) -> int:
        counts, hot = self.counts, self.hot
        flags = os.O_RDONLY | os.O_CLOEXEC
        for n, tid in enumerate(tids):
            if stop is not None and n and n % CHECK_EVERY == 0 and stop():
                return n
            try:
                fd = os.open(f"{task_dir}/{tid}/status", flags)
                try:
                    data = os.read(fd, _READ_SIZE)
                finally:
                    os.close(fd)
                vi = switches(data)
            except (OSError, ValueError):
                vi = None
            if vi is None:  # the thread exited meanwhile
                counts.pop(tid, None)
                hot.pop(tid, None)
                continue
            v, i = vi
            old = counts.get(tid)
            moved = False
            if old is not None:
                old_v, old_i = old
                if v < old_v or i < old_i:  # a new thread under a reused id
                    old_v = old_i = 0
                dv, di = v - old_v, i - old_i
                self.voluntary += dv
                self.involuntary += di
                moved = dv > 0 or di > 0
            counts[tid] = vi
            hot.pop(tid, None)
            if moved:
                hot[tid] = None  # to the end: the hot threads are read in turn
        return len(tids)


def share(wants: list[int], budget: int) -> list[int]:
    """Split ``budget`` reads between requests of ``wants`` reads each, fairly: every request
    gets what it wants or an equal share of what is left, whichever is less (water-filling)."""
    quotas = [0] * len(wants)
    left = budget
    pending = sorted(range(len(wants)), key=wants.__getitem__)
    for n, idx in enumerate(pending):
        q = min(wants[idx], left // (len(pending) - n))
        quotas[idx] = q
        left -= q
    return quotas
