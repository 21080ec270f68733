"""Wakeups mean wakeups on Linux: storage waits are told apart from timer wakeups, and disk
scoring sees operations. Unit tests on counters, then real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import need
from lagwatch import scoring
from lagwatch.model import ProcessRow
from lagwatch.sources import io_waits
from lagwatch.ticker import open_ticker

IO = b"rchar: 10\nwchar: 20\nsyscr: %d\nsyscw: %d\nread_bytes: 0\nwrite_bytes: 0\n"


def _split(s: io_waits.WaitSplitter, vol: int, syscr: int, syscw: int, rb: int, wb: int,
           blkio: int = 0, threads: int = 1, start: int = 5):  # fmt: skip
    rest = [b"S"] + [b"0"] * 38 + [str(blkio).encode()] + [b"0"] * 10
    return s.split(1, start, vol, IO % (syscr, syscw), rest, threads, rb, wb)


def test_parse_io_calls():
    assert io_waits.parse_io_calls(IO % (7, 9)) == (7, 9)
    assert io_waits.parse_io_calls(b"read_bytes: 1\n") == (None, None)


def test_storage_operations_are_calls_that_moved_pages():
    assert io_waits.storage_ops(calls=1000, nbytes=4096 * 1000) == 1000  # tiny synced writes
    assert io_waits.storage_ops(calls=10, nbytes=10 * 1 << 20) == 10  # big sequential writes
    assert io_waits.storage_ops(calls=50_000, nbytes=8192) == 2  # socket writes, a log line
    assert io_waits.storage_ops(calls=500, nbytes=0) == 0  # pipes and sockets only


def test_sync_writes_are_storage_waits_not_wakeups():
    s = io_waits.WaitSplitter(delayacct=False)
    assert _split(s, vol=0, syscr=0, syscw=0, rb=0, wb=0) == (0, 0, 0)
    # 1000 write+fsync: 2000 voluntary switches, 1000 write calls, 1000 pages dirtied.
    wakeups, reads, writes = _split(s, vol=2000, syscr=0, syscw=1000, rb=0, wb=4096 * 1000)
    assert (wakeups, reads, writes) == (0, 0, 1000)
    # Then a timer storm in the same process: no storage, every switch is a wakeup.
    assert _split(s, vol=22000, syscr=0, syscw=1000, rb=0, wb=4096 * 1000)[0] == 20000


def test_a_timer_storm_stays_wakeups():
    s = io_waits.WaitSplitter(delayacct=False)
    assert _split(s, vol=20000, syscr=3, syscw=5, rb=0, wb=0) == (20000, 0, 0)


def test_delay_accounting_clears_a_process_that_never_waited_for_storage():
    s = io_waits.WaitSplitter(delayacct=True)
    _split(s, vol=0, syscr=0, syscw=0, rb=0, wb=0, blkio=3)
    # Buffered writes (pages dirtied) and 500 socket waits, but no block I/O wait at all.
    wakeups, _, writes = _split(s, vol=500, syscr=0, syscw=200, rb=0, wb=4096 * 200, blkio=3)
    assert (wakeups, writes) == (500, 200)
    # Multi-threaded: field 42 is the main thread's only, so it decides nothing.
    wakeups, _, _ = _split(s, vol=900, syscr=0, syscw=400, rb=0, wb=4096 * 400, threads=4,
                           blkio=3)  # fmt: skip
    assert wakeups == 500


def test_unreadable_io_keeps_every_switch_and_no_operations():
    s = io_waits.WaitSplitter(delayacct=False)
    assert s.split(1, 5, 300, b"", [b"S"], 1, None, None) == (300, None, None)
    assert s.split(1, 5, None, b"", [b"S"], 1, None, None) == (None, None, None)


def test_pid_reuse_starts_afresh():
    s = io_waits.WaitSplitter(delayacct=False)
    _split(s, vol=100, syscr=0, syscw=0, rb=0, wb=0)
    assert _split(s, vol=40, syscr=0, syscw=0, rb=0, wb=0, start=6) == (40, 0, 0)


def test_disk_subscore_sees_operations():
    row = ProcessRow(1, 0, "db", "u", "S", False, 10 << 20, 1, cpu_percent=3.0,
                     disk_write_bytes_per_s=4e6, disk_read_bytes_per_s=0.0,
                     disk_write_ops_per_s=1000.0, disk_read_ops_per_s=0.0,
                     wakeups_per_s=50.0)  # fmt: skip
    by_bytes = scoring.BANDS["disk"].score(4e6)
    scoring.score_row(row, {"memory_total_bytes": 8 << 30})
    assert row.subscores["disk"] > by_bytes + 20
    assert row.dominant == "disk"


# -- real processes ----------------------------------------------------------------------

FSYNC_LOOP = textwrap.dedent(
    """
    import os, sys
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    while True:
        os.pwrite(fd, b"x" * 512, 0)
        os.fsync(fd)
    """
)


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_sync_writer_is_blamed_on_disk_and_timer_storm_on_wakeups(tmp_path):
    stress = need("stress-ng")
    writer = subprocess.Popen([sys.executable, "-c", FSYNC_LOOP, str(tmp_path / "f")])
    timer = subprocess.Popen(
        [stress, "--timer", "1", "--timer-freq", "20000", "--quiet", "-t", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its worker goes with it (killpg below)
    )
    ticker, _ = open_ticker(["procfs"])
    verdicts: list[tuple[str | None, str | None, bool, bool]] = []
    try:
        for ranking in ticker.rankings(0.7):
            if len(verdicts) >= 3:
                break
            rows = ranking.processes
            mine = next(r for r in rows if r.pid == writer.pid)
            # stress-ng forks its timer worker: the child of our stress-ng process.
            worker = next((r for r in rows if r.ppid == timer.pid), None)
            if worker is None:
                continue
            # Each ranks first among the processes blamed on the same resource.
            first_disk = next((r for r in rows if r.dominant == "disk"), None)
            first_wake = next((r for r in rows if r.dominant == "wakeups"), None)
            verdicts.append(
                (mine.dominant, worker.dominant, first_disk is mine, first_wake is worker)
            )
    finally:
        ticker.close()
        os.killpg(timer.pid, signal.SIGKILL)
        for p in (writer, timer):
            p.kill()
            p.wait()
    good = [v for v in verdicts if v == ("disk", "wakeups", True, True)]
    assert len(good) >= 2, verdicts
    assert os.path.exists(tmp_path / "f")


FSYNC_THREAD = textwrap.dedent(
    """
    import os, sys, threading
    def loop():
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        while True:
            os.pwrite(fd, b"x" * 512, 0)
            os.fsync(fd)
    t = threading.Thread(target=loop)
    t.start()
    t.join()  # the main thread only waits: the syncs are the worker thread's
    """
)


@pytest.mark.integration
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_a_worker_threads_synced_writes_are_storage_waits_not_wakeups(tmp_path):
    from lagwatch.sources.procfs import ProcfsSource

    writer = subprocess.Popen([sys.executable, "-c", FSYNC_THREAD, str(tmp_path / "f")])
    # Every thread file read each tick: the deltas below cover one and the same interval.
    src = ProcfsSource(thread_refresh_s=0, thread_cpu_share=None)
    try:
        samples: list = []
        deadline = time.monotonic() + 60
        # Until its syncs add up (slow on a busy disk), from the second reading with both
        # threads on (the first one credits no thread yet).
        while len(samples) < 3 or samples[-1].disk_write_ops - samples[1].disk_write_ops < 20:
            assert time.monotonic() < deadline, samples[-1:]
            found = [s for s in src.read().processes if s.pid == writer.pid]
            if found and found[0].threads == 2:
                samples.append(found[0])
        first, last = samples[1], samples[-1]
        ops = last.disk_write_ops - first.disk_write_ops
        voluntary_switches = last.ctx_switches - first.ctx_switches  # (few involuntary)
        wakeups = last.wakeups - first.wakeups
        assert ops >= 20, (ops, voluntary_switches, wakeups)
        # The worker's switches are counted (it is where they happen) and split: most of them
        # were waits for its syncs, not wakeups.
        assert voluntary_switches >= ops
        assert wakeups <= voluntary_switches / 2, (ops, voluntary_switches, wakeups)
    finally:
        src.close()
        writer.kill()
        writer.wait()
