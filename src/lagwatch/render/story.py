"""The story of one event for `lagwatch why`: who, and their metrics before, during and after."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from lagwatch.catalogue import BY_KEY
from lagwatch.events import Event, TimelineItem, timeline_item
from lagwatch.model import ProcessRow, Ranking
from lagwatch.render.header import machine_lines
from lagwatch.units import human_duration

PHASES = ("before", "during", "after")


class ProcessRowHistory(Protocol):
    """Where the recorded rows of a story come from: History, or a TUI feed's memory."""

    def process_rows(
        self, pids: list[int], since: float, until: float
    ) -> list[tuple[float, float, ProcessRow]]:
        """(tick time, tick interval, row) of these pids in [since, until], in time order."""
        ...

    def ranking_at(self, t: float) -> Ranking | None:
        """The tick at or just before ``t``."""
        ...


@dataclass(frozen=True, slots=True)
class Story:
    event: Event
    timeline: list[TimelineItem]  # thinned
    timeline_rows_total: int  # before thinning
    # The machine at the event's last tick (a pause: the one read after it): its time and
    # ``system`` (CPU, memory, load, pressure of that moment), where recorded.
    machine_time: float | None = None
    machine: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """`why --json`: the event as `events --json` prints it, then its timeline."""
        return {
            "event": self.event.to_json(),
            "timeline": self.timeline,
            "timeline_rows_total": self.timeline_rows_total,
            "machine": None
            if self.machine is None
            else {"time": round(self.machine_time or 0.0, 3), "system": self.machine},
        }


def phase_of(t: float, interval_s: float, start: float, end: float) -> str:
    """A tick at ``t`` covers (t - interval, t]: during if that overlaps the event."""
    if t <= start:
        return "before"
    if t - interval_s >= end:
        return "after"
    return "during"


def db_timeline(history: ProcessRowHistory, event: Event, before_s: float, after_s: float,
                now: float | None = None) -> list[TimelineItem]:  # fmt: skip
    """The suspects' recorded rows around the event, from the database."""
    # The times `events --json` shows (rounded): the phases agree with what is printed.
    start = round(event.start, 3)
    end = round(event.end, 3) if event.end is not None else (now or time.time())
    pids = [s["pid"] for s in event.suspects]
    return [
        timeline_item(t, interval_s, phase_of(t, interval_s, start, end), row)
        for t, interval_s, row in history.process_rows(pids, start - before_s, end + after_s)
    ]


def thin_timeline(items: list[TimelineItem], per_phase: int = 12) -> list[TimelineItem]:
    """At most ``per_phase`` rows per process and phase, evenly spread, always with the peak."""
    groups: dict[tuple[int, str], list[TimelineItem]] = {}
    for item in items:
        groups.setdefault((item["pid"], item["phase"]), []).append(item)
    keep: set[int] = set()
    for rows in groups.values():
        if len(rows) <= per_phase:
            keep.update(id(r) for r in rows)
            continue
        step = (len(rows) - 1) / (per_phase - 2)
        keep.update(id(rows[round(i * step)]) for i in range(per_phase - 1))
        keep.add(id(max(rows, key=lambda r: r["score"])))
    return [item for item in items if id(item) in keep]


def build_story(
    event: Event, history: ProcessRowHistory | None = None, before_s: float = 10.0,
    after_s: float = 10.0, per_phase: int = 12,
) -> Story:  # fmt: skip
    """Event + timeline. A pause carries its own timeline (from the daemon's ring buffer, which
    holds more than what was recorded); other events are read back from history."""
    items = list(event.timeline)
    if not items and history is not None and event.suspects:
        items = db_timeline(history, event, before_s, after_s)
    items.sort(key=lambda i: (i["time"], -i["score"], i["pid"]))
    story = Story(event, thin_timeline(items, per_phase), len(items))
    if history is not None:
        at = float("inf") if event.end is None else event.end
        if event.kind == "pause" and event.end is not None:
            # The tick that ended a pause is read just after the wake (``end``), within one
            # interval: its figures cover the frozen time.
            at += float(event.details.get("expected_s") or 1.0)
        moment = history.ranking_at(at)
        # Only a tick of the event's own time (not one from before a long gap in recording).
        if moment is not None and moment.time >= event.start - 2 * moment.interval_s:
            story = replace(story, machine_time=moment.time, machine=dict(moment.system))
    return story


def _clock(t: float, ref: float) -> str:
    dt = datetime.fromtimestamp(t)
    same_day = datetime.fromtimestamp(ref).date() == dt.date()
    return dt.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")


# The timeline's metric columns: the catalogue's, in its formats (the same text as `top`).
_TIMELINE_METRICS = tuple(
    BY_KEY[k]
    for k in ("cpu_percent", "memory_bytes", "disk_read_bytes_per_s", "disk_write_bytes_per_s",
              "pageins_per_s", "wakeups_per_s")
)  # fmt: skip


def _cells(item: TimelineItem) -> list[str]:
    return [
        f"{item['score']:.0f}",
        item.get("dominant") or "-",
        *(m.format(item.get(m.key)) for m in _TIMELINE_METRICS),
    ]


_HEAD = ["SCORE", "BLAME", *(m.header for m in _TIMELINE_METRICS)]
_WIDTHS = [5, 8, *(max(len(m.header), m.width) for m in _TIMELINE_METRICS)]


