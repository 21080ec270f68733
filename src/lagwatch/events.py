"""Pauses and rogue episodes: the one Event type the daemon builds, the store writes and reads
back, and every interface shows; and the timeline rows `why` tells an event's story with.

An Event is an immutable value. Whoever follows an event as it grows (the trackers) builds the
next version with :func:`dataclasses.replace`, which keeps its ``key``: holders of events
(LiveState, the TUI's feeds, the writer's queue) replace the version they hold by that key.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, Protocol, TypedDict, cast

from lagwatch.catalogue import TIMELINE_KEYS
from lagwatch.model import ProcessRow

__all__ = [
    "CUT_SHORT",
    "EVENT_COLUMNS",
    "TIMELINE_KEYS",
    "Event",
    "EventDetails",
    "EventLog",
    "Suspect",
    "TimelineItem",
    "suspect",
    "timeline_item",
]

# The events table's columns, in the order from_row() reads them (timeline may be left out).
EVENT_COLUMNS: tuple[str, ...] = (
    "id",
    "kind",
    "start",
    "end",
    "duration_s",
    "suspects",
    "details",
    "timeline",
)


class Suspect(TypedDict):
    pid: int
    name: str
    score: float
    dominant: str | None
    # Pauses only: the mean score over the ticks before and after it (None: no such tick).
    score_before: NotRequired[float | None]
    score_after: NotRequired[float | None]
    # Pressure events only: the suspect's mean figures for that resource over the event.
    resource_use: NotRequired[dict[str, float]]


class EventDetails(TypedDict, total=False):
    """Kind-specific facts; a record holds those its kind and version wrote, nothing else."""

    # pause: the clocks that showed it
    expected_s: float
    awake_s: float
    slept_s: float
    threshold_s: float
    ticks_before: int
    ticks_after: int
    # rogue: the process and its worst tick
    pid: int
    name: str
    start_id: int
    peak_score: float
    peak_time: float
    dominant: str | None
    peak: dict[str, Any]
    enter: float
    exit: float
    # pressure (lagwatch.daemon.pressure): the resource and how much it was stalled
    resource: str
    pressure_percent: float | None
    pressure_stat: str
    peak_percent: float | None
    enter_percent: float | None
    exit_percent: float | None
    level: str
    cgroups: dict[str, float]
    # why it ended: "calmed", "exited", "daemon stopped", "daemon died"
    ended: str


# One row of a timeline: time, interval_s, phase, pid, name, score, dominant and TIMELINE_KEYS.
# Timelines kept in memory by older versions may lack interval_s.
TimelineItem = dict[str, Any]


def suspect(pid: int, name: str, score: float, dominant: str | None) -> Suspect:
    return {"pid": pid, "name": name, "score": round(score, 1), "dominant": dominant}


def timeline_item(time: float, interval_s: float, phase: str, row: ProcessRow) -> TimelineItem:
    """A suspect's row at one tick, as the daemon keeps it and `why` prints it."""
    item: TimelineItem = {
        "time": round(time, 3),
        "interval_s": round(interval_s, 3),
        "phase": phase,
        "pid": row.pid,
        "name": row.name,
        "score": row.score,
        "dominant": row.dominant,
    }
    for key in TIMELINE_KEYS:
        item[key] = getattr(row, key)
    return item


# Endings that are lagwatch's own (the daemon stopped or died), not the event's.
CUT_SHORT: frozenset[str] = frozenset({"daemon stopped", "daemon died"})

# Keys grow with creation, so a holder can tell a newer event from an update of one it has
# already let go (see LiveState.add_event). next() on a count is atomic under the GIL.
_keys = itertools.count(1)


