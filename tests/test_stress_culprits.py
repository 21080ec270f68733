"""End to end on Linux: real culprits made by stress-ng, with background noise, must be ranked
first by `lagwatch top --json` with the right dominant resource within a few seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from conftest import lagwatch_cmd, need

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc"),
]

RANKINGS_ALLOWED = 8  # "within a few seconds" at 1 s per ranking


@contextmanager
def stress(*args: str, cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """A stress-ng run in its own process group, always killed."""
    exe = need("stress-ng")
    proc = subprocess.Popen(
        [exe, *args, "--timeout", "120", "--quiet"],
        cwd=cwd,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@contextmanager
def noise(tmp_path: Path) -> Iterator[None]:
    """Background noise: a process using a quarter of a core, one waking a few hundred times a
    second, and idle processes."""
    sleepers = [subprocess.Popen(["sleep", "300"]) for _ in range(20)]
    try:
        with stress("--cpu", "1", "--cpu-load", "25"), stress("--switch", "1", "--switch-freq",
                                                              "300"):  # fmt: skip
            yield
    finally:
        for s in sleepers:
            s.kill()
            s.wait()


def workers_of(parent_pid: int, name_prefix: str, deadline_s: float = 30) -> set[int]:
    """Pids of stress-ng's workers: descendants of its main process named ``name_prefix``
    (some stressors run the work in a child of the worker)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        parent_of: dict[int, int] = {}
        names: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            names[int(entry)] = stat[stat.index("(") + 1 : stat.rindex(")")]
            parent_of[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
        found = set()
        for pid, name in names.items():
            ancestor, hops = parent_of.get(pid), 0
            while ancestor not in (None, 0, 1, parent_pid) and hops < 10:
                ancestor, hops = parent_of.get(ancestor), hops + 1
            if ancestor == parent_pid and name.startswith(name_prefix):
                found.add(pid)
        if found:
            return found
    raise AssertionError(f"stress-ng started no {name_prefix} worker")


def first_ranked(hog: subprocess.Popen, prefix: str, dominant: str,
                 extra: list[str] | None = None) -> dict:  # fmt: skip
    """Run `lagwatch top --json` until one of the ``hog``'s workers is ranked first with
    ``dominant``; return that process's JSON, or fail with the rankings seen."""
    workers_of(hog.pid, prefix)  # started
    cmd = [*lagwatch_cmd(), "top", "--json", "--interval", "1", "--count",
           str(RANKINGS_ALLOWED), *(extra or [])]  # fmt: skip
    seen = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as top:
        try:
            for line in top.stdout:
                doc = json.loads(line)
                head = doc["processes"][0]
                seen.append((head["name"], head["pid"], head["score"], head["dominant"]))
                if head["dominant"] == dominant and head["pid"] in workers_of(hog.pid, prefix):
                    return head
        finally:
            top.kill()
    culprits = sorted(workers_of(hog.pid, prefix))
    raise AssertionError(f"culprit {culprits} never first with {dominant!r}: {seen}")


def test_cpu_hog(tmp_path):
    with noise(tmp_path), stress("--cpu", "1") as hog:
        head = first_ranked(hog, "stress-ng-cpu", "cpu")
    assert head["cpu_percent"] > 80 and head["score"] >= 70


def test_process_holding_a_quarter_of_ram(tmp_path):
    # --vm-hang 0: allocate, touch, then hold the memory without further CPU use.
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    with noise(tmp_path), stress("--vm", "1", "--vm-bytes", "25%", "--vm-keep", "--vm-hang", "0",
                                 "--vm-populate") as hog:  # fmt: skip
        wait_until_holding(hog, "stress-ng-vm", total // 5)
        head = first_ranked(hog, "stress-ng-vm", "memory")
    assert head["memory_bytes"] > total // 5


def wait_until_holding(hog: subprocess.Popen, prefix: str, bytes_: int, deadline_s: float = 180):
    """Wait until a worker holds ``bytes_`` of anonymous memory (touching pages takes a while
    on a cold VM), so the test is about holding memory, not about allocating it."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for pid in workers_of(hog.pid, prefix):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("RssAnon:") and int(line.split()[1]) * 1024 >= bytes_:
                    return
        time.sleep(0.2)  # polling a condition with a deadline, not standing in for a sync
    raise AssertionError(f"{prefix} never held {bytes_} bytes")


def test_disk_writer(tmp_path):
    # On the real disk (not tmpfs), so the kernel accounts the writes to the process.
    with noise(tmp_path), stress("--hdd", "1", "--hdd-bytes", "512m", cwd=tmp_path) as hog:
        head = first_ranked(hog, "stress-ng-hdd", "disk")
    assert head["disk_write_bytes_per_s"] > 10e6


def test_timer_wakeup_storm(tmp_path):
    with noise(tmp_path), stress("--timer", "1", "--timer-freq", "20000") as hog:
        head = first_ranked(hog, "stress-ng-timer", "wakeups")
    assert head["wakeups_per_s"] > 1000


def test_fork_storm_shows_as_its_parent(tmp_path):
    with noise(tmp_path), stress("--fork", "1") as hog:
        head = first_ranked(hog, "stress-ng-fork", "cpu")
    # The worker itself mostly waits; its short-lived children's CPU is what ranks it.
    assert head["cpu_percent"] > 50
