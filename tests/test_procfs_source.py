"""The procfs source on a fake /proc tree and on real processes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lagwatch.sources import procfs
from lagwatch.sources.procfs import ProcfsSource

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def write_proc(
    root: Path, pid: int, *, start: int = 100, utime: int = 10, name: str = "app",
    threads: int = 1, vol: int = 5, io: bool = True, flags: int = 0,
) -> None:  # fmt: skip
    d = root / str(pid)
    d.mkdir(parents=True, exist_ok=True)
    (d / "stat").write_text(
        f"{pid} ({name}) S 1 {pid} {pid} 0 -1 {flags} 0 0 3 0 {utime} 0 0 0 20 0 {threads} 0 "
        f"{start} 0 0 0\n"
    )
    (d / "status").write_text(
        f"Name:\t{name}\nUid:\t0\t0\t0\t0\nRssAnon:\t1024 kB\nVmSwap:\t0 kB\n"
        f"voluntary_ctxt_switches:\t{vol}\nnonvoluntary_ctxt_switches:\t1\n"
    )
    if io:
        (d / "io").write_text("rchar: 1\nwchar: 1\nread_bytes: 4096\nwrite_bytes: 0\n")


def fake_root(tmp_path: Path) -> Path:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "stat").write_text("1 (x) S 0\n")
    return tmp_path


def test_reads_every_process_with_units(tmp_path):
    root = fake_root(tmp_path)
    write_proc(root, 10, utime=250)
    write_proc(root, 11, name="kworker/0:1", flags=0x00200000)
    src = ProcfsSource(str(root), keep_fds=False)
    samples = {s.pid: s for s in src.read().processes}
    assert set(samples) == {10, 11}
    app = samples[10]
    assert app.cpu_ns == 250 * 1e9 / os.sysconf("SC_CLK_TCK")
    assert app.memory_bytes == 1024 * 1024
    assert (app.disk_read_bytes, app.disk_write_bytes, app.pageins) == (4096, 0, 3)
    assert (app.wakeups, app.ctx_switches, app.user, app.state) == (5, 6, "root", "sleeping")
    assert samples[11].memory_bytes == 0  # kernel thread: no user memory, truly zero


def test_pid_reuse_gives_a_new_identity(tmp_path):
    root = fake_root(tmp_path)
    write_proc(root, 10, start=100)
    src = ProcfsSource(str(root))
    first = src.read().processes[0]
    write_proc(root, 10, start=200, vol=1)  # same pid, another process
    second = src.read().processes[0]
    assert first.identity != second.identity
    # The new process's switches are its own, not added to the old one's.
    assert second.wakeups == 1


def test_vanished_between_listing_and_reading_is_skipped(tmp_path):
    root = fake_root(tmp_path)
    write_proc(root, 10)
    (root / "11").mkdir()  # listed, but its files are already gone
    samples = ProcfsSource(str(root)).read().processes
    assert [s.pid for s in samples] == [10]


def test_refused_io_marks_restricted_and_leaves_disk_unknown(tmp_path, monkeypatch):
    root = fake_root(tmp_path)
    write_proc(root, 10)
    real_open = os.open

    def deny_io(path, flags, *a):
        if str(path).endswith("/io"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *a)

    monkeypatch.setattr(procfs.os, "open", deny_io)
    sample = ProcfsSource(str(root)).read().processes[0]
    assert sample.restricted is True
    assert sample.disk_read_bytes is None and sample.disk_write_bytes is None
    assert sample.cpu_ns is not None  # what could be read still is


@pytest.mark.integration
def test_kept_descriptors_follow_a_real_process_and_drop_it_when_it_exits(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)  # fmt: skip
    # The real files of this one process: how many others run here (and so how many
    # descriptors the source may keep before it falls back to open-read-close) cannot matter.
    (tmp_path / "self").symlink_to("/proc/self")
    (tmp_path / str(child.pid)).symlink_to(f"/proc/{child.pid}")
    src = ProcfsSource(str(tmp_path))
    try:
        reading = src.read()
        first = {s.pid: s for s in reading.processes}
        assert child.pid in first, reading.warnings
        # A descriptor is kept across ticks.
        assert max(src._pids[str(child.pid)].fds) >= 0, (src.keep_fds, reading.warnings)
        again = {s.pid: s for s in src.read().processes}
        assert again[child.pid].identity == first[child.pid].identity
    finally:
        child.communicate(b"")
    after = {s.pid: s for s in src.read().processes}
    assert child.pid not in after
    assert str(child.pid) not in src._pids  # its descriptors were closed
    assert child.pid not in src._waits._last  # and its wait split's counters let go
    src.close()


@pytest.mark.integration
def test_context_switches_are_summed_over_threads():
    code = (
        "import threading, time, sys\n"
        "def spin():\n"
        "    for _ in range(2000): time.sleep(0.0001)\n"
        "t = [threading.Thread(target=spin) for _ in range(3)]\n"
        "[x.start() for x in t]; [x.join() for x in t]\n"
        "sys.stdout.write('done\\n'); sys.stdout.flush(); sys.stdin.read()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)  # fmt: skip
    src = ProcfsSource()
    try:
        src.read()  # remembers the (single-threaded) start
        assert child.stdout.readline() == b"done\n"
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "S":
            pass  # until it blocks on stdin: its count is final then
        # Threads have exited: their switches went with them from /proc, but the source read
        # them while they lived only if it read in between. What it must never do is lose the
        # main thread's count or go backwards.
        sample = {s.pid: s for s in src.read().processes}[child.pid]
        leader = procfs.parse_status(Path(f"/proc/{child.pid}/status").read_bytes())
        assert sample.wakeups >= leader.voluntary
    finally:
        child.communicate(b"")
    src.close()


@pytest.mark.integration
def test_threads_counts_include_worker_threads():
    code = (
        "import threading, time, sys\n"
        "stop = threading.Event()\n"
        "def spin():\n"
        "    while not stop.is_set(): time.sleep(0.0002)\n"
        "t = [threading.Thread(target=spin) for _ in range(2)]\n"
        "[x.start() for x in t]\n"
        "sys.stdout.write('go\\n'); sys.stdout.flush(); sys.stdin.readline(); stop.set()\n"
        "[x.join() for x in t]\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)  # fmt: skip
    src = ProcfsSource(thread_refresh_s=0)  # read the threads on every tick
    try:
        assert child.stdout.readline() == b"go\n"
        before = {s.pid: s for s in src.read().processes}[child.pid]
        worker_switches = _thread_switch_total(child.pid, exclude_leader=True)
        while _thread_switch_total(child.pid, exclude_leader=True) < worker_switches + 50:
            pass  # wait until the workers have switched at least 50 more times
        after = {s.pid: s for s in src.read().processes}[child.pid]
        leader_after = procfs.parse_status(Path(f"/proc/{child.pid}/status").read_bytes())
        # The main thread blocks on stdin (almost no switches): the growth is the workers'.
        assert after.wakeups - before.wakeups >= 50
        assert after.wakeups > leader_after.voluntary
    finally:
        child.communicate(b"\n")
    src.close()


def _thread_switch_total(pid: int, exclude_leader: bool) -> int:
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        if exclude_leader and int(tid) == pid:
            continue
        try:
            st = procfs.parse_status(Path(f"/proc/{pid}/task/{tid}/status").read_bytes())
        except OSError:
            continue
        total += st.voluntary or 0
    return total


def scheduled_root(tmp_path: Path, **proc: int) -> tuple[Path, ProcfsSource]:
    """A fake /proc with schedstat (a kernel with CONFIG_SCHED_INFO) and one single-threaded
    process 10 (``write_proc``'s keywords), and a source reading it."""
    root = fake_root(tmp_path)
    (root / "self" / "schedstat").write_text("0 0 1\n")
    write_proc(root, 10, **proc)
    (root / "10" / "schedstat").write_text("1000 0 7\n")
    return root, ProcfsSource(str(root))


def test_idle_single_threaded_process_is_not_reread_until_it_runs(tmp_path):
    root, src = scheduled_root(tmp_path, vol=5)
    assert src.read().processes[0].wakeups == 5
    assert src.read().processes[0].wakeups == 5  # schedstat now remembered
    # status changes but the thread was never scheduled (same schedstat): not read again.
    # (A real kernel cannot do this; the fake shows which file decides.)
    write_proc(root, 10, vol=9)
    assert src.read().processes[0].wakeups == 5
    (root / "10" / "schedstat").write_text("1500 0 8\n")  # it ran: everything is read
    assert src.read().processes[0].wakeups == 9


def test_an_idle_process_is_handed_out_as_the_same_sample_until_it_runs(tmp_path):
    # Building 10 000 samples a tick for processes that did not run was most of the sweep's
    # own cost; the sampler never changes a sample it got, so the same one serves again.
    root, src = scheduled_root(tmp_path, utime=10)
    first = src.read().processes[0]
    assert src.read().processes[0] is first
    write_proc(root, 10, utime=30)
    (root / "10" / "schedstat").write_text("1500 0 8\n")  # it ran
    ran = src.read().processes[0]
    assert ran is not first and ran.cpu_ns > first.cpu_ns
    assert first.cpu_ns == 10 * 1e9 / os.sysconf("SC_CLK_TCK")  # the old reading stands
    assert src.read().processes[0] is ran


def test_without_schedstat_every_file_is_read(tmp_path):
    root = fake_root(tmp_path)  # no /proc/self/schedstat: kernel without CONFIG_SCHED_INFO
    write_proc(root, 10, vol=5)
    src = ProcfsSource(str(root))
    src.read()
    write_proc(root, 10, vol=9)
    assert src.read().processes[0].wakeups == 9


def test_command_line_is_read_for_a_new_process_and_after_a_rename_only(tmp_path):
    root = fake_root(tmp_path)
    write_proc(root, 10, utime=1)
    (root / "10" / "cmdline").write_bytes(b"app\0--first\0")
    src = ProcfsSource(str(root))
    assert src.read().processes[0].cmdline == "app --first"
    (root / "10" / "cmdline").write_bytes(b"app\0--second\0")
    write_proc(root, 10, utime=2)  # it ran: read in full, but the same process and name
    assert src.read().processes[0].cmdline == "app --first"
    write_proc(root, 10, utime=3, name="other")  # an exec: a new name
    assert src.read().processes[0].cmdline == "app --second"


def test_unexpected_io_text_of_a_threaded_process_is_unknown_and_said(tmp_path):
    root = fake_root(tmp_path)
    write_proc(root, 10, threads=3)  # its split waits for its threads (after the sweep)
    (root / "10" / "io").write_text("syscr: zz\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 0\n")
    reading = ProcfsSource(str(root)).read()
    [sample] = reading.processes  # kept, not dropped
    assert sample.wakeups is None and sample.disk_read_ops is None
    assert sample.disk_read_bytes == 4096 and sample.ctx_switches == 6
    assert [w for w in reading.warnings if w.startswith("procfs: pid 10: ")], reading.warnings