def _pressure_line(ev: Event) -> str:
    """How stalled the resource was, and the cgroups that felt it most."""
    d = ev.details
    mean, peak = d.get("pressure_percent"), d.get("peak_percent")
    if isinstance(mean, int | float):
        text = f"Some task was stalled {mean:.0f}% of the time on average"
        if isinstance(peak, int | float):
            text += f", {peak:.0f}% at worst"
        text += f" (threshold {d.get('enter_percent', '?')}%)."
    else:
        text = f"The system reported {d.get('level', '?')} memory pressure."
    groups = d.get("cgroups")
    if isinstance(groups, dict) and groups:
        text += (
            " Most stalled cgroups: "
            + ", ".join(f"{name} {p:.0f}%" for name, p in list(groups.items())[:3])
            + "."
        )
    return text


def render_story(story: Story, now: float | None = None) -> str:
    now = time.time() if now is None else now
    ev = story.event
    # The values `why --json` shows (rounded), so the text never disagrees with it.
    start = round(ev.start, 3)
    end = None if ev.end is None else round(ev.end, 3)
    dur = None if ev.duration_s is None else round(ev.duration_s, 2)
    dur_text = "?" if dur is None else human_duration(dur)
    ago = human_duration(now - (end if end is not None else now))
    when = f"{_clock(start, now)} to {_clock(end, now) if end else 'now'}"
    lines: list[str] = []
    if ev.kind == "pause":
        lines.append(f"Pause #{ev.id}: the machine froze for {dur_text}, {when} ({ago} ago).")
        lines.append(
            "The daemon woke up that much later than it asked to, and the machine was not asleep."
        )
    elif ev.kind == "pressure":
        resource = ev.details.get("resource") or "?"
        state = ev.ending()
        lines.append(
            f"Pressure #{ev.id}: tasks waited for {resource} for {dur_text}, {when}; it {state}."
        )
        lines.append(_pressure_line(ev))
    else:
        top = ev.suspects[0] if ev.suspects else None
        name, pid = (top["name"], top["pid"]) if top else ("?", "?")
        state = ev.ending()
        lines.append(
            f"Rogue episode #{ev.id}: {name} (pid {pid}) stressed the machine "
            f"for {dur_text}, {when}; it {state}."
        )
        if ev.peak_score is not None:
            peak_time = ev.peak_time if ev.peak_time is not None else start
            lines.append(
                f"Peak score {ev.peak_score:.0f} ({ev.peak_dominant or '?'}) at "
                f"{_clock(peak_time, now)}."
            )
    # One line: the CPU as its total (the per-core bars are the TUI's).
    moment = {k: v for k, v in (story.machine or {}).items() if k != "cpu_busy_percent_per_core"}
    figures = machine_lines(moment, 200)
    if figures and story.machine_time is not None:
        lines.append(
            f"The machine at {_clock(story.machine_time, now)}: "
            + " | ".join(line.plain for line in figures)
        )
    lines.append("")
    if ev.suspects:
        lines.append("Suspects:")
        for n, s in enumerate(ev.suspects, start=1):
            extra = ""
            if s.get("score_before") is not None or s.get("score_after") is not None:
                b, a = s.get("score_before"), s.get("score_after")
                extra = (
                    f" (before {'-' if b is None else f'{b:.0f}'},"
                    f" after {'-' if a is None else f'{a:.0f}'})"
                )
            if s.get("resource_use"):
                extra = (
                    " (mean " + ", ".join(f"{k} {v:g}" for k, v in s["resource_use"].items()) + ")"
                )
            lines.append(
                f"  {n}. {s['name']} (pid {s['pid']}): score {s['score']:.0f}, "
                f"{s['dominant'] or '?'}{extra}"
            )
    else:
        lines.append(
            "No process stood out before or after it: the cause may be outside any one process "
            "(kernel, hypervisor, thermal throttling or hardware)."
        )
    items = story.timeline
    if items:
        lines.append("")
        lines.append("Timeline:")
        name_w = max(len(f"{i['name'][:20]} ({i['pid']})") for i in items)
        head = f"  {'TIME':<10} {'PHASE':<7} {'PROCESS':<{name_w}} " + " ".join(
            f"{h:>{w}}" for h, w in zip(_HEAD, _WIDTHS, strict=True)
        )
        lines.append(head)
        marked_start = marked_end = False
        for item in items:
            if not marked_start and item["time"] > start:
                lines.append(f"  {_clock(start, now):<10} ---- {ev.kind} begins ----")
                marked_start = True
            # Timelines from memory (the TUI without a daemon) may not carry interval_s.
            sample_start = item["time"] - item.get("interval_s", 0.0)
            if end is not None and not marked_end and sample_start >= end:
                lines.append(f"  {_clock(end, now):<10} ---- {ev.kind} ends ({dur_text}) ----")
                marked_end = True
            proc = f"{item['name'][:20]} ({item['pid']})"
            cells = " ".join(f"{c:>{w}}" for c, w in zip(_cells(item), _WIDTHS, strict=True))
            lines.append(
                f"  {_clock(item['time'], now):<10} {item['phase']:<7} {proc:<{name_w}} {cells}"
            )
        if not marked_start:
            lines.append(f"  {_clock(start, now):<10} ---- {ev.kind} begins ----")
        if end is not None and not marked_end:
            lines.append(f"  {_clock(end, now):<10} ---- {ev.kind} ends ({dur_text}) ----")
        if story.timeline_rows_total > len(items):
            lines.append(
                f"  ({len(items)} of {story.timeline_rows_total} rows shown, evenly spread "
                "with each peak; `lagwatch history --pid N` has every recorded tick)"
            )
    else:
        lines.append("")
        lines.append("No recorded metrics around it (the ticks may have been thinned away).")
    return "\n".join(lines)
