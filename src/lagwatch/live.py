"""What a running daemon knows right now, shared by its loop and the exporter.

The daemon loop is the only writer; readers (HTTP handler threads) take a consistent copy under
the lock. Events are immutable, so a copy of the list is a copy of what they said. Nothing here
does I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict

from lagwatch.events import Event
from lagwatch.model import Ranking


class LiveSnapshot(TypedDict):
    latest: Ranking | None
    sweep_seconds: float | None
    ticks: int
    pause_events_total: int
    rogue_events_total: int
    pressure_events_total: int
    recent_events: list[Event]
    started_at: float | None
    store_dropped_rankings_total: int
    read_warnings_total: int


@dataclass
class LiveState:
    latest: Ranking | None = None
    sweep_seconds: float | None = None  # how long the last sweep of all processes took
    ticks: int = 0
    pause_events_total: int = 0
    rogue_events_total: int = 0
    pressure_events_total: int = 0
    recent_events: list[Event] = field(default_factory=list)  # oldest first
    started_at: float | None = None
    # Rankings the history could not take (its write queue was full), and warnings the
    # sources gave while reading processes: what was lost is counted, never silently dropped.
    store_dropped_rankings_total: int = 0
    read_warnings_total: int = 0
    _newest_key: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _listeners: list[Callable[[Ranking], None]] = field(default_factory=list, repr=False)

    def publish(self, ranking: Ranking, sweep_seconds: float) -> None:
        with self._lock:
            self.latest = ranking
            self.sweep_seconds = sweep_seconds
            self.ticks += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(ranking)

    def count_losses(self, store_dropped_rankings: int, read_warnings: int) -> None:
        with self._lock:
            self.store_dropped_rankings_total = store_dropped_rankings
            self.read_warnings_total = read_warnings

    def add_event(self, event: Event, keep: int = 100) -> bool:
        """Hold the newest version of an event: it replaces the version held with the same key,
        or, for an event not seen before, is added and counted. True when it is new.

        An update of an event already let go (more than ``keep`` newer ones came after it) is
        dropped: keys grow with creation, so it is older than the newest key seen."""
        with self._lock:
            for i, held in enumerate(self.recent_events):
                if held.key == event.key:
                    self.recent_events[i] = event
                    return False
            if event.key <= self._newest_key:
                return False
            self._newest_key = event.key
            if event.kind == "pause":
                self.pause_events_total += 1
            elif event.kind == "rogue":
                self.rogue_events_total += 1
            elif event.kind == "pressure":
                self.pressure_events_total += 1
            self.recent_events.append(event)
            del self.recent_events[:-keep]
            return True

    def events(self, since: float | None = None) -> list[Event]:
        """The recent events still going on at ``since`` or started or ended after it."""
        with self._lock:
            events = list(self.recent_events)
        return events if since is None else [e for e in events if e.active_since(since)]

    def subscribe(self, listener: Callable[[Ranking], None]) -> None:
        """Call ``listener(ranking)`` after every tick (from the sampling thread: be quick)."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Ranking], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def snapshot(self) -> LiveSnapshot:
        with self._lock:
            return {
                "latest": self.latest,
                "sweep_seconds": self.sweep_seconds,
                "ticks": self.ticks,
                "pause_events_total": self.pause_events_total,
                "rogue_events_total": self.rogue_events_total,
                "pressure_events_total": self.pressure_events_total,
                "recent_events": list(self.recent_events),
                "started_at": self.started_at,
                "store_dropped_rankings_total": self.store_dropped_rankings_total,
                "read_warnings_total": self.read_warnings_total,
            }
