"""`lagwatch daemon` arguments: --listen parsing, a missing exporter, unusable databases."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from conftest import run_lagwatch
from lagwatch.cli import CliError
from lagwatch.cli.daemon_cmd import parse_listen, start_listener
from lagwatch.live import LiveState


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("127.0.0.1:9683", ("127.0.0.1", 9683)),
        ("localhost:1", ("localhost", 1)),
        ("[::1]:9683", ("::1", 9683)),
        ("0.0.0.0:65535", ("0.0.0.0", 65535)),
        (":9683", ("", 9683)),  # every interface, as node_exporter's :9100
        ("[::]:9683", ("::", 9683)),
    ],
)
def test_parse_listen_accepts(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("9683", "not HOST:PORT"),
        ("[localhost]:9683", "not an IPv6 address"),
        ("[::1]9683", "not HOST:PORT"),
        ("a b:9683", "spaces"),
        ("host\x1b[2J:9683", "control characters"),
        ("host:", "port must be"),
        ("host:http", "port must be"),
        ("host:0", "port must be"),
        ("host:70000", "port must be"),
        ("::1:9683", "brackets"),
    ],
)
def test_parse_listen_rejects(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_listen(text)


@pytest.mark.integration
def test_bad_listen_is_a_one_line_usage_error(tmp_path: Path) -> None:
    res = run_lagwatch("daemon", "--db", str(tmp_path / "h.db"), "--listen", "nope")
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        "lagwatch daemon: error: Invalid value for '--listen': 'nope' is not HOST:PORT "
        "(e.g. 127.0.0.1:9683, [::1]:9683, :9683)"
    ]
    assert not (tmp_path / "h.db").exists()


def test_missing_exporter_is_reported_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "lagwatch.exporter", None)  # as if it failed to load
    with pytest.raises(CliError, match="the exporter cannot be loaded"):
        start_listener(LiveState(), "127.0.0.1", 9683, Path("h.db"), 20)


@pytest.mark.integration
def test_database_that_is_not_history_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "mine.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    res = run_lagwatch("daemon", "--db", str(other), timeout=60)
    assert res.returncode == 1
    assert "not lagwatch history" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_status_says_what_the_running_daemon_lost() -> None:
    """Ticks dropped, the history file deleted or replaced, read warnings: in one line too."""
    from lagwatch.cli.status_cmd import one_line

    now = 1_800_000_000.0
    status = {
        "db": "/h.db", "daemon": {"running": True, "pid": 42, "started_at": now - 600},
        "health": "degraded", "write_condition": "stalled",
        "write_advice": "writing /h.db has not returned (a frozen or hung filesystem?)",
        "history": None, "top": None, "last_pause": None, "ongoing_rogues": [], "error": None,
        "dropped_sources": [], "dropped_ticks": 17, "read_warnings": 3,
        "history_file_change": {"at": now - 120, "what": "deleted", "ticks_lost": 250},
    }  # fmt: skip
    line = one_line(status, now=now)
    assert "degraded: stalled (writing /h.db has not returned" in line
    assert "history file was deleted 2m ago (250 ticks of this run went with it)" in line
    assert "17 ticks could not be written (dropped)" in line
    assert "3 read warnings" in line and "\n" not in line
    status["history_file_change"]["what"] = "replaced"
    assert "history file was replaced 2m ago" in one_line(status, now=now)


def test_status_names_a_pressure_stall_going_on_now() -> None:
    from lagwatch.cli.status_cmd import one_line

    now = 1_800_000_000.0
    stall = {
        "id": 7, "kind": "pressure", "start": now - 90, "end": None, "duration_s": 90.0,
        "suspects": [{"pid": 4242, "name": "chrome\x1b[2J", "score": 80.0, "dominant": "memory"}],
        "details": {"resource": "memory", "pressure_percent": 41.6},
    }  # fmt: skip
    status = {
        "db": "/h.db", "daemon": {"running": True, "pid": 42, "started_at": now - 600},
        "health": "ok", "write_condition": None, "write_advice": None, "history": None,
        "top": None, "last_pause": None, "ongoing_rogues": [], "ongoing_pressure": [stall],
        "error": None, "dropped_sources": [],
    }  # fmt: skip
    line = one_line(status, now=now)
    assert "memory pressure now: 42% stalled for 2m, suspect chrome" in line
    assert "(pid 4242) (lagwatch why 7)" in line
    assert "\x1b" not in line  # a name never writes to the terminal
