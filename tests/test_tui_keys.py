"""The TUI's htop-like keys, driven by Textual's Pilot: tree (t), groups (a), kernel threads
(K), signals (k) and nice values (n) sent to real processes, Ctrl-C, the system header and the
command line in the detail screen."""

from __future__ import annotations

import asyncio
import functools
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from textual.widgets import Input, OptionList, Static

from fake_rankings import T0, ranking, row
from lagwatch.tui.app import LagwatchApp
from lagwatch.tui.feed import MemoryFeed
from lagwatch.tui.screens import DetailScreen, ReniceScreen, SignalScreen
from lagwatch.tui.table import RankingTable

SIZE = (80, 24)
pytestmark = pytest.mark.usefixtures("utc")


def sync(test):
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


SYSTEM = {
    "memory_total_bytes": 16 * 2**30, "memory_used_bytes": 4 * 2**30, "cpu_count": 2,
    "cpu_busy_percent": 55.0, "cpu_busy_percent_per_core": [90.0, 20.0],
    "swap_total_bytes": 2 * 2**30, "swap_used_bytes": 0,
    "load_avg_1m": 1.5, "load_avg_5m": 1.0, "load_avg_15m": 0.5,
    "pressure": {"cpu": {"some_percent": 12.0}, "memory": {"some_percent": 0.0},
                 "io": {"some_percent": 3.0}},
}  # fmt: skip


def family(t: float = T0, extra: list | None = None) -> list:
    def kid(pid, ppid, score, name, **kw):
        return row(pid, score, name, ppid=ppid, **kw)

    return [
        ranking([
            kid(1, 0, 0.0, "systemd", user="root"),
            kid(2, 0, 0.0, "kthreadd", user="root", memory_bytes=0),
            kid(3, 2, 0.0, "kworker/0:1", user="root", memory_bytes=0),
            kid(100, 1, 1.0, "bash", cmdline="-bash"),
            kid(110, 100, 20.0, "make", cmdline="make -j2", app="proc:110:1100:make"),
            kid(111, 110, 70.0, "cc1", cmdline="cc1 -O2 big.c", app="proc:110:1100:make"),
            kid(112, 110, 60.0, "cc1", cmdline="cc1 -O2 small.c", app="proc:110:1100:make"),
            *(extra or []),
        ], time=t, system=dict(SYSTEM)),
    ]  # fmt: skip


def make_app(rankings: list, clock=lambda: T0 + 1) -> LagwatchApp:
    return LagwatchApp(MemoryFeed(rankings, label="test data"), clock=clock, refresh_s=3600)


