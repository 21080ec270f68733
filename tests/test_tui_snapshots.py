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
