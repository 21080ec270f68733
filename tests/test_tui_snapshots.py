"""Snapshots of the key TUI screens at 80x24, from fixed rankings (deterministic: fixed data, a
fixed clock, UTC). Update after an intended change with `pytest --snapshot-update` and look at
the report before committing the new SVGs."""

from __future__ import annotations

import pytest

from lagwatch.events import Event
from lagwatch.tui.app import LagwatchApp
from lagwatch.tui.feed import MemoryFeed
from test_tui_app import EVENTS, NOW, make_ticks

SIZE = (80, 24)


pytestmark = pytest.mark.usefixtures("utc")  # times on screen do not depend on the machine


def app() -> LagwatchApp:
    feed = MemoryFeed(make_ticks(), [Event.from_json(e) for e in EVENTS], label="test data")
    return LagwatchApp(feed, clock=lambda: NOW, refresh_s=3600)


def test_live_ranking(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE)


def test_replay_of_a_past_tick(snap_compare) -> None:
    press = ["left_square_bracket"] * 5
    assert snap_compare(app(), press=press, terminal_size=SIZE)


def test_sorted_and_filtered(snap_compare) -> None:
    press = ["s", "s", "slash", "f", "i", "r", "enter"]
    assert snap_compare(app(), press=press, terminal_size=SIZE)


def test_detail_pane(snap_compare) -> None:
    assert snap_compare(app(), press=["enter"], terminal_size=SIZE)


def test_events_pane(snap_compare) -> None:
    assert snap_compare(app(), press=["e"], terminal_size=SIZE)


def test_why_story(snap_compare) -> None:
    assert snap_compare(app(), press=["e", "down", "enter"], terminal_size=SIZE)


def test_help(snap_compare) -> None:
    assert snap_compare(app(), press=["question_mark"], terminal_size=SIZE)


# Pids above every OS's limit (Linux: 4194304; macOS: 99999), so a dialog that looks a process
# up (n reads its nice value) finds none, the same on every machine.
BIG = 4_200_000


def machine_app() -> LagwatchApp:
    """A build under a shell, a daemon, kernel threads, and the machine's figures."""
    from fake_rankings import T0, ranking, row
    from test_tui_keys import SYSTEM

    def kid(pid, ppid, score, name, **kw):
        return row(BIG + pid, score, name, ppid=ppid and BIG + ppid, **kw)

    make = "proc:4200110:1100:make"
    rows = [
        kid(1, 0, 0.0, "systemd", user="root"),
        # Kernel threads: children of kthreadd, which is pid 2 on every Linux.
        row(2, 0.0, "kthreadd", ppid=0, user="root", memory_bytes=0),
        row(BIG + 3, 0.0, "kworker/0:1", ppid=2, user="root", memory_bytes=0),
        kid(100, 1, 1.0, "bash", cmdline="-bash"),
        kid(110, 100, 20.0, "make", cmdline="make -j2", app=make, cpu_percent=2.0),
        kid(111, 110, 70.0, "cc1", cmdline="cc1 -O2 big.c", app=make, cpu_percent=99.0),
        kid(112, 110, 60.0, "cc1", cmdline="cc1 -O2 small.c", app=make, cpu_percent=80.0),
        kid(200, 1, 5.0, "sshd", user="root", restricted=True, app="unit:ssh.service"),
    ]
    feed = MemoryFeed([ranking(rows, time=T0 + 29, system=dict(SYSTEM))], label="test data")
    return LagwatchApp(feed, clock=lambda: NOW, refresh_s=3600)


def test_system_header(snap_compare) -> None:
    assert snap_compare(machine_app(), terminal_size=SIZE)


def test_tree(snap_compare) -> None:
    assert snap_compare(machine_app(), press=["t"], terminal_size=SIZE)


def test_grouped_by_app(snap_compare) -> None:
    assert snap_compare(machine_app(), press=["a"], terminal_size=SIZE)


def test_signal_dialog(snap_compare) -> None:
    assert snap_compare(machine_app(), press=["k"], terminal_size=SIZE)


def test_renice_dialog(snap_compare) -> None:
    assert snap_compare(machine_app(), press=["n"], terminal_size=SIZE)


def test_detail_with_command_line(snap_compare) -> None:
    assert snap_compare(machine_app(), press=["enter"], terminal_size=SIZE)
