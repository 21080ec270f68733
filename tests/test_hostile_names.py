"""A real process that names itself with escape sequences and a newline (prctl PR_SET_NAME):
`top`, the daemon's log, `status`, `history`, `events` and `why` show that name escaped, and
no line of theirs is split by it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import run_lagwatch

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAGWATCH = [sys.executable, "-m", "lagwatch"]
# 15 bytes, the most a thread name holds: retitle the terminal, ring, clear, new line.
HOSTILE = b"\x1b]0;pw\x07\x1b[2J\nX"
SHOWN = r"\x1b]0;pw\x07\x1b[2J\x0aX"
HOG = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, ctypes.c_char_p(bytes.fromhex(sys.argv[1])), 0, 0, 0) != 0:  # PR_SET_NAME
    sys.exit("prctl failed")
print("named", flush=True)
while True:
    pass
"""


def wait_for(cond: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)  # polling a condition, with a deadline
    return value


def assert_safe(text: str) -> None:
    """No control character reached the output (the escaped name may be cut by a column)."""
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, f"raw control characters in the output: {bad!r}"


@pytest.fixture
def hog() -> Iterator[subprocess.Popen]:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_NAME is Linux's")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOG, HOSTILE.hex()], stdout=subprocess.PIPE, text=True
    )
    try:
        if proc.stdout.readline().strip() != "named":
            pytest.skip("prctl(PR_SET_NAME) is not allowed here")
        comm = Path(f"/proc/{proc.pid}/comm").read_bytes()
        assert comm == HOSTILE + b"\n"
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def test_top_prints_the_name_escaped(hog: subprocess.Popen) -> None:
    res = run_lagwatch("top", "-n", "2", "-i", "0.5", "--sort", "cpu", "-k", "1000")
    assert res.returncode == 0, res.stderr
    assert_safe(res.stdout)
    assert r"\x1b]0;pw" in res.stdout  # the NAME column shows its start
    res = run_lagwatch("top", "-n", "2", "-i", "0.5", "--json")
    names = {p["pid"]: p["name"] for line in res.stdout.splitlines()
             for p in json.loads(line)["processes"]}  # fmt: skip
    assert names[hog.pid] == HOSTILE.decode()  # JSON keeps the real name, escaped by JSON
    assert_safe(res.stdout)


def tick_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT count(*) FROM ticks").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def events_json(db: Path) -> list[dict]:
    res = run_lagwatch("events", "--db", str(db), "--json")
    return [json.loads(line) for line in res.stdout.splitlines()]


def naming(events: list[dict], pid: int) -> list[dict]:
    return [e for e in events if pid in [s["pid"] for s in e["suspects"]]]


def test_daemon_log_events_why_history_status(tmp_path: Path, hog: subprocess.Popen) -> None:
    db = tmp_path / "h.db"
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [*LAGWATCH, "daemon", "--db", str(db), "--interval", "0.25",
             "--pause-threshold", "0.5"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        wait_for(lambda: tick_count(db) >= 8, 60, "two seconds of ticks")
        daemon.send_signal(signal.SIGSTOP)
        time.sleep(2.0)  # the scenario: the daemon is frozen, the hog keeps running
        daemon.send_signal(signal.SIGCONT)
        wait_for(lambda: naming(events_json(db), hog.pid), 60, "an event naming the hog")
        after = tick_count(db)
        wait_for(lambda: tick_count(db) >= after + 4, 60, "the ticks after the pause")
        res = run_lagwatch("status", "--db", str(db))
        assert_safe(res.stdout)
        assert len(res.stdout.strip().splitlines()) == 1
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(5)
    # The history is final now: every command reads the same events.
    events = naming(events_json(db), hog.pid)
    assert events, "no recorded event names the hog"
    named = f"(pid {hog.pid}"

    res = run_lagwatch("events", "--db", str(db))
    assert_safe(res.stdout)
    lines = res.stdout.strip().splitlines()
    assert lines[-1].startswith("(lagwatch why") and len(lines) == len(events_json(db)) + 2
    assert all(r"\x1b]0;pw" in line for line in lines if named in line)

    res = run_lagwatch("why", str(events[0]["id"]), "--db", str(db))
    assert res.returncode == 0, res.stderr
    assert_safe(res.stdout)
    assert f"{SHOWN} (pid {hog.pid})" in res.stdout  # in the list of suspects

    res = run_lagwatch("history", "--db", str(db), "--pid", str(hog.pid), "--since", "5m")
    assert_safe(res.stdout)
    assert r"\x1b]0;pw" in res.stdout
    res = run_lagwatch(
        "history", "--db", str(db), "--pid", str(hog.pid), "--since", "5m", "--format", "csv"
    )
    assert_safe(res.stdout)
    rows = res.stdout.strip().splitlines()
    assert len(rows) >= 2 and all(SHOWN in r for r in rows[1:])  # one line per row

    text = log_path.read_text()
    assert_safe(text)
    assert all(r"\x1b]0;pw" in line for line in text.splitlines() if named in line)
    # Every log line is a whole line: it starts with the date the formatter puts first.
    assert all(line[:4].isdigit() for line in text.splitlines()), text[-2000:]