def text(app: LagwatchApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def names(app: LagwatchApp) -> list[str]:
    table = app.query_one("#procs", RankingTable)
    return [table.row_text(i)[1].rstrip() for i in range(table.row_count)]


def notices(app: LagwatchApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


@sync
async def test_the_system_header_shows_cores_memory_load_and_pressure() -> None:
    app = make_app(family())
    async with app.run_test(size=SIZE):
        header = text(app, "#sysheader")
        assert header.startswith("CPU  55% ")
        assert "MEM 4.0G/16.0G 25%" in header and "SWAP 0B/2.0G 0%" in header
        assert "LOAD 1.50 1.00 0.50" in header and "PSI cpu 12% mem 0% io 3%" in header
        assert all(len(line) <= 80 for line in header.splitlines())
        # Process counts stay in the status line (recorded-of-seen when replaying a database).
        assert "7 procs" in text(app, "#info") and "2 kernel threads hidden (K)" in text(
            app, "#info"
        )


@sync
async def test_attached_to_a_daemon_s_history_the_header_is_the_live_one(tmp_path) -> None:
    from lagwatch.store import Recorder
    from lagwatch.tui.feed import HistoryFeed

    live = make_app(family())
    async with live.run_test(size=SIZE):
        expected = text(live, "#sysheader")
    recorder = Recorder(tmp_path / "h.db")
    for tick in family():
        recorder.record(tick)
    recorder.close()
    feed = HistoryFeed(tmp_path / "h.db")
    attached = LagwatchApp(feed, clock=lambda: T0 + 1, refresh_s=3600)
    try:
        async with attached.run_test(size=SIZE):
            assert text(attached, "#sysheader") == expected
    finally:
        feed.close()


@sync
async def test_a_tick_without_machine_figures_shows_no_empty_header() -> None:
    app = make_app([ranking([row(5, 10.0)], time=T0, system={})])
    async with app.run_test(size=SIZE):
        assert not app.query_one("#sysheader").display


@sync
async def test_tree_key_puts_processes_under_their_parents() -> None:
    app = make_app(family())
    async with app.run_test(size=SIZE) as pilot:
        assert names(app)[:3] == ["cc1", "cc1", "make"]
        await pilot.press("t")
        assert names(app) == ["systemd", "└─bash", "  └─make", "    ├─cc1", "    └─cc1"]
        assert "tree" in text(app, "#info")
        # The cursor stayed on the process it was on, wherever the tree puts it.
        assert app.query_one("#procs", RankingTable).cursor_row == 3
        await pilot.press("down", "enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.identity == (112, 1120)
        await pilot.press("escape", "t")
        assert names(app)[:3] == ["cc1", "cc1", "make"]


@sync
async def test_kernel_threads_key() -> None:
    app = make_app(family())
    async with app.run_test(size=SIZE) as pilot:
        assert "kworker/0:1" not in names(app)
        await pilot.press("K")
        assert "kworker/0:1" in names(app) and "kthreadd" in names(app)
        assert "kernel threads shown (K)" in text(app, "#info")
        await pilot.press("K")
        assert "kworker/0:1" not in names(app)


@sync
async def test_group_by_app_then_user_and_list_a_groups_processes() -> None:
    app = make_app(family())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        assert names(app)[0] == "make (3)"
        assert "by app" in text(app, "#info")
        await pilot.press("k")  # a group is not a process: nothing to signal
        assert not isinstance(app.screen, SignalScreen)
        assert any("select a process" in n for n in notices(app))
        await pilot.press("enter")  # the app's processes
        assert sorted(names(app)) == ["cc1", "cc1", "make"]
        assert "app: make (Esc: all)" in text(app, "#info")
        await pilot.press("escape")
        assert names(app)[0] == "make (3)"
        await pilot.press("a")
        assert {n.rsplit(" (", 1)[0] for n in names(app)} == {"alice", "root"}
        await pilot.press("a")
        assert names(app)[:3] == ["cc1", "cc1", "make"]


@sync
async def test_the_detail_screen_shows_the_command_line() -> None:
    app = make_app(family())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        assert text(app, "#detail-command") == "Command  cc1 -O2 big.c"
        assert "Command" not in text(app, "#detail-metrics")


@sync
async def test_ctrl_c_quits_even_from_the_filter_box() -> None:
    app = make_app(family())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", "c")
        assert isinstance(app.focused, Input)
        await pilot.press("ctrl+c")
    assert app.return_code == 0


@sync
async def test_keys_typed_in_the_filter_are_text_not_actions() -> None:
    app = make_app(family())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"make -j2")  # k, t, a: letters of the filter
        assert not isinstance(app.screen, SignalScreen)
        assert names(app) == ["make"]  # found by its command line
        assert app.options.tree is False and app.options.by == "process"


# -- acting on real processes ---------------------------------------------------------------


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(["sleep", "300"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def with_sleeper(proc: subprocess.Popen, t: float) -> list:
    """A ranking taken now, with the sleeper at the top."""
    return family(t, extra=[row(proc.pid, 99.0, "sleep", cmdline="sleep 300", start_id=1)])


@sync
async def test_k_sends_sigterm_after_the_dialog(sleeper: subprocess.Popen) -> None:
    now = time.time()
    app = make_app(with_sleeper(sleeper, now), clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k")
        assert isinstance(app.screen, SignalScreen)
        assert f"Send a signal to sleep (pid {sleeper.pid}), user alice?" in str(
            app.screen.query_one(Static).content
        )
        assert app.screen.query_one(OptionList).highlighted == 0  # SIGTERM
        assert sleeper.poll() is None  # nothing sent before Enter
        await pilot.press("enter")
        assert sleeper.wait(10) == -signal.SIGTERM
        assert f"sent SIGTERM to sleep (pid {sleeper.pid})" in notices(app)


@sync
async def test_escape_sends_nothing_and_another_signal_can_be_chosen(
    sleeper: subprocess.Popen,
) -> None:
    now = time.time()
    app = make_app(with_sleeper(sleeper, now), clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k", "escape")
        assert not isinstance(app.screen, SignalScreen)
        assert sleeper.poll() is None
        await pilot.press("k", "down", "down", "down", "enter")  # SIGKILL
        assert sleeper.wait(10) == -signal.SIGKILL


@sync
async def test_a_failed_signal_is_shown_and_the_tui_goes_on(sleeper: subprocess.Popen) -> None:
    now = time.time()
    app = make_app(with_sleeper(sleeper, now), clock=lambda: now)
    sleeper.kill()
    sleeper.wait(10)  # gone before the user acts
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("k", "enter")
        assert any(f"sleep (pid {sleeper.pid}) has exited" in n for n in notices(app))
        assert names(app)[0] == "sleep"  # still running, still showing the tick


@sync
async def test_k_on_the_events_list_signals_nothing(sleeper: subprocess.Popen) -> None:
    now = time.time()
    app = make_app(with_sleeper(sleeper, now), clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "k")
        assert not isinstance(app.screen, SignalScreen)
        assert any("select a process in the list" in n for n in notices(app))


@sync
async def test_replay_refuses_to_act_on_the_past(sleeper: subprocess.Popen) -> None:
    now = time.time()
    rankings = [*with_sleeper(sleeper, now - 1), *with_sleeper(sleeper, now)]
    app = make_app(rankings, clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_square_bracket", "k")
        assert not isinstance(app.screen, SignalScreen)
        assert any("replay shows the past" in n for n in notices(app))
        assert sleeper.poll() is None


@sync
async def test_n_renices_with_the_value_typed(sleeper: subprocess.Popen) -> None:
    import os

    now = time.time()
    app = make_app(with_sleeper(sleeper, now), clock=lambda: now)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, ReniceScreen)
        box = app.screen.query_one(Input)
        assert box.value == "0"  # the current value, to edit
        await pilot.press("backspace", *"42", "enter")
        assert isinstance(app.screen, ReniceScreen)  # refused in the dialog, which stays open
        assert "out of range" in text(app, "#renice-error")
        await pilot.press("backspace", "backspace", "5", "enter")
        assert not isinstance(app.screen, ReniceScreen)
        assert os.getpriority(os.PRIO_PROCESS, sleeper.pid) == 5
        assert any("now runs at nice 5 (was 0)" in n for n in notices(app))
