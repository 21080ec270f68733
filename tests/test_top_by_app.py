"""`lagwatch top --by app|user` on real processes: a browser-like app (a parent and six busy
workers) outranks one process that is busier than any of its workers; and on the Mac-in-a-box,
helpers macOS charges to an app (responsible pid) add up under it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest

from conftest import run_lagwatch

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux processes"),
]

# Busy for DUTY of every 100 ms, idle the rest: a process throttled to DUTY x 100 % of a core
# (less when the machine is loaded, in the same proportion for every such process).
DUTY_LOOP = """
import sys, time
duty = float(sys.argv[1])
while True:
    start = time.monotonic()
    while time.monotonic() - start < 0.1 * duty:
        pass
    time.sleep(max(0.0, 0.1 - (time.monotonic() - start)))
"""
# The app: a parent that starts six workers at 25 % each and waits for them (idle itself).
APP = f"""
import subprocess, sys
workers = [subprocess.Popen([sys.executable, "-c", {DUTY_LOOP!r}, "0.25"]) for _ in range(6)]
for w in workers:
    w.wait()
"""


def _busy(pid: int) -> bool:
    try:
        return psutil.Process(pid).cpu_times().user > 0.02
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def browser_and_hog():
    # Each in a session of its own, as a program started from a desktop or a terminal is: the
    # hog is not part of the app, and the workers are the app's.
    app = subprocess.Popen([sys.executable, "-c", APP], start_new_session=True)
    hog = subprocess.Popen([sys.executable, "-c", DUTY_LOOP, "0.5"], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while time.monotonic() < deadline:
            workers = [c.pid for c in psutil.Process(app.pid).children()]
            if len(workers) == 6 and all(map(_busy, workers)) and _busy(hog.pid):
                break
            assert app.poll() is None and hog.poll() is None, "a test process died"
            time.sleep(0.05)  # polling interval of the condition, not a synchronisation sleep
        else:
            pytest.fail("the workers never started")
        yield app.pid, workers, hog.pid
    finally:
        for proc in (app, hog):
            try:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    child.kill()
            except psutil.NoSuchProcess:
                pass
            proc.kill()
            proc.wait()


def _group_of(doc: dict[str, Any], pid: int) -> tuple[int, dict[str, Any]]:
    for rank, group in enumerate(doc["groups"]):
        if pid in group["pids"]:
            return rank, group
    raise AssertionError(f"pid {pid} is in no group: {doc['groups'][:5]}")


def test_the_app_outranks_a_single_busier_process(browser_and_hog):
    parent, workers, hog = browser_and_hog
    res = run_lagwatch("top", "--by", "app", "--json", "--count", "2", "--interval", "1")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout.splitlines()[-1])
    assert doc["by"] == "app" and doc["processes"]  # the processes are kept
    assert doc["group_count"] == len(doc["groups"])
    app_rank, app = _group_of(doc, parent)
    hog_rank, single = _group_of(doc, hog)
    assert set(workers) <= set(app["pids"]) and hog not in app["pids"]
    assert app["pid"] == parent and single["pids"] == [hog]
    assert app_rank < hog_rank, (app, single)
    assert app["dominant"] == "cpu"
    # Nothing else of this test ranks above the app.
    ours = {parent, hog, *workers}
    assert all(not ours & set(g["pids"]) for g in doc["groups"][:app_rank])


def test_table_and_user_grouping(browser_and_hog):
    parent, workers, hog = browser_and_hog
    table = run_lagwatch("top", "--by", "app", "--count", "1", "--interval", "0.5")
    assert table.returncode == 0, table.stderr
    assert " apps" in table.stdout and " (7)" in table.stdout  # the app and its six workers
    res = run_lagwatch("top", "--by", "user", "--json", "--count", "1", "--interval", "0.5")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    _, mine = _group_of(doc, parent)
    assert {parent, hog, *workers} <= set(mine["pids"])
    assert mine["name"] == psutil.Process(os.getpid()).username()


# -- macOS: the responsible process, in the Mac-in-a-box ------------------------------------------


def test_helpers_add_up_under_their_responsible_app(tmp_path):
    from macbox import MacBox, Proc, build_libraries

    (tmp_path / "libs").mkdir()
    libs = build_libraries(tmp_path / "libs")
    # Safari's helpers are XPC services (launchd's children) that macOS charges to Safari.
    procs = [
        Proc(0, "kernel_task", uid=0, user="root", cpu_percent=2.0),
        Proc(1, "launchd", uid=0, user="root", cpu_percent=0.5),
        Proc(640, "Safari", cpu_percent=5.0),
        *(Proc(641 + i, "WebContent", cpu_percent=20.0, responsible=640) for i in range(3)),
        Proc(700, "hog", cpu_percent=45.0),
    ]
    mac = MacBox(tmp_path / "mac", libs, procs)
    res = run_lagwatch("top", "--by", "app", "--json", "--count", "2", "--interval", "0.5",
                       "--source", "libproc", env=mac.env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout.splitlines()[-1])
    safari_rank, safari = _group_of(doc, 640)
    hog_rank, _ = _group_of(doc, 700)
    assert safari["name"] == "Safari" and safari["pids"] == [640, 641, 642, 643]
    assert safari["members"] == ["Safari", "WebContent"]
    assert safari_rank < hog_rank and safari["dominant"] == "cpu"