def _new_key() -> int:
    return next(_keys)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # "pause" | "rogue" | "pressure"
    start: float  # unix seconds
    end: float | None  # None while a rogue episode or a pressure event goes on
    duration_s: float | None
    suspects: list[Suspect] = field(default_factory=list)
    details: EventDetails = field(default_factory=lambda: EventDetails())
    # The suspects' metrics around the event (from the ring buffer), for `why`; empty when not
    # recorded or not read (History.events() leaves it out, History.event() reads it).
    timeline: list[TimelineItem] = field(default_factory=list)
    id: int | None = None  # the database's, once written (or the TUI's own numbering)
    # Which event this is a version of: kept by dataclasses.replace, new for every Event().
    key: int = field(default_factory=_new_key, compare=False)

    @property
    def ongoing(self) -> bool:
        return self.end is None

    @property
    def peak_score(self) -> float | None:
        return _number(self.details.get("peak_score"))

    @property
    def peak_time(self) -> float | None:
        return _number(self.details.get("peak_time"))

    @property
    def peak_dominant(self) -> str | None:
        value = self.details.get("dominant")
        return value if isinstance(value, str) else None

    def pressure_text(self) -> str:
        """ "cpu 62% (mean)" or "memory warning": what a pressure event measured."""
        d = self.details
        resource = d.get("resource") or "?"
        level = d.get("level")
        percent = _number(d.get("pressure_percent"))
        if percent is not None:
            return f"{resource} {percent:.0f}% ({d.get('pressure_stat', 'mean')})"
        return f"{resource} {level}" if isinstance(level, str) else str(resource)

    @property
    def ended(self) -> str | None:
        value = self.details.get("ended")
        return value if isinstance(value, str) else None

    @property
    def cut_short(self) -> bool:
        """Ended by lagwatch stopping, not by the process or the machine: it may have gone on
        unseen."""
        return self.ended in CUT_SHORT

    def ending(self) -> str:
        """How it ended, as a story says it: "is still going on", "ended (calmed)", or that
        the daemon stopped watching."""
        if self.end is None:
            return "is still going on"
        if self.ended == "daemon stopped":
            return "was cut short: the daemon stopped, nothing was watched after that"
        if self.ended == "daemon died":
            return "was cut short: the daemon died, nothing was watched after that"
        return f"ended ({self.ended or 'ended'})"

    def active_since(self, since: float) -> bool:
        """Still going on at ``since``, or started or ended then or later."""
        return self.end is None or max(self.start, self.end) >= since

    def blames(self, pid: int, name: str | None = None) -> bool:
        return any(s["pid"] == pid and (name is None or s["name"] == name) for s in self.suspects)

    # -- conversions -----------------------------------------------------------------------

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Event:
        """From an events row, columns in EVENT_COLUMNS order (the timeline may be left out)."""
        eid, kind, start, end, duration_s, suspects, details = row[:7]
        timeline = row[7] if len(row) > 7 else None
        return cls(
            kind=kind,
            start=start,
            end=end,
            duration_s=duration_s,
            suspects=json.loads(suspects) if suspects else [],
            details=json.loads(details) if details else {},
            timeline=json.loads(timeline) if timeline else [],
            id=eid,
        )

    def to_row(self) -> tuple[Any, ...]:
        """The columns after ``id``, as the writer stores them."""
        return (
            self.kind,
            self.start,
            self.end,
            self.duration_s,
            json.dumps(self.suspects),
            json.dumps(self.details, default=str),
            json.dumps(self.timeline, default=str) if self.timeline else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The `events --json` / `/api/events` object: the issue's keys first, then what helps
        read it. No timeline (`why --json` prints it beside the event). A pressure event also
        has ``resource`` and ``pressure_percent`` (copies of its details') at the top."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "start": round(self.start, 3),
            "end": None if self.end is None else round(self.end, 3),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 2),
            "suspects": list(self.suspects),
            "ongoing": self.end is None,
            "details": dict(self.details),
        }
        if self.kind == "pressure":
            out["resource"] = self.details.get("resource")
            out["pressure_percent"] = self.details.get("pressure_percent")
        # Added keys: why it ended (details' "ended", null while it goes on or when not
        # recorded), and whether that was lagwatch stopping rather than the event ending.
        out["ended"] = self.ended if self.end is not None else None
        out["cut_short"] = self.end is not None and self.cut_short
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        """From a `events --json` object (with its ``timeline`` if it has one). The values are
        taken as they are: to_json() of the result gives the object back."""
        return cls(
            kind=data["kind"],
            start=data["start"],
            end=data.get("end"),
            duration_s=data.get("duration_s"),
            suspects=list(data.get("suspects") or []),
            details=cast(EventDetails, dict(data.get("details") or {})),
            timeline=list(data.get("timeline") or []),
            id=data.get("id"),
        )

    def describe(self) -> str:
        """One line naming what happened and who is to blame."""
        top = self.suspects[0] if self.suspects else None
        who = (
            f"{top['name']} (pid {top['pid']}, score {top['score']:.0f}, {top['dominant'] or '?'})"
            if top
            else "no process stood out"
        )
        # Rounded as `events --json` shows it first, so both never disagree in the last digit.
        dur = None if self.duration_s is None else round(self.duration_s, 2)
        dur_text = "?" if dur is None else f"{dur:.1f}s"
        if self.kind == "pause":
            return f"pause of {dur_text}; suspect: {who}"
        state = "ongoing, " if self.ongoing else ""
        cut = f" (cut short: {self.ended})" if self.end is not None and self.cut_short else ""
        if self.kind == "pressure":
            return f"{self.pressure_text()} pressure: {state}{dur_text}{cut}; suspect: {who}"
        peak = self.peak_score
        peak_text = "" if peak is None else f", peak {peak:.0f}"
        return f"rogue {who}: {state}{dur_text}{peak_text}{cut}"


class EventLog(Protocol):
    """Anything that lists events: the history database, a running daemon's state, a feed."""

    def events(self, since: float | None = None) -> list[Event]:
        """Events still going on at ``since`` or started or ended after it, oldest first."""
        ...
