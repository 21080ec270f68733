"""Pause detection: a loop that wakes late was frozen (unless the machine was asleep).

The loop sleeps in short slices and after each one compares how long it was away on the awake
clock with how long it asked to be away. Lateness beyond the threshold is a pause of that
length. If the sleep-counting clock moved further than the awake clock in the same gap, the
machine slept: that is reported as sleep, never as a pause.

Suspects are ranked from the ring buffer over the seconds before the pause, then completed
with the first ticks after it (the first of which spans the pause itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from lagwatch.daemon.ring import RingBuffer, RingEntry
from lagwatch.events import Event, Suspect, TimelineItem, suspect, timeline_item
from lagwatch.model import Identity, ProcessRow


@dataclass(frozen=True, slots=True)
class Gap:
    kind: str  # "ok" | "pause" | "sleep"
    late_s: float  # awake time beyond what was expected
    slept_s: float  # time the machine spent asleep in the gap


def classify_gap(
    expected_s: float,
    awake_s: float,
    total_s: float,
    threshold_s: float = 2.0,
    sleep_tolerance_s: float = 0.5,
) -> Gap:
    """Judge one gap between two clock readings the loop expected to be ``expected_s`` apart."""
    late = awake_s - expected_s
    slept = max(0.0, total_s - awake_s)
    if slept > sleep_tolerance_s:
        # The machine was asleep: lateness around a wake-up is the machine resuming.
        return Gap("sleep", late, slept)
    if late > threshold_s:
        return Gap("pause", late, slept)
    return Gap("ok", late, slept)


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


def rank_suspects(
    before: list[RingEntry], after: list[RingEntry], limit: int = 5, min_score: float = 1.0
) -> list[Suspect]:
    """The processes most likely behind a pause: mean score over the ticks before it and over
    the ticks after it (a process absent from a tick counts as 0 there), the higher of the two."""
    stats: dict[Identity, dict[str, Any]] = {}
    for phase, entries in (("before", before), ("after", after)):
        for entry in entries:
            for row in entry.rows:
                s = stats.setdefault(
                    row.identity, {"row": row, "peak": -1.0, "before": 0.0, "after": 0.0}
                )
                s[phase] += row.score
                if row.score > s["peak"]:
                    s["peak"], s["row"] = row.score, row
    out = []
    for s in stats.values():
        mb, ma = _mean(s["before"], len(before)), _mean(s["after"], len(after))
        score = max(v for v in (mb, ma, 0.0) if v is not None)
        if score < min_score:
            continue
        peak_row: ProcessRow = s["row"]
        item = suspect(peak_row.pid, peak_row.name, score, peak_row.dominant)
        item["score_before"] = None if mb is None else round(mb, 1)
        item["score_after"] = None if ma is None else round(ma, 1)
        out.append(item)
    out.sort(key=lambda d: (-d["score"], d["pid"]))
    return out[:limit]


def timeline(entries: list[tuple[str, RingEntry]], suspects: list[Suspect]) -> list[TimelineItem]:
    """The suspects' rows tick by tick, each tagged with its phase."""
    pids = {s["pid"] for s in suspects}
    return [
        timeline_item(entry.time, entry.interval_s, phase, row)
        for phase, entry in entries
        for row in entry.rows
        if row.pid in pids
    ]


@dataclass(slots=True)
class _Open:
    event: Event
    before: list[RingEntry]
    after: list[RingEntry] = field(default_factory=list)


class PauseTracker:
    """Turns late wakes into pause events and completes them from the ticks that follow."""

    def __init__(
        self,
        ring: RingBuffer,
        threshold_s: float = 2.0,
        before_s: float = 10.0,
        after_ticks: int = 3,
    ) -> None:
        self.ring = ring
        self.threshold_s = threshold_s
        self.before_s = before_s
        self.after_ticks = after_ticks
        self._open: list[_Open] = []
        self.slept_s = 0.0  # total sleep seen (reported by status, never an event)

    def observe(
        self, expected_s: float, awake_s: float, total_s: float, wall_now: float
    ) -> Event | None:
        gap = classify_gap(expected_s, awake_s, total_s, self.threshold_s)
        if gap.kind == "sleep":
            self.slept_s += gap.slept_s
            return None
        if gap.kind != "pause":
            return None
        start = wall_now - gap.late_s
        before = self.ring.window(start - self.before_s, start)
        event = Event(
            kind="pause",
            start=start,
            end=wall_now,
            duration_s=round(gap.late_s, 3),
            details={
                "expected_s": round(expected_s, 3),
                "awake_s": round(awake_s, 3),
                "slept_s": round(gap.slept_s, 3),
                "threshold_s": self.threshold_s,
                "ticks_before": len(before),
                "ticks_after": 0,
            },
        )
        self._open.append(_Open(event, before))
        return self._complete(self._open[-1])

    def after_tick(self, entry: RingEntry) -> list[Event]:
        """Feed a tick that came after open pauses; returns their new versions."""
        changed = []
        for item in list(self._open):
            item.after.append(entry)
            changed.append(self._complete(item))
            if len(item.after) >= self.after_ticks:
                self._open.remove(item)
        return changed

    def _complete(self, item: _Open) -> Event:
        """Rank the suspects again with what is known now: the event's next version."""
        suspects = rank_suspects(item.before, item.after)
        phases = [("before", e) for e in item.before]
        phases += [("during" if n == 0 else "after", e) for n, e in enumerate(item.after)]
        item.event = replace(
            item.event,
            suspects=suspects,
            timeline=timeline(phases, suspects),
            details={**item.event.details, "ticks_after": len(item.after)},
        )
        return item.event

    @property
    def pending(self) -> list[Event]:
        return [item.event for item in self._open]
