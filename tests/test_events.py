"""The one Event type: a stored row read back gives exactly the `events --json` object the code
before it printed, every conversion round-trips, and holders replace versions by key."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lagwatch.catalogue import TIMELINE_KEYS
from lagwatch.events import EVENT_COLUMNS, Event, timeline_item
from lagwatch.live import LiveState
from lagwatch.model import ProcessRow
from lagwatch.store import History, Recorder

T0 = 1_800_000_000.0


# -- the code path before Event existed (store/events.py and store/reader.py at 2c1657c) ------


def old_event_json(values: tuple) -> dict[str, Any]:
    eid, kind, start, end, duration_s, suspects, details = values[:7]
    suspects = json.loads(suspects) if suspects else []
    details = json.loads(details) if details else {}
    return {
        "id": eid,
        "kind": kind,
        "start": round(start, 3),
        "end": None if end is None else round(end, 3),
        "duration_s": None if duration_s is None else round(duration_s, 2),
        "suspects": suspects,
        "ongoing": end is None,
        "details": details or {},
    }


def with_added_keys(old: dict[str, Any]) -> dict[str, Any]:
    """The old object and the keys added since (the contract grows only by adding keys): why
    it ended, and whether lagwatch stopping cut it short."""
    ended = None if old["ongoing"] else old["details"].get("ended")
    return {**old, "ended": ended, "cut_short": ended in ("daemon stopped", "daemon died")}


def old_describe(event: dict[str, Any]) -> str:
    top = event["suspects"][0] if event["suspects"] else None
    who = (
        f"{top['name']} (pid {top['pid']}, score {top['score']:.0f}, {top['dominant'] or '?'})"
        if top
        else "no process stood out"
    )
    dur = event.get("duration_s")
    dur_text = "?" if dur is None else f"{dur:.1f}s"
    if event["kind"] == "pause":
        return f"pause of {dur_text}; suspect: {who}"
    state = "ongoing, " if event.get("ongoing") else ""
    peak = event.get("details", {}).get("peak_score")
    peak_text = f", peak {peak:.0f}" if isinstance(peak, int | float) else ""
    return f"rogue {who}: {state}{dur_text}{peak_text}"


PAUSE_SUSPECT = {"pid": 7, "name": 'we"ird\nname', "score": 81.3, "dominant": "cpu",
                 "score_before": 80.0, "score_after": None}  # fmt: skip
ROGUE_SUSPECT = {"pid": 9, "name": "hog", "score": 95.0, "dominant": "disk"}


def recorded(tmp_path: Path) -> Path:
    """A history holding every shape of event the daemon writes, plus a v1-style row."""
    db = tmp_path / "h.db"
    rec = Recorder(db)
    pause = Event("pause", T0 + 0.123456789, T0 + 4.1289, 4.005499, [PAUSE_SUSPECT],
                  {"expected_s": 0.25, "awake_s": 4.255, "slept_s": 0.0, "threshold_s": 2.0,
                   "ticks_before": 10, "ticks_after": 3},
                  [{"time": T0, "interval_s": 1.0, "phase": "before", "pid": 7}])  # fmt: skip
    ongoing = Event("rogue", T0 + 10, None, 12.3456, [ROGUE_SUSPECT],
                    {"pid": 9, "peak_score": 95.0, "peak_time": T0 + 12, "dominant": "disk",
                     "peak": {"pid": 9, "cpu_percent": None}})  # fmt: skip
    calmed = Event("rogue", T0 + 20, T0 + 30.00049, 10.0, [ROGUE_SUSPECT],
                   {"peak_score": 60, "ended": "calmed"})  # fmt: skip
    for event in (pause, ongoing, calmed):
        rec.save_event(event)
    rec.close()
    conn = sqlite3.connect(db, isolation_level=None)
    # What schema v1 allowed: no details, no timeline; and what close_dangling writes.
    conn.execute(
        "INSERT INTO events (kind, start, end, duration_s, suspects) VALUES ('pause', ?, ?, "
        "NULL, '[]')",
        (T0 + 40, T0 + 43),
    )
    conn.execute(
        "INSERT INTO events (kind, start, end, duration_s, suspects, details) VALUES "
        "('rogue', ?, ?, 3.0, '[]', json_set('{}', '$.ended', 'daemon died'))",
        (T0 + 50, T0 + 53),
    )
    conn.close()
    return db


def raw_rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id").fetchall()
    finally:
        conn.close()


def test_rows_read_back_as_the_json_the_old_code_printed(tmp_path: Path) -> None:
    db = recorded(tmp_path)
    rows = raw_rows(db)
    assert len(rows) == 5
    for values in rows:
        new = Event.from_row(values).to_json()
        old = old_event_json(values)
        assert with_added_keys(old) == new
        assert list(new)[: len(old)] == list(old)  # the old keys first, in the same order
        cut = " (cut short: daemon died)" if old["details"].get("ended") == "daemon died" else ""
        assert Event.from_row(values).describe() == old_describe(old) + cut
    with History(db) as h:
        assert [e.to_json() for e in h.events()] == [
            with_added_keys(old_event_json(v)) for v in rows
        ]
        assert h.event(1).timeline == json.loads(rows[0][7])
        assert h.events()[0].timeline == []  # lists leave timelines out


def test_typed_accessors_replace_the_details_chains(tmp_path: Path) -> None:
    events = [Event.from_row(v) for v in raw_rows(recorded(tmp_path))]
    pause, ongoing, calmed, v1, died = events
    assert (ongoing.peak_score, ongoing.peak_time, ongoing.peak_dominant) == (95.0, T0 + 12, "disk")
    assert ongoing.ended is None and ongoing.ongoing
    assert calmed.peak_score == 60.0 and calmed.ended == "calmed" and calmed.peak_time is None
    assert pause.peak_score is None and v1.details == {} and died.ended == "daemon died"
    assert calmed.blames(9, "hog") and calmed.blames(9) and not calmed.blames(9, "other")


def test_timeline_item_is_the_shape_why_prints() -> None:
    row = ProcessRow(pid=3, ppid=1, name="x", user="u", state="running", restricted=False,
                     memory_bytes=1 << 20, threads=1, cpu_percent=12.5, score=40.0,
                     dominant="cpu")  # fmt: skip
    item = timeline_item(T0 + 0.12345, 1.00049, "during", row)
    assert list(item) == [
        "time", "interval_s", "phase", "pid", "name", "score", "dominant", *TIMELINE_KEYS
    ]  # fmt: skip
    assert item["time"] == round(T0 + 0.12345, 3) and item["interval_s"] == 1.0
    assert item["cpu_percent"] == 12.5 and item["gpu_percent"] is None  # unknown stays null


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
names = st.text(max_size=12)
suspects = st.lists(
    st.fixed_dictionaries(
        {"pid": st.integers(0, 2**31), "name": names, "score": finite,
         "dominant": st.none() | st.sampled_from(["cpu", "memory", "disk"])},
        optional={"score_before": st.none() | finite, "score_after": st.none() | finite},
    ),
    max_size=3,
)  # fmt: skip
details = st.dictionaries(
    st.sampled_from(["peak_score", "peak_time", "ended", "ticks_after", "slept_s"]),
    st.none() | finite | names | st.integers(),
    max_size=4,
)
events = st.builds(
    Event,
    kind=st.sampled_from(["pause", "rogue"]),
    start=finite,
    end=st.none() | finite,
    duration_s=st.none() | finite,
    suspects=suspects,
    details=details,
    timeline=st.lists(st.fixed_dictionaries({"time": finite, "pid": st.integers(0, 99)}),
                      max_size=2),
    id=st.none() | st.integers(1, 2**40),
)  # fmt: skip


@given(events, st.integers(1, 2**40))
def test_every_conversion_round_trips(event: Event, row_id: int) -> None:
    assert Event.from_row((row_id, *event.to_row())) == replace(event, id=row_id)
    assert Event.from_json(json.loads(json.dumps(event.to_json()))).to_json() == event.to_json()
    # The JSON a holder serves is a copy: changing it changes nothing held.
    data = event.to_json()
    data["suspects"].append({})
    data["details"]["x"] = 1
    assert event.to_json() != data


def test_versions_keep_their_key_and_new_events_get_a_new_one() -> None:
    first = Event("rogue", T0, None, None)
    later = replace(first, duration_s=5.0, end=T0 + 5)
    other = Event("rogue", T0, None, None)
    assert later.key == first.key and other.key > first.key
    assert other == first  # same content; the key is which event, not what it says


def test_live_state_replaces_versions_by_key_and_counts_each_event_once() -> None:
    state = LiveState()
    pause = Event("pause", T0, T0 + 3, 3.0)
    rogue = Event("rogue", T0 + 1, None, None)
    assert state.add_event(pause) and state.add_event(rogue)
    done = replace(rogue, end=T0 + 9, duration_s=8.0, id=4)
    assert not state.add_event(done)  # a newer version: replaces, counts nothing
    assert state.events() == [pause, done] and state.events()[1].id == 4
    assert (state.pause_events_total, state.rogue_events_total) == (1, 1)
    assert state.events(since=T0 + 5) == [done]  # ended after that time
    # Three newer events push the rogue out of a list of two: its later versions stay out.
    for k in range(3):
        state.add_event(Event("pause", T0 + 10 + k, T0 + 11 + k, 1.0), keep=2)
    assert not state.add_event(replace(done, duration_s=9.0), keep=2)
    assert all(e.key != rogue.key for e in state.events())
    assert (state.pause_events_total, state.rogue_events_total) == (4, 1)
