"""`lagwatch status`: is a daemon recording, is it healthy, who is the top suspect, and the
last pause. Works without a daemon too, and says so."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from lagwatch.cli.store_args import db_option, db_path
from lagwatch.sanitize import for_terminal
from lagwatch.units import human_duration

# A recorded tick older than this is not "now" (the daemon is stalled or stopped).
FRESH_S = 15.0


def _top(ranking: Any) -> dict[str, Any] | None:
    if ranking is None or not ranking.processes:
        return None
    row = max(ranking.processes, key=lambda r: (r.score, -r.pid))
    return {"pid": row.pid, "name": row.name, "score": row.score, "dominant": row.dominant}


def _sample_now(seconds: float = 0.5) -> dict[str, Any] | None:
    """No daemon: take a short sample ourselves so 'top suspect' still means now."""
    from lagwatch.sources.base import SourceError
    from lagwatch.ticker import open_ticker

    try:
        sampler, _ = open_ticker()
    except (SourceError, OSError):
        return None
    try:
        sampler.tick()
        time.sleep(seconds)  # the sampling interval itself, not a synchronisation
        return _top(sampler.tick())
    except (SourceError, OSError):
        return None
    finally:
        sampler.close()


def gather(path: Path, sample: bool = True) -> dict[str, Any]:
    from lagwatch.store import History, StoreError
    from lagwatch.store.lock import running_daemon

    now = time.time()
    note = running_daemon(path)
    out: dict[str, Any] = {
        "db": str(path),
        "daemon": {"running": note is not None},
        "health": None,
        "write_condition": None,
        "write_advice": None,
        "history": None,
        "top": None,
        "last_pause": None,
        "ongoing_rogues": [],
        "ongoing_pressure": [],
        "error": None,
        "dropped_sources": [],
        # What the running daemon lost, never silently: ticks it could not write, the history
        # file deleted or replaced under it, warnings while reading processes.
        "dropped_ticks": None,
        "history_file_change": None,
        "read_warnings": None,
        "read_warning_kinds": {},
    }
    if note is not None:
        out["daemon"].update(
            pid=note.get("pid"),
            started_at=note.get("started_at"),
            interval_s=note.get("interval_s"),
            listen=note.get("listen"),
        )
        # No pid: the daemon could not write its note yet (a full disk), so its health is
        # not known either; never claim "ok" for it.
        out["health"] = note.get("health", "ok") if note.get("pid") else "unknown"
        out["dropped_sources"] = note.get("dropped_sources") or []
        out["write_condition"] = note.get("write_condition")
        out["write_advice"] = note.get("write_advice")
        out["dropped_ticks"] = note.get("dropped_ticks")
        out["history_file_change"] = note.get("history_file_change")
        out["read_warnings"] = note.get("read_warnings")
        out["read_warning_kinds"] = note.get("read_warning_kinds") or {}
    latest = None
    # A disk that does not take writes (frozen, hung) would hang us too: SQLite readers write
    # their read marks. The daemon's note (kept off that disk) says so; the history waits.
    stalled = note is not None and note.get("write_condition") == "stalled"
    if stalled:
        out["error"] = "history not read: its disk does not take writes now (frozen or hung?)"
    elif path.exists():
        try:
            with History(path) as history:
                span = history.span()
                if span is not None:
                    out["history"] = {"first": span[0], "last": span[1], "ticks": span[2]}
                    latest = history.latest()
                events = history.events()
        except StoreError as exc:
            out["error"] = str(exc)
            events = []
        pauses = [e for e in events if e.kind == "pause"]
        out["last_pause"] = pauses[-1].to_json() if pauses else None
        out["ongoing_rogues"] = [e.to_json() for e in events if e.kind == "rogue" and e.ongoing]
        out["ongoing_pressure"] = [
            e.to_json() for e in events if e.kind == "pressure" and e.ongoing
        ]
        if note is None:
            out["ongoing_rogues"] = []  # nobody is watching them any more
            out["ongoing_pressure"] = []
    if note is not None and latest is not None and now - latest.time <= FRESH_S:
        out["top"] = dict(_top(latest) or {}, source="daemon") if _top(latest) else None
    elif note is not None:
        if out["health"] == "ok":
            out["health"] = "stale"  # running but not recording: say it
    elif sample:
        top = _sample_now()
        out["top"] = None if top is None else dict(top, source="sampled now")
    return out


def one_line(s: dict[str, Any], now: float | None = None) -> str:
    now = time.time() if now is None else now
    parts = []
    d = s["daemon"]
    if d["running"]:
        since = d.get("started_at")
        up = f", up {human_duration(now - since)}" if since else ""
        health = s["health"] or "ok"
        if s["write_condition"]:
            health = f"degraded: {s['write_condition']} ({s['write_advice']})"
        elif health == "unknown":
            health = "state unknown (its lock note could not be written: is the disk full?)"
        elif health == "stale":
            last = s["history"]["last"] if s["history"] else None
            health = "stale: no tick recorded " + (
                f"for {human_duration(now - last)}" if last else "yet"
            )
        pid = d.get("pid") or "unknown"  # its note could not be written (a full disk)
        parts.append(f"daemon running (pid {pid}{up}): {health}")
    elif s["history"]:
        ago = human_duration(now - s["history"]["last"])
        parts.append(f"no daemon running (history in {s['db']} ends {ago} ago)")
    else:
        parts.append(f"no daemon running and no history at {s['db']}")
    if s["error"]:
        parts.append(s["error"])
    parts += _losses(s, now)
    if s.get("dropped_sources"):
        parts.append("dropped sources: " + ", ".join(s["dropped_sources"]))
    top = s["top"]
    if top:
        parts.append(
            f"top suspect ({top['source']}): {for_terminal(top['name'])} (pid {top['pid']}) "
            f"score {top['score']:.0f} {top['dominant'] or ''}".rstrip()
        )
    else:
        parts.append("top suspect: none known")
    for rogue in s["ongoing_rogues"][:2]:
        who = rogue["suspects"][0] if rogue["suspects"] else {"name": "?", "pid": "?"}
        name = for_terminal(str(who["name"]))
        parts.append(f"rogue now: {name} (pid {who['pid']}) for {rogue['duration_s']}s")
    for stall in s.get("ongoing_pressure", [])[:2]:
        parts.append(_pressure_now(stall, now))
    pause = s["last_pause"]
    if pause:
        ago = human_duration(now - pause["end"])
        parts.append(
            f"last pause {pause['duration_s']:.1f}s, {ago} ago (lagwatch why {pause['id']})"
        )
    else:
        parts.append("no pause recorded")
    return "; ".join(parts)


def _pressure_now(event: dict[str, Any], now: float) -> str:
    """An ongoing stall in a few words: the resource, how stalled, since when, and who."""
    details = event.get("details") or {}
    percent = details.get("pressure_percent")
    how = f"{percent:.0f}% stalled" if isinstance(percent, int | float) else None
    how = how or (f"level {details['level']}" if details.get("level") else "stalled")
    since = human_duration(now - float(event.get("start") or now))
    text = f"{details.get('resource') or '?'} pressure now: {how} for {since}"
    suspects = event.get("suspects") or []
    if suspects:
        who = suspects[0]
        text += f", suspect {for_terminal(str(who.get('name')))} (pid {who.get('pid')})"
    return f"{text} (lagwatch why {event.get('id')})"


def _losses(s: dict[str, Any], now: float) -> list[str]:
    """What the running daemon could not keep, each in a few words."""
    out = []
    change = s.get("history_file_change")
    if isinstance(change, dict):
        ago = human_duration(now - float(change.get("at") or now))
        lost = change.get("ticks_lost")
        if change.get("what") == "deleted":
            out.append(
                f"history file was deleted {ago} ago ({lost} ticks of this run went with it); "
                "recording goes on in a new one"
            )
        else:
            out.append(
                f"history file was replaced {ago} ago ({lost} ticks of this run are in the old "
                "file, not in the one there now)"
            )
    if s.get("dropped_ticks"):
        out.append(f"{s['dropped_ticks']} ticks could not be written (dropped)")
    if s.get("read_warnings"):
        out.append(f"{s['read_warnings']} read warnings (see the daemon's log)")
    return out


EXAMPLES = """\b
Examples:
  lagwatch status          one line for people
  lagwatch status --json   the same for scripts (and monitoring)
"""


@click.command("status", epilog=EXAMPLES)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def command(db: Path | None, as_json: bool) -> None:
    """One line: daemon and health, the current top suspect, the last pause and when."""
    status = gather(db_path(db))
    if as_json:
        click.echo(json.dumps(status))
    else:
        click.echo(one_line(status))
