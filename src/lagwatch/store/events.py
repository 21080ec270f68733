"""An event (a pause or a rogue episode) as the daemon builds it and `events --json` prints it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    kind: str  # "pause" | "rogue"
    start: float  # unix seconds
    end: float | None  # None while a rogue episode goes on
    duration_s: float | None
    suspects: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    # The suspects' metrics around the event (from the ring buffer), for `why`.
    timeline: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None  # assigned by the database when first written

    @property
    def ongoing(self) -> bool:
        return self.end is None

    def to_json(self) -> dict[str, Any]:
        return event_json(
            self.id, self.kind, self.start, self.end, self.duration_s, self.suspects, self.details
        )


def event_json(
    event_id: int | None,
    kind: str,
    start: float,
    end: float | None,
    duration_s: float | None,
    suspects: list[dict[str, Any]],
    details: dict[str, Any] | None,
) -> dict[str, Any]:
    """The `events --json` object: the issue's keys first, then what helps read it."""
    return {
        "id": event_id,
        "kind": kind,
        "start": round(start, 3),
        "end": None if end is None else round(end, 3),
        "duration_s": None if duration_s is None else round(duration_s, 2),
        "suspects": suspects,
        "ongoing": end is None,
        "details": details or {},
    }


def suspect_json(pid: int, name: str, score: float, dominant: str | None) -> dict[str, Any]:
    return {"pid": pid, "name": name, "score": round(score, 1), "dominant": dominant}


def describe(event: dict[str, Any]) -> str:
    """One line naming what happened and who is to blame."""
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
