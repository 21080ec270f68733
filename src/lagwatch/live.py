"""What a running lagwatch knows right now, shared by the recorder, the exporter and the TUI.

The daemon loop is the only writer; readers (HTTP handler threads, the TUI) take a consistent
copy under the lock. Nothing here does I/O.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lagwatch.model import Ranking


@dataclass
class LiveState:
    latest: Ranking | None = None
    sweep_seconds: float | None = None  # how long the last sweep of all processes took
    ticks: int = 0
    pause_events_total: int = 0
    rogue_events_total: int = 0
    recent_events: list[dict[str, Any]] = field(default_factory=list)  # `events --json` objects
    started_at: float | None = None
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

    def add_event(self, event: dict[str, Any], keep: int = 100) -> None:
        with self._lock:
            if event.get("kind") == "pause":
                self.pause_events_total += 1
            elif event.get("kind") == "rogue":
                self.rogue_events_total += 1
            self.recent_events.append(event)
            del self.recent_events[:-keep]

    def replace_event(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """An event grew (a rogue episode's peak, a pause's suspects): readers get a new dict,
        never one that changes while they encode it."""
        with self._lock:
            for i, event in enumerate(self.recent_events):
                if event is old:
                    self.recent_events[i] = new
                    return

    def subscribe(self, listener: Callable[[Ranking], None]) -> None:
        """Call ``listener(ranking)`` after every tick (from the sampling thread: be quick)."""
        with self._lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Ranking], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latest": self.latest,
                "sweep_seconds": self.sweep_seconds,
                "ticks": self.ticks,
                "pause_events_total": self.pause_events_total,
                "rogue_events_total": self.rogue_events_total,
                "recent_events": list(self.recent_events),
                "started_at": self.started_at,
            }
