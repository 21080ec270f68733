"""The story of one event for `lagwatch why`: who, and their metrics before, during and after."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from lagwatch.daemon.pause import TIMELINE_KEYS
from lagwatch.units import human_bytes, human_duration, human_number, human_rate

PHASES = ("before", "during", "after")


def phase_of(t: float, interval_s: float, start: float, end: float) -> str:
    """A tick at ``t`` covers (t - interval, t]: during if that overlaps the event."""
    if t <= start:
        return "before"
    if t - interval_s >= end:
        return "after"
    return "during"


def db_timeline(history: Any, event: dict[str, Any], before_s: float, after_s: float,
                now: float | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The suspects' recorded rows around the event, from the database."""
    start = event["start"]
    end = event["end"] if event["end"] is not None else (now or time.time())
    pids = [s["pid"] for s in event["suspects"]]
    out = []
    for t, interval_s, row in history.process_rows(pids, start - before_s, end + after_s):
        item = {"time": round(t, 3), "interval_s": round(interval_s, 3),
                "phase": phase_of(t, interval_s, start, end), "pid": row.pid, "name": row.name,
                "score": row.score, "dominant": row.dominant}  # fmt: skip
        for key in TIMELINE_KEYS:
            item[key] = getattr(row, key)
        out.append(item)
    return out


def thin_timeline(items: list[dict[str, Any]], per_phase: int = 12) -> list[dict[str, Any]]:
    """At most ``per_phase`` rows per process and phase, evenly spread, always with the peak."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
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
    event: dict[str, Any], history: Any | None = None, before_s: float = 10.0,
    after_s: float = 10.0, per_phase: int = 12,
) -> dict[str, Any]:  # fmt: skip
    """Event + timeline. A pause carries its own timeline (from the daemon's ring buffer, which
    holds more than what was recorded); other events are read back from history."""
    items = list(event.get("timeline") or [])
    if not items and history is not None and event["suspects"]:
        items = db_timeline(history, event, before_s, after_s)
    items.sort(key=lambda i: (i["time"], -i["score"], i["pid"]))
    total = len(items)
    items = thin_timeline(items, per_phase)
    head = {k: v for k, v in event.items() if k != "timeline"}
    return {"event": head, "timeline": items, "timeline_rows_total": total}


def _clock(t: float, ref: float) -> str:
    dt = datetime.fromtimestamp(t)
    same_day = datetime.fromtimestamp(ref).date() == dt.date()
    return dt.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")


def _cells(item: dict[str, Any]) -> list[str]:
    return [
        f"{item['score']:.0f}",
        item.get("dominant") or "-",
        human_number(item.get("cpu_percent")),
        human_bytes(item.get("memory_bytes")),
        human_rate(item.get("disk_read_bytes_per_s")),
        human_rate(item.get("disk_write_bytes_per_s")),
        human_number(item.get("pageins_per_s")),
        human_number(item.get("wakeups_per_s"), 0),
    ]


_HEAD = ["SCORE", "BLAME", "CPU%", "MEM", "DISK R", "DISK W", "PGIN/s", "WAKE/s"]
_WIDTHS = [5, 8, 6, 10, 12, 12, 7, 7]


def render_story(story: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    ev = story["event"]
    start, end = ev["start"], ev["end"]
    dur = ev.get("duration_s")
    dur_text = "?" if dur is None else human_duration(dur)
    ago = human_duration(now - (end if end is not None else now))
    when = f"{_clock(start, now)} to {_clock(end, now) if end else 'now'}"
    details = ev.get("details") or {}
    lines: list[str] = []
    if ev["kind"] == "pause":
        lines.append(f"Pause #{ev['id']}: the machine froze for {dur_text}, {when} ({ago} ago).")
        lines.append(
            "The daemon woke up that much later than it asked to, and the machine was not asleep."
        )
    else:
        who = ev["suspects"][0] if ev["suspects"] else {"name": "?", "pid": "?"}
        state = "is still going on" if end is None else f"ended ({details.get('ended', 'ended')})"
        lines.append(
            f"Rogue episode #{ev['id']}: {who['name']} (pid {who['pid']}) stressed the machine "
            f"for {dur_text}, {when}; it {state}."
        )
        if details.get("peak_score") is not None:
            lines.append(
                f"Peak score {details['peak_score']:.0f} ({details.get('dominant') or '?'}) at "
                f"{_clock(details.get('peak_time', start), now)}."
            )
    lines.append("")
    if ev["suspects"]:
        lines.append("Suspects:")
        for n, s in enumerate(ev["suspects"], start=1):
            extra = ""
            if s.get("score_before") is not None or s.get("score_after") is not None:
                b, a = s.get("score_before"), s.get("score_after")
                extra = (
                    f" (before {'-' if b is None else f'{b:.0f}'},"
                    f" after {'-' if a is None else f'{a:.0f}'})"
                )
            lines.append(
                f"  {n}. {s['name']} (pid {s['pid']}): score {s['score']:.0f}, "
                f"{s.get('dominant') or '?'}{extra}"
            )
    else:
        lines.append(
            "No process stood out before or after it: the cause may be outside any one process "
            "(kernel, hypervisor, thermal throttling or hardware)."
        )
    items = story["timeline"]
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
                lines.append(f"  {_clock(start, now):<10} ---- {ev['kind']} begins ----")
                marked_start = True
            # Timelines from memory (the TUI without a daemon) may not carry interval_s.
            sample_start = item["time"] - item.get("interval_s", 0.0)
            if end is not None and not marked_end and sample_start >= end:
                lines.append(f"  {_clock(end, now):<10} ---- {ev['kind']} ends ({dur_text}) ----")
                marked_end = True
            proc = f"{item['name'][:20]} ({item['pid']})"
            cells = " ".join(f"{c:>{w}}" for c, w in zip(_cells(item), _WIDTHS, strict=True))
            lines.append(
                f"  {_clock(item['time'], now):<10} {item['phase']:<7} {proc:<{name_w}} {cells}"
            )
        if not marked_start:
            lines.append(f"  {_clock(start, now):<10} ---- {ev['kind']} begins ----")
        if end is not None and not marked_end:
            lines.append(f"  {_clock(end, now):<10} ---- {ev['kind']} ends ({dur_text}) ----")
        if story.get("timeline_rows_total", 0) > len(items):
            lines.append(
                f"  ({len(items)} of {story['timeline_rows_total']} rows shown, evenly spread "
                "with each peak; `lagwatch history --pid N` has every recorded tick)"
            )
    else:
        lines.append("")
        lines.append("No recorded metrics around it (the ticks may have been thinned away).")
    return "\n".join(lines)
