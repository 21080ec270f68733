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
    probe = as_nobody(sys.executable, "-c", "import lagwatch")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout: {probe.stderr.strip()[-200:]}")
    mine = subprocess.Popen(["sleep", "60"])  # a root process nobody may not fully read
    try:
        res = as_nobody(*lagwatch_cmd(), "top", "--json", "--count", "1", "--interval", "0.3")
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        procs = {p["pid"]: p for p in doc["processes"]}
        root_sleep = procs[mine.pid]  # listed
        assert root_sleep["restricted"] is True
        assert root_sleep["disk_read_bytes_per_s"] is None  # refused: unknown, not zero
        assert root_sleep["cpu_percent"] is not None  # what the kernel allows is still shown
        assert root_sleep["user"] == "root"
        assert doc["restricted_count"] >= 1
        own = [p for p in doc["processes"] if p["user"] == "nobody"]
        assert own and all(not p["restricted"] for p in own)
    finally:
        mine.kill()
        mine.wait()


def test_table_says_root_shows_restricted_processes_fully():
    probe = as_nobody(sys.executable, "-c", "import lagwatch")
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this checkout: {probe.stderr.strip()[-200:]}")
    res = as_nobody(*lagwatch_cmd(), "top", "--count", "1", "--interval", "0.3")
    assert res.returncode == 0, res.stderr
    assert "restricted" in res.stdout and "root shows them fully" in res.stdout
