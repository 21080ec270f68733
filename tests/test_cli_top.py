"""`lagwatch top` and `lagwatch sources` as a user runs them."""

from __future__ import annotations

import json

import pytest

from conftest import run_lagwatch
from lagwatch.model import PROCESS_KEYS

pytestmark = pytest.mark.integration  # runs the real CLI as a user does


@pytest.mark.parametrize(
    "args, needle",
    [
        (["top", "--sort", "bogus"], "--sort"),
        (["top", "--interval", "-1"], "--interval"),
        (["top", "--count", "zero"], "--count"),
        (["top", "--nope"], "--nope"),
        (["top", "--source", "nosuch"], "nosuch"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle):
    res = run_lagwatch(*args)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in res.stderr
    assert res.stdout == ""


def test_json_lines_follow_the_contract():
    res = run_lagwatch("top", "--json", "--count", "2", "--interval", "0.3")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2
    docs = [json.loads(line) for line in lines]
    for doc in docs:
        assert {"time", "interval_s", "platform", "sources", "processes"} <= set(doc)
        assert doc["platform"] == "linux" and doc["sources"][0] == "procfs"
        assert doc["interval_s"] > 0
        assert doc["processes"], "every machine has processes"
        for p in doc["processes"]:
            assert list(p) == list(PROCESS_KEYS)
            assert isinstance(p["pid"], int) and isinstance(p["restricted"], bool)
            assert 0.0 <= p["score"] <= 100.0
            assert p["gpu_percent"] is None  # no GPU source here: unknown, not zero
    scores = [p["score"] for p in docs[0]["processes"]]
    assert scores == sorted(scores, reverse=True)
    assert docs[1]["time"] > docs[0]["time"]


def test_limit_and_sort():
    res = run_lagwatch("top", "--json", "--count", "1", "--interval", "0.2", "--limit", "3",
                       "--sort", "memory")  # fmt: skip
    doc = json.loads(res.stdout)
    assert len(doc["processes"]) == 3
    mem = [p["memory_bytes"] or 0 for p in doc["processes"]]
    assert mem == sorted(mem, reverse=True)


def test_table_output_when_not_a_terminal():
    res = run_lagwatch("top", "--count", "1", "--interval", "0.2", "--limit", "5")
    assert res.returncode == 0, res.stderr
    assert "SCORE" in res.stdout and "BLAME" in res.stdout and "procfs" in res.stdout


def test_forced_psutil_source():
    res = run_lagwatch("top", "--json", "--count", "1", "--interval", "0.2", "--source", "psutil")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["sources"] == ["psutil"]
    assert all(p["pageins_per_s"] is None for p in doc["processes"])  # psutil cannot know


def test_sources_lists_availability_and_reasons():
    res = run_lagwatch("sources", "--json")
    assert res.returncode == 0
    report = {s["name"]: s for s in json.loads(res.stdout)["sources"]}
    assert report["procfs"]["available"] is True and report["procfs"]["needs_root"] is False
    assert report["procfs"]["status"] == "in use"
    assert report["psutil"]["status"] == "standby"  # usable, but only as a fallback here
    for s in report.values():
        assert s["available"] or s["reason"], f"{s['name']} unavailable without a reason"
    human = run_lagwatch("sources")
    assert "procfs" in human.stdout and "available" in human.stdout


def test_ctrl_c_exits_cleanly():
    import os
    import pty
    import select
    import signal
    import subprocess
    import time

    from conftest import lagwatch_cmd

    # A real terminal, so the live (refreshed in place) view is what gets interrupted.
    leader, follower = pty.openpty()

    def default_sigint() -> None:
        # Ctrl-C's default action even when this run ignores it (started in the background).
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([*lagwatch_cmd(), "top", "--interval", "0.2"], stdin=follower,
                            stdout=follower, stderr=follower, start_new_session=True,
                            preexec_fn=default_sigint)  # fmt: skip
    os.close(follower)
    seen = b""
    try:
        while b"SCORE" not in seen:  # wait for the first table
            chunk = os.read(leader, 65536)
            assert chunk, f"top exited before drawing: {seen!r}"
            seen += chunk
        proc.send_signal(signal.SIGINT)
        # Read the terminal until top closes it: top redraws meanwhile, and a program blocked
        # writing to a full terminal never gets to exit. The deadline only catches a hang.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not select.select([leader], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break  # the terminal closed with the process
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    os.close(leader)
    assert b"Traceback" not in seen
