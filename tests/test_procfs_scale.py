"""The procfs source at scale: descriptor limits, threads, re-parenting, sample layout."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lagwatch.model import ProcessSample
from lagwatch.sources import procfs, procfs_threads
from lagwatch.sources.procfs import ProcfsSource

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def _by_pid(src: ProcfsSource) -> dict[int, ProcessSample]:
    return {s.pid: s for s in src.read().processes}


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


# -- samples are built by field name, and a reused one is what a full read gives ------------


def test_an_idle_processs_reused_sample_is_the_one_a_full_read_gives():
    child = subprocess.Popen(["sleep", "1000"])
    kept, fresh = ProcfsSource(), ProcfsSource(reuse_unchanged=False)
    try:
        for _ in range(3):  # from the second read on: the schedstat shortcut
            reused = _by_pid(kept)[child.pid]
        assert kept._pids[str(child.pid)].single  # it was not read in full
        # Keyword arguments of ProcessSample, nothing else (by name, never by position).
        names = {f.name for f in dataclasses.fields(ProcessSample)}
        assert set(kept._pids[str(child.pid)].fields) <= names
        full = _by_pid(fresh)[child.pid]
        assert dataclasses.asdict(reused) == dataclasses.asdict(full)
        assert reused.cmdline == "sleep 1000" and reused.ppid == os.getpid()
    finally:
        kept.close()
        fresh.close()
        child.kill()
        child.wait()


def test_samples_of_real_processes_match_proc_field_by_field():
    src = ProcfsSource()
    try:
        src.read()
        me = _by_pid(src)[os.getpid()]  # the second read: rebuilt or reused
        fields = _stat_fields(os.getpid())
        assert me.ppid == int(fields[1])
        assert me.start_id == int(fields[19])
        assert me.name == Path(f"/proc/{os.getpid()}/comm").read_text().strip()
        assert me.threads == int(fields[17])
        assert me.user is not None and me.uid == os.getuid()
    finally:
        src.close()


# -- an orphan's new parent is seen although it never runs ---------------------------------


def test_reparented_child_gets_its_new_parent_without_running():
    # The shell starts a sleeping child, prints its pid, and exits on EOF: the child is
    # re-parented (to init or a subreaper) while it sleeps, i.e. without being scheduled.
    parent = subprocess.Popen(
        ["sh", "-c", "sleep 1000 & echo $!; read x"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    child = int(parent.stdout.readline())
    src = ProcfsSource()
    try:
        src.read()
        assert _by_pid(src)[child].ppid == parent.pid  # idle now: one schedstat read
        sched_before = Path(f"/proc/{child}/schedstat").read_text()
        parent.stdin.close()
        parent.wait()
        new_parent = int(_stat_fields(child)[1])
        assert new_parent != parent.pid
        seen = [_by_pid(src)[child].ppid for _ in range(2)]
        # It did not run (same schedstat), yet its parent is right by the second tick.
        assert Path(f"/proc/{child}/schedstat").read_text() == sched_before
        assert seen[-1] == new_parent
    finally:
        src.close()
        subprocess.run(["kill", str(child)], check=False)


# -- descriptor limits ----------------------------------------------------------------------

_LIMITED = textwrap.dedent(
    """
    import json, os, resource, sys
    from lagwatch.sources.procfs import ProcfsSource
    soft, hard, hog, nsources = (int(a) for a in sys.argv[1:5])
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(hog)]
    # Every process read in full on every tick: each keeps three descriptors per process.
    sources = [ProcfsSource(reuse_unchanged=n == 0) for n in range(nsources)]
    counts = []
    for _ in range(4):
        for src in sources:
            before = {int(e) for e in os.listdir("/proc") if e.isdigit()}
            reading = src.read()
            after = {int(e) for e in os.listdir("/proc") if e.isdigit()}
            # A process alive before and after the sweep must be in it (others come and go).
            missed = sorted((before & after) - {p.pid for p in reading.processes})
            counts.append((missed, len(reading.warnings)))
    src = sources[0]
    info = src.sweep_info()
    info["counts"] = counts
    info["soft_now"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    print(json.dumps(info))
    """
)


def _limited(soft: int, hard: int, hog: int = 0, sources: int = 1) -> dict:
    ours = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[1]
    if hard > ours:
        pytest.skip(f"needs RLIMIT_NOFILE {hard} for the processes here; the hard limit is {ours}")
    out = subprocess.run(
        [sys.executable, "-c", _LIMITED, str(soft), str(hard), str(hog), str(sources)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _processes() -> int:
    return sum(1 for e in os.listdir("/proc") if e.isdigit())


def _assert_every_process_read(info: dict) -> None:
    for missed, warnings in info["counts"]:
        assert missed == [], info
        assert warnings == 0, info


def test_soft_limit_is_raised_when_descriptors_run_short():
    hard = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[1]
    if hard < 4096:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} leaves no room to raise the soft limit")
    # A soft limit whose budget cannot hold one descriptor per process.
    soft = max(64, _processes() // 2)
    info = _limited(soft, hard)
    assert info["soft_now"] > soft and info["nofile_soft_limit_was"] == soft
    assert info["sweep_mode"] == "kept-fds"
    assert 0 < info["descriptors_kept"] <= info["descriptor_budget"]
    _assert_every_process_read(info)


def test_hard_limit_below_the_need_degrades_to_partial_and_reads_everything():
    limit = max(64, _processes() // 2)  # a budget of at most a quarter of the processes
    info = _limited(limit, limit)
    assert info["soft_now"] == limit
    assert info["sweep_mode"] == "kept-fds-partial"
    assert 0 < info["descriptors_kept"] <= info["descriptor_budget"] < limit
    _assert_every_process_read(info)


def test_descriptors_held_elsewhere_in_the_process_do_not_stop_the_sweep():
    limit = _processes() * 4 + 400
    # The rest of the process holds all but 100 descriptors: the budget must give way.
    info = _limited(limit, limit, hog=limit - 100)
    _assert_every_process_read(info)
    assert info["descriptors_kept"] <= 100


def test_sources_in_one_process_share_its_descriptor_limit():
    limit = _processes() * 2 + 300  # room for one source's schedstat files, not for three more
    info = _limited(limit, limit, sources=3)
    _assert_every_process_read(info)
    assert info["descriptors_kept"] <= info["descriptor_budget"] < limit


# -- threads: a tick's per-thread reads are bounded ----------------------------------------

_THREADS_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go = PTHREAD_COND_INITIALIZER;
static int round_no, waiting, finished, nthreads, sleeps;

static void *worker(void *arg) {
    (void)arg;
    int seen = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        waiting++;
        while (round_no == seen) pthread_cond_wait(&go, &mu);
        seen = round_no;
        pthread_mutex_unlock(&mu);
        struct timespec ts = {0, 1000};
        for (int i = 0; i < sleeps; i++) nanosleep(&ts, NULL); /* one wakeup each */
        pthread_mutex_lock(&mu);
        if (++finished == nthreads) { printf("done\n"); fflush(stdout); }
        pthread_mutex_unlock(&mu);
        /* then parks again: the test waits until every thread sleeps and counts are still */
    }
    return NULL;
}

int main(int argc, char **argv) {
    nthreads = atoi(argv[1]);
    sleeps = atoi(argv[2]);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < nthreads; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, worker, NULL)) { perror("pthread_create"); return 1; }
    }
    for (;;) { /* every thread parked on the condition: ready */
        pthread_mutex_lock(&mu);
        int w = waiting;
        pthread_mutex_unlock(&mu);
        if (w == nthreads) break;
        usleep(1000);
    }
    printf("ready\n");
    fflush(stdout);
    char line[16];
    while (fgets(line, sizeof line, stdin)) { /* each line: one round of sleeps */
        pthread_mutex_lock(&mu);
        finished = 0;
        waiting = 0;
        round_no++;
        pthread_cond_broadcast(&go);
        pthread_mutex_unlock(&mu);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def threads_exe(tmp_path_factory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the many-threads program")
    d = tmp_path_factory.mktemp("threads")
    (d / "threads.c").write_text(_THREADS_C)
    exe = d / "threads"
    subprocess.run([cc, "-O2", "-pthread", "-o", str(exe), str(d / "threads.c")], check=True)
    return exe


def _all_thread_switches(pid: int) -> tuple[int, bool]:
    """Voluntary switches summed over every thread, and whether all of them are asleep."""
    total, asleep = 0, True
    for tid in os.listdir(f"/proc/{pid}/task"):
        data = Path(f"/proc/{pid}/task/{tid}/status").read_bytes()
        total += procfs_threads.switches(data)[0]
        asleep = asleep and b"\nState:\tS" in data
    return total, asleep


def _quiet_total(pid: int) -> int:
    """The switch total once every thread is parked (asleep, the total the same twice)."""
    last = None
    while True:
        total, asleep = _all_thread_switches(pid)
        if asleep and total == last:
            return total
        last = total


def test_many_threads_are_read_within_the_tick_budget_and_nothing_is_lost(threads_exe):
    nthreads, budget, sleeps = 2000, 150, 3
    proc = subprocess.Popen([str(threads_exe), str(nthreads), str(sleeps)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    src = ProcfsSource(thread_refresh_s=0, thread_reads_per_tick=budget, thread_cpu_share=None)
    passes = -(-nthreads // budget) + 1  # ticks for every thread to be read once

    def ticks(n: int) -> ProcessSample:
        for _ in range(n):
            sample = _by_pid(src)[proc.pid]
            assert src.thread_reads <= budget  # never all 2000 in one tick
        return sample

    try:
        assert proc.stdout.readline() == "ready\n"
        truth_before = _quiet_total(proc.pid)
        assert _by_pid(src)[proc.pid].threads == nthreads + 1
        # Other processes here may have threads too and share the reads: tick until every
        # thread of this one was read once (its first pass is over); count from there.
        for _ in range(20 * passes):
            before = ticks(1).wakeups
            if src._pids[str(proc.pid)].threads.order is None:
                break
        assert src._pids[str(proc.pid)].threads.order is None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "done\n"
        truth = _quiet_total(proc.pid) - truth_before
        assert truth >= nthreads * sleeps
        # Threads that moved are re-read first, so a pass may take more ticks than the first.
        for _ in range(20 * passes):
            credited = ticks(1).wakeups - before
            assert credited <= truth  # never more than happened
            if credited == truth:
                break
        # Every switch credited exactly once, however many ticks it took to read them all.
        assert credited == truth
    finally:
        proc.kill()
        proc.wait()
        src.close()


def test_default_budget_grows_with_processes_not_threads(threads_exe):
    proc = subprocess.Popen([str(threads_exe), "3000", "1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    src = ProcfsSource(thread_refresh_s=0)
    try:
        assert proc.stdout.readline() == "ready\n"
        for _ in range(3):
            processes = len(src.read().processes)
            assert src.thread_budget == procfs_threads.thread_budget(processes)
            assert src.thread_reads <= src.thread_budget < 3000
    finally:
        proc.kill()
        proc.wait()
        src.close()


def test_busy_thread_is_read_every_tick_among_many_idle_ones(tmp_path):
    task = tmp_path / "task"
    for tid in range(101, 121):
        (task / str(tid)).mkdir(parents=True)
        _write_thread(task, tid, 5)
    counts = procfs_threads.ThreadCounts()
    assert counts.read(str(task), "100", 4, now=0.0, fresh=False) == 4  # baselines
    while counts.order is not None:  # finish the first pass: every thread baselined
        counts.read(str(task), "100", 4, now=0.0, fresh=False)
    assert counts.voluntary == 0
    vol, found_at = 5, None
    for tick in range(12):
        vol += 1
        _write_thread(task, 117, vol)  # one thread switches on every tick, the others never
        counts.read(str(task), "100", 4, now=1.0 + tick, fresh=False)
        if found_at is None and "117" in counts.hot:
            found_at = tick  # a pass reached it...
        if found_at is not None:  # ...and from then on it is read on every tick
            assert counts.voluntary == vol - 5
    assert found_at is not None and found_at <= 5


def _write_thread(task: Path, tid: int, vol: int) -> None:
    (task / str(tid) / "status").write_text(
        f"Name:\tw\nvoluntary_ctxt_switches:\t{vol}\nnonvoluntary_ctxt_switches:\t1\n"
    )


def test_reads_are_shared_fairly():
    assert procfs_threads.share([10, 1000, 1000], 300) == [10, 145, 145]
    assert procfs_threads.share([5, 5], 300) == [5, 5]
    assert procfs_threads.share([100, 100], 0) == [0, 0]


def test_switches_parses_status():
    text = b"Name:\tx\nvoluntary_ctxt_switches:\t42\nnonvoluntary_ctxt_switches:\t7\n"
    assert procfs_threads.switches(text) == (42, 7)
    assert procfs_threads.switches(b"Name:\tx\n") is None


def test_sweep_mode_is_in_the_readings_system_facts():
    src = ProcfsSource(keep_fds=False)
    assert src.read().system["sweep_mode"] == "open-close"
    src = ProcfsSource()
    assert src.read().system["sweep_mode"] in ("kept-fds", "kept-fds-partial")
    line = procfs.describe_sweep("procfs", src.sweep_info())
    assert line.startswith("procfs sweep: kept-fds")
    src.close()


# -- which file decides, on fake trees ------------------------------------------------------


def test_process_without_a_readable_schedstat_is_read_in_full(tmp_path):
    from test_procfs_source import fake_root, write_proc

    root = fake_root(tmp_path)
    (root / "self" / "schedstat").write_text("0 0 1\n")
    write_proc(root, 10, vol=5)  # no /proc/10/schedstat
    src = ProcfsSource(str(root))
    assert src.read().processes[0].wakeups == 5
    write_proc(root, 10, vol=9)
    assert src.read().processes[0].wakeups == 9  # never a stale sample


def test_process_down_to_one_thread_is_then_decided_by_schedstat(tmp_path):
    from test_procfs_source import fake_root, write_proc

    root = fake_root(tmp_path)
    (root / "self" / "schedstat").write_text("0 0 1\n")
    write_proc(root, 10, vol=5, threads=3)
    (root / "10" / "schedstat").write_text("1000 0 7\n")
    src = ProcfsSource(str(root))
    src.read()
    assert src._pids["10"].fds[3] < 0  # several threads: schedstat is not kept
    write_proc(root, 10, vol=6, threads=1)
    assert src.read().processes[0].wakeups == 6  # read in full: it changed
    assert src.read().processes[0].wakeups == 6  # schedstat remembered from here
    write_proc(root, 10, vol=8, threads=1)  # (a real kernel cannot do this without a run)
    assert src.read().processes[0].wakeups == 6  # schedstat unchanged: not read again
    assert src._pids["10"].fds[3] >= 0


def test_a_stopped_pass_resumes_where_it_stopped(tmp_path):
    task = tmp_path / "task"
    for tid in range(200, 260):
        (task / str(tid)).mkdir(parents=True)
        _write_thread(task, tid, 5)
    counts = procfs_threads.ThreadCounts()
    every = procfs_threads.CHECK_EVERY
    # The tick's CPU share is spent at the first look at the clock: one chunk is read.
    assert counts.read(str(task), "1", 50, now=0.0, fresh=False, stop=lambda: True) == every
    read_so_far = set(counts.counts)
    assert len(read_so_far) == every
    while counts.order is not None:  # the rest of the pass, nothing read twice or skipped
        before = set(counts.counts)
        counts.read(str(task), "1", 50, now=1.0, fresh=False)
        assert not (set(counts.counts) - before) & read_so_far
    assert set(counts.counts) == {str(t) for t in range(200, 260)}


def test_threads_started_after_the_process_was_seen_count_from_their_start(tmp_path):
    from test_procfs_source import fake_root, write_proc

    root = fake_root(tmp_path)
    write_proc(root, 10, vol=5, utime=1)
    src = ProcfsSource(str(root), thread_cpu_share=None)
    assert src.read().processes[0].wakeups == 5
    write_proc(root, 10, vol=6, utime=2, threads=2)  # a worker started since, and switched
    (root / "10" / "task" / "11").mkdir(parents=True)
    _write_thread(root / "10" / "task", 11, 40)
    assert src.read().processes[0].wakeups == 6 + 40  # none of the worker's switches lost
