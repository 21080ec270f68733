"""The TUI driven by Textual's Pilot in an 80x24 terminal: keys, panes and replay."""

from __future__ import annotations

import asyncio
import functools

import pytest
from textual.widgets import DataTable, Input, Static, TabbedContent

from fake_rankings import T0, ranking, row
from lagwatch.events import Event
from lagwatch.tui import view
from lagwatch.tui.app import LagwatchApp
from lagwatch.tui.feed import MemoryFeed
from lagwatch.tui.screens import DetailScreen, HelpScreen, WhyScreen
from lagwatch.tui.table import RankingTable

SIZE = (80, 24)
NOW = T0 + 35


pytestmark = pytest.mark.usefixtures("utc")  # times on screen do not depend on the machine


def sync(test):
    """Run an async Pilot test on its own event loop (no async pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def make_ticks(n: int = 30) -> list:
    """A CPU hog, a browser whose memory score grows, and a restricted root daemon."""
    return [
        ranking(
            [
                row(100, 80.0 + i % 5, "stress-ng-cpu", cpu_percent=99.0 + i),
                row(200, 10.0 + i, "firefox", memory_bytes=2 * 2**30, dominant="memory",
                    cpu_percent=3.0),
                row(300, 0.0, "sshd", user="root", restricted=True,
                    disk_read_bytes_per_s=None, cpu_percent=0.0),
            ],
            time=T0 + i,
        )
        for i in range(n)
    ]  # fmt: skip


EVENTS = [
    {"id": 1, "kind": "pause", "start": T0 + 10, "end": T0 + 14, "duration_s": 4.0,
     "suspects": [{"pid": 100, "name": "stress-ng-cpu", "score": 81.0, "dominant": "cpu"}],
     "details": {"expected_s": 0.25},
     "timeline": [{"time": T0 + 9, "interval_s": 1.0, "phase": "before", "pid": 100,
                   "name": "stress-ng-cpu", "score": 80.0, "dominant": "cpu",
                   "cpu_percent": 99.0}]},
    {"id": 2, "kind": "rogue", "start": T0 + 2, "end": None, "duration_s": None,
     "suspects": [{"pid": 100, "name": "stress-ng-cpu", "score": 84.0, "dominant": "cpu"}],
     "details": {"peak_score": 84.0, "peak_time": T0 + 4}},
]  # fmt: skip


def make_app(feed: MemoryFeed | None = None) -> LagwatchApp:
    feed = feed or MemoryFeed(make_ticks(), [Event.from_json(e) for e in EVENTS], label="test data")
    # A long refresh period: tests call app.tick() themselves, so nothing moves on its own.
    return LagwatchApp(feed, clock=lambda: NOW, refresh_s=3600)


def text(app: LagwatchApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).content)


def pids(app: LagwatchApp) -> list[int]:
    table = app.query_one("#procs", RankingTable)
    return [int(table.row_text(i)[0]) for i in range(table.row_count)]


def cell(app: LagwatchApp, row_index: int, key: str) -> str:
    table = app.query_one("#procs", RankingTable)
    keys = [c.key for c in view.COLUMNS]
    return table.row_text(row_index)[keys.index(key)]


@sync
async def test_live_ranking_and_status_line() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert pids(app) == [100, 200, 300]
        mode, info = text(app, "#mode"), text(app, "#info")
        assert mode.startswith("LIVE  14:00:29") and "REPLAY" not in mode
        assert info == "sources: procfs | 3 procs | 1 restricted | sort: score"
        assert cell(app, 0, "score") == "84"
        assert cell(app, 0, "dominant") == "cpu"
        assert cell(app, 1, "memory_bytes") == "2.0G"
        assert cell(app, 2, "name") == "sshd*"  # restricted
        assert cell(app, 2, "disk_read_bytes_per_s") == "-"  # unknown, not zero
        assert cell(app, 0, "trend") == "▇" * 10  # scores 80-84 over the last ticks


@sync
async def test_sort_keys() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")  # score -> cpu
        assert app.sort_key == "cpu"
        assert pids(app) == [100, 200, 300]
        await pilot.press("s")  # -> memory
        assert pids(app)[0] == 200
        assert "sort: memory" in text(app, "#info")
        await pilot.press("S")
        assert app.sort_key == "cpu"


@sync
async def test_filter_by_name_and_clear() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("f", "i", "r")
        assert pids(app) == [200]
        assert "filter: 'fir' (1)" in text(app, "#info")
        await pilot.press("enter")  # keeps the filter, back to the list
        assert isinstance(app.focused, RankingTable) and pids(app) == [200]
        await pilot.press("escape")
        assert pids(app) == [100, 200, 300]
        assert "filter" not in text(app, "#info")


@sync
async def test_replay_steps_back_and_forward_and_is_marked_as_the_past() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_square_bracket")
        assert app.cursor == T0 + 28
        mode = text(app, "#mode")
        assert mode.startswith("REPLAY - the past: 2026-11-25 14:00:28 (7.0s ago)")
        assert app.query_one("#mode").has_class("replay")
        assert cell(app, 0, "score") == "83"  # the ranking of that tick
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.cursor == T0 + 26
        await pilot.press("right_square_bracket")
        assert app.cursor == T0 + 27
        await pilot.press("left_curly_bracket")  # a minute back: only 30 s recorded
        assert app.cursor == T0
        await pilot.press("left_square_bracket")  # nothing before the first tick
        assert app.cursor == T0
        await pilot.press("l")
        assert app.cursor is None
        assert text(app, "#mode").startswith("LIVE")
        assert not app.query_one("#mode").has_class("replay")


@sync
async def test_stepping_back_with_a_single_tick_holds_it() -> None:
    app = make_app(MemoryFeed(make_ticks(1), label="test data"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_square_bracket")
        assert app.cursor == T0  # frozen on the only tick, marked as the past
        assert text(app, "#mode").startswith("REPLAY")
        await pilot.press("left_square_bracket")
        assert app.cursor == T0


@sync
async def test_stepping_forward_past_the_newest_tick_returns_to_live() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_square_bracket", "right_square_bracket")
        assert app.cursor == T0 + 29
        await pilot.press("right_square_bracket")
        assert app.cursor is None


@sync
async def test_new_ticks_do_not_move_a_replayed_view() -> None:
    feed = MemoryFeed(make_ticks(), label="test data")
    app = make_app(feed)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("left_square_bracket")
        feed.push(ranking([row(999, 99.0, "newcomer")], time=T0 + 30))
        app.tick()
        await pilot.pause()
        assert app.cursor == T0 + 28 and 999 not in pids(app)
        await pilot.press("l")
        assert pids(app) == [999]
        feed.push(ranking([row(998, 99.0, "next")], time=T0 + 31))
        app.tick()  # live: follows the feed
        await pilot.pause()
        assert pids(app) == [998]


@sync
async def test_selection_follows_the_process_across_ticks() -> None:
    feed = MemoryFeed(make_ticks(), label="test data")
    app = make_app(feed)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down")  # firefox
        assert app.selected == (200, 2000)
        # firefox overtakes the hog: the cursor moves with it.
        feed.push(ranking([row(100, 50.0), row(200, 90.0, "firefox")], time=T0 + 30))
        app.tick()
        await pilot.pause()
        assert app.query_one("#procs", RankingTable).cursor_row == 0
        assert app.selected == (200, 2000)


@sync
async def test_goto_a_time() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("g")
        await pilot.press(*"20s", "enter")  # 20 s before NOW
        assert app.cursor == T0 + 15
        await pilot.press("g")
        await pilot.press(*"yesterdayish", "enter")
        assert app.cursor == T0 + 15  # a bad time changes nothing (and says why)
        await pilot.press("g")
        await pilot.press(*"14:00:05", "enter")
        assert app.cursor == T0 + 5


@sync
async def test_detail_pane() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        head = text(app, "#detail-head")
        assert head.startswith("stress-ng-cpu (pid 100)  LIVE 2026-11-25 14:00:29")
        metrics = text(app, "#detail-metrics")
        assert "CPU (1 core)" in metrics and "128%" in metrics
        assert "Energy Impact" in metrics and "Restricted" in metrics
        score_chart = text(app, "#detail-score")
        assert score_chart.startswith("Score, last 29.0s  max 84")
        assert "█" in score_chart
        assert text(app, "#detail-dominant").startswith("CPU, last 29.0s  max 128%")
        episodes = text(app, "#detail-episodes")
        assert "#2 from 11-25 14:00:02, still going on, peak 84" in episodes
        # Replaying while the detail is open moves it to the past too.
        await pilot.press("left_square_bracket")
        assert "REPLAY - the past: 2026-11-25 14:00:28" in text(app, "#detail-head")
        assert "127%" in text(app, "#detail-metrics")
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


@sync
async def test_detail_of_a_process_absent_from_the_tick() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        app.feed.push(ranking([row(7, 1.0)], time=T0 + 30))  # the hog exited
        app.tick()
        await pilot.pause()
        assert "Not in this tick" in text(app, "#detail-metrics")


@sync
async def test_events_pane_story_and_replay_of_the_freeze() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        assert app.query_one(TabbedContent).active == "events"
        table = app.query_one("#events-table", DataTable)
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == ["rogue", "pause"]
        await pilot.press("down", "enter")  # the pause
        assert isinstance(app.screen, WhyScreen)
        story = text(app, "#story")
        assert story.startswith("Pause #1: the machine froze for 4.0s")
        assert "1. stress-ng-cpu (pid 100): score 81" in story
        await pilot.press("r")  # see the ranking at the moment of the freeze
        assert not isinstance(app.screen, WhyScreen)
        assert app.query_one(TabbedContent).active == "processes"
        # The freeze began at T0 + 10: the tick at T0 + 10 covers the second before it, the
        # first tick that recorded the culprit during the freeze is T0 + 11.
        assert app.cursor == T0 + 11
        assert text(app, "#mode").startswith("REPLAY - the past: 2026-11-25 14:00:11")


@sync
async def test_story_of_an_event_without_a_recorded_timeline() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "enter")  # the ongoing rogue episode
        story = text(app, "#story")
        assert story.startswith("Rogue episode #2: stress-ng-cpu (pid 100)")
        # `lagwatch why`'s story, told from the ticks this feed holds (no daemon needed).
        assert "---- rogue begins ----" in story
        assert "14:00:03   during  stress-ng-cpu (100)" in story


@sync
async def test_replay_key_on_the_events_list() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "r")  # newest first: the rogue episode from T0 + 2
        assert app.cursor == T0 + 3  # the first tick of the episode, not the one before it


@sync
async def test_empty_feed_and_no_events() -> None:
    app = make_app(MemoryFeed(label="test data"))
    async with app.run_test(size=SIZE) as pilot:
        assert "waiting for the first ranking" in text(app, "#mode")
        await pilot.press("left_square_bracket", "enter", "s")
        assert app.cursor is None
        await pilot.press("e")
        assert "No rogue episodes yet" in text(app, "#events-note")


@sync
async def test_help() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


@sync
async def test_history_feed_has_the_same_screens(tmp_path) -> None:
    from lagwatch.store import Event, Recorder
    from lagwatch.tui.feed import HistoryFeed

    db = tmp_path / "history.db"
    recorder = Recorder(db)
    for r in make_ticks():
        recorder.record(r, 0.01)
    pause = EVENTS[0]
    recorder.save_event(Event("pause", pause["start"], pause["end"], pause["duration_s"],
                              pause["suspects"], timeline=pause["timeline"]))  # fmt: skip
    recorder.close()
    feed = HistoryFeed(db)
    app = LagwatchApp(feed, clock=lambda: NOW, refresh_s=3600)
    try:
        async with app.run_test(size=SIZE) as pilot:
            assert pids(app) == [100, 200]  # what the daemon recorded
            assert "2 recorded of 3 procs" in text(app, "#info")
            assert "no daemon is recording" in text(app, "#info")
            await pilot.press("left_square_bracket")
            assert app.cursor == T0 + 28
            await pilot.press("enter")
            assert isinstance(app.screen, DetailScreen)
            assert "█" in text(app, "#detail-score")
            await pilot.press("e", "enter")
            assert text(app, "#story").startswith("Pause #1")
    finally:
        feed.close()


@sync
async def test_a_malformed_event_does_not_take_the_tui_down() -> None:
    # A timeline row without its keys (a record from who knows where).
    broken = Event("pause", T0, T0 + 1, 1.0, timeline=[{"time": T0}], id=7)
    app = make_app(MemoryFeed(make_ticks(), [broken], label="test data"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "enter")
        assert isinstance(app.screen, WhyScreen)
        assert "Cannot tell the story of event #7" in text(app, "#story")
        await pilot.press("escape", "p")
        assert pids(app) == [100, 200, 300]
