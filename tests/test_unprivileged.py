"""Without root: other users' processes are listed, marked restricted, never dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import lagwatch_cmd, need

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc"),
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0,
        reason="needs root to switch to an unprivileged user",
    ),
]

NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"]


def as_nobody(*args: str) -> subprocess.CompletedProcess:
    setpriv = need("setpriv")
    return subprocess.run([setpriv, *NOBODY, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, HOME="/tmp"))  # fmt: skip


def test_other_users_processes_are_restricted_not_dropped():
    setpriv = need("setpriv")
    # Another user's process, and lagwatch running without the capabilities that let root
    # read every process: the kernel then refuses /proc/PID/io as it would to a normal user.
    other = subprocess.Popen([setpriv, *NOBODY, "sleep", "60"])
    caps = "-sys_ptrace,-dac_override,-dac_read_search"
    drop = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]
    mine = subprocess.Popen([*drop, "sleep", "60"])  # same user, same privileges: readable
    try:
        res = subprocess.run(
            [*drop, *lagwatch_cmd(), "top", "--json", "--count", "1", "--interval", "0.3"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        procs = {p["pid"]: p for p in doc["processes"]}
        theirs = procs[other.pid]  # listed, not dropped
        assert theirs["restricted"] is True and theirs["user"] == "nobody"
        assert theirs["disk_read_bytes_per_s"] is None  # refused: unknown, not zero
        assert theirs["cpu_percent"] is not None  # what the kernel allows is still shown
        assert doc["restricted_count"] >= 1
        assert procs[mine.pid]["restricted"] is False
        assert procs[mine.pid]["disk_read_bytes_per_s"] is not None
    finally:
        for p in (other, mine):
            p.kill()
            p.wait()


def test_table_says_root_shows_restricted_processes_fully():
    probe = as_nobody(sys.executable, "-c", "import lagwatch")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout: {probe.stderr.strip()[-200:]}")
    res = as_nobody(*lagwatch_cmd(), "top", "--count", "1", "--interval", "0.3")
    assert res.returncode == 0, res.stderr
    assert "restricted" in res.stdout and "root sees them" in res.stdout
