"""What the TUI shows, as plain data and text: columns, units, sparklines, charts, status lines,
filters and the `why` story. No Textual here, so all of it is testable without a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lagwatch.catalogue import METRICS, MetricSpec, table_metrics
from lagwatch.events import CUT_SHORT
from lagwatch.filters import REGEX_PREFIX, ProcessFilter, compile_name
from lagwatch.grouping import By, Group, group_rows
from lagwatch.model import PROCESS_KEYS, Identity, ProcessRow, Ranking
from lagwatch.ranking import SORT_KEYS, sort_rows
from lagwatch.render.table import tree_items
from lagwatch.sanitize import for_terminal
from lagwatch.units import format_value, human_duration, parse_time

BLOCKS = " ▁▂▃▄▅▆▇█"  # index 0 is "nothing", 8 a full cell


# -- units (table cells take the catalogue's compact forms) --------------------------------


def format_metric(key: str, value: Any) -> str:
    """A contract value in the one form every command uses (lagwatch.units.format_value)."""
    return format_value(key, value)


LABELS: dict[str, str] = {
    "pid": "PID",
    "ppid": "Parent PID",
    "name": "Name",
    "user": "User",
    "state": "State",
    "score": "Score",
    "dominant": "Blamed on",
    "restricted": "Restricted",
    **{m.key: m.label for m in METRICS},
}


# Contract keys the detail screen shows on lines of their own, not in the grid of figures.
OWN_LINE_KEYS: tuple[str, ...] = ("pid", "name", "cmdline")


def metric_lines(row: ProcessRow) -> list[tuple[str, str]]:
    """Every metric of the JSON contract (keys added later too), labelled, in units."""
    data = row.to_json()
    keys = [k for k in PROCESS_KEYS if k not in OWN_LINE_KEYS]
    return [(LABELS.get(k, k.replace("_", " ")), format_metric(k, data.get(k))) for k in keys]


def metric_grid(row: ProcessRow, columns: int = 3) -> list[list[tuple[str, str]]]:
    """``metric_lines`` laid out in ``columns`` columns, filled top to bottom."""
    items = metric_lines(row)
    height = -(-len(items) // columns)
    return [
        [items[c * height + r] for c in range(columns) if c * height + r < len(items)]
        for r in range(height)
    ]


# -- the ranking table -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    width: int
    cell: Callable[[ProcessRow], str]
    right: bool = True


def _metric_column(metric: MetricSpec) -> Column:
    get, fmt = metric.get, metric.format
    return Column(metric.key, metric.header, metric.width, lambda r: fmt(get(r)))


def columns(metrics: Sequence[MetricSpec] = METRICS) -> tuple[Column, ...]:
    """The table's columns: the process, its verdict, then every metric the catalogue puts
    in a wide table."""
    return (
        Column("pid", "PID", 7, lambda r: str(r.pid)),
        Column(
            "name",
            "NAME",
            15,
            lambda r: for_terminal(r.name) + ("*" if r.restricted else ""),
            right=False,
        ),
        Column("score", "SCORE", 5, lambda r: f"{r.score:.0f}"),
        Column("dominant", "BLAME", 7, lambda r: r.dominant or "-", right=False),
        Column("trend", "TREND", 10, lambda r: "", right=False),
        *(_metric_column(m) for m in table_metrics(wide=True, metrics=metrics)),
        Column("user", "USER", 8, lambda r: r.user or "-", right=False),
        Column("state", "STATE", 8, lambda r: r.state or "-", right=False),
    )


COLUMNS: tuple[Column, ...] = columns()

SORT_ORDER: tuple[str, ...] = tuple(SORT_KEYS)


def next_sort(current: str, step: int = 1) -> str:
    keys = list(SORT_ORDER)
    i = keys.index(current) if current in keys else 0
    return keys[(i + step) % len(keys)]


def matches(row: ProcessRow, text: str) -> bool:
    """Filter: a name, user or command line containing the text (any case), or a pid starting
    with it; ``re:PATTERN`` searches the name with a regular expression, as `--name` does (an
    unfinished pattern matches nothing rather than everything)."""
    text = text.strip()
    if not text:
        return True
    if text.startswith(REGEX_PREFIX):
        try:
            pattern = compile_name(text)
        except ValueError:
            return False
        return pattern is not None and pattern.search(row.name) is not None
    text = text.casefold()
    if text.isdigit():
        return str(row.pid).startswith(text)
    return any(text in (field or "").casefold() for field in (row.name, row.user, row.cmdline))


def visible_rows(ranking: Ranking, sort: str, text: str, limit: int = 100) -> list[ProcessRow]:
    rows = [r for r in ranking.processes if matches(r, text)]
    sort_rows(rows, sort)
    return rows[:limit]


# -- what the process list holds: flat, as a tree, or grouped by app or user ---------------

GROUPINGS: tuple[By, ...] = ("process", "app", "user")


@dataclass(frozen=True, slots=True)
class ListOptions:
    """How the process list is drawn: the TUI's keys change these."""

    sort: str = "score"
    text: str = ""  # the `/` filter
    tree: bool = False  # `t`: processes under their parents
    by: By = "process"  # `a`: one line per app or per user
    kernel: bool = False  # `K`: show every kernel thread (hidden by default, as in `top`)
    # Enter on a group: only its members (its label and their identities).
    focus: tuple[str, frozenset[Identity]] | None = None


@dataclass(frozen=True, slots=True)
class ListItem:
    """One line of the list: a process, or a group's summed row (``group``)."""

    row: ProcessRow
    prefix: str = ""  # the tree's branch drawn before the name
    context: bool = False  # tree: an ancestor shown only to place a listed process
    group: Group | None = None

    @property
    def name(self) -> str:
        mark = "*" if self.row.restricted else ""  # a group: one of its processes is
        if self.group is not None:
            return f"{for_terminal(self.group.name)}{mark} ({len(self.group.members)})"
        return self.prefix + for_terminal(self.row.name) + mark


@dataclass(frozen=True, slots=True)
class ProcessList:
    items: list[ListItem]
    matched: int  # processes (or groups) that pass the filters, before the limit
    hidden_kernel: int  # kernel threads the default hides


def process_list(ranking: Ranking, opts: ListOptions, limit: int = 100) -> ProcessList:
    """The list the TUI shows for a ranking: kernel threads hidden unless asked for (the
    filter `top` uses), a group's members when one is focused, the `/` filter, then sorted and
    cut to ``limit``, then laid out as a tree or grouped."""
    flt = ProcessFilter.build(kernel=opts.kernel)
    rows = flt.rows(ranking.processes)
    if opts.focus is not None:
        members = opts.focus[1]
        rows = [r for r in rows if r.identity in members]
    rows = [r for r in rows if matches(r, opts.text)]
    hidden = flt.hidden_kernel_threads(ranking)
    if opts.by != "process" and opts.focus is None:
        groups = group_rows(rows, opts.by, ranking.system, opts.sort)
        items = [ListItem(g.row, group=g) for g in groups[:limit]]
        return ProcessList(items, len(groups), hidden)
    sort_rows(rows, opts.sort, ranking.system.get("memory_total_bytes"))
    matched = len(rows)
    rows = rows[:limit]
    if opts.tree:
        everyone = flt.rows(ranking.processes)
        tree = tree_items(rows, everyone)
        items = [ListItem(t.row, t.prefix, t.context) for t in tree]
    else:
        items = [ListItem(r) for r in rows]
    return ProcessList(items, matched, hidden)


def list_label(opts: ListOptions, hidden_kernel: int) -> list[str]:
    """The status line's words for how the list is drawn (nothing for the defaults)."""
    parts = []
    if opts.focus is not None:
        parts.append(f"{opts.by}: {opts.focus[0]} (Esc: all)")
    elif opts.by != "process":
        parts.append(f"by {opts.by}")
    if opts.tree and (opts.by == "process" or opts.focus is not None):
        parts.append("tree")
    if opts.kernel:
        parts.append("kernel threads shown (K)")
    elif hidden_kernel:
        parts.append(f"{hidden_kernel} kernel threads hidden (K)")
    return parts


def spark(values: Sequence[float | None], top: float = 100.0) -> str:
    """One character per value on a 0..top scale; a blank where the value is unknown."""
    out = []
    for value in values:
        if value is None:
            out.append(" ")
        else:
            level = 1 + round(max(0.0, min(value, top)) / top * 7) if top > 0 else 1
            out.append(BLOCKS[level])
    return "".join(out)


def bucket(
    points: Sequence[tuple[float, float | None]],
    start: float,
    end: float,
    width: int,
    interval_s: float | None = None,
) -> list[float | None]:
    """Points in time -> ``width`` columns over [start, end]: the highest value per column.

    A tick's figures cover the interval that *ends* at its time, so with ``interval_s`` the
    columns in that interval before a point take its value; columns no tick covers stay None
    (not recorded, or lagwatch was not running)."""
    out: list[float | None] = [None] * width
    stamp: list[float] = [0.0] * width
    span = end - start
    if span <= 0 or width <= 0:
        return out
    step = span / width
    for t, value in points:
        if value is None or not start <= t <= end:
            continue
        i = min(width - 1, int((t - start) / step))
        current = out[i]
        out[i] = value if current is None else max(current, value)
        stamp[i] = max(stamp[i], t)
    if interval_s:
        reach = interval_s * 1.5  # a little slack for late ticks
        next_value: float | None = None
        next_t = 0.0
        for i in range(width - 1, -1, -1):
            if out[i] is not None:
                next_value, next_t = out[i], stamp[i]
            elif next_value is not None and next_t - (start + (i + 1) * step) <= reach:
                out[i] = next_value
    return out


def chart(values: Sequence[float | None], height: int, top: float | None = None) -> list[str]:
    """A block chart, ``height`` lines, one column per value, bottom line last. Unknown
    columns stay blank; the scale is 0..top (the highest value when not given)."""
    known = [v for v in values if v is not None]
    top = top if top is not None else (max(known) if known else 1.0)
    top = top if top > 0 else 1.0
    levels = [
        None if v is None else round(max(0.0, min(v, top)) / top * height * 8) for v in values
    ]
    lines = []
    for line in range(height - 1, -1, -1):
        chars = []
        for level in levels:
            if level is None:
                chars.append(" ")
                continue
            fill = level - line * 8
            chars.append(BLOCKS[max(0, min(8, fill))] if fill > 0 or line else BLOCKS[1])
        lines.append("".join(chars))
    return lines


# -- what a process is blamed on, as a chartable figure ----------------------------------

# The resources the score blames (scoring.BANDS): chart title, the figure (the sort key's, which
# sums disk read and write), and a key whose unit suffix formats it.
DOMINANT_FIGURE: dict[str, tuple[str, Callable[[ProcessRow], float | None], str]] = {
    "cpu": ("CPU", SORT_KEYS["cpu"], "cpu_percent"),
    "memory": ("Memory", SORT_KEYS["memory"], "memory_bytes"),
    "disk": ("Disk read+write", SORT_KEYS["disk"], "disk_bytes_per_s"),
    "pageins": ("Page-ins", SORT_KEYS["pageins"], "pageins_per_s"),
    "wakeups": ("Wakeups", SORT_KEYS["wakeups"], "wakeups_per_s"),
    "gpu": ("GPU", SORT_KEYS["gpu"], "gpu_percent"),
    "network": ("Network", SORT_KEYS["network"], "net_bytes_per_s"),
}


def dominant_figure(
    dominant: str | None,
) -> tuple[str, Callable[[ProcessRow], float | None], str]:
    return DOMINANT_FIGURE.get(dominant or "cpu", DOMINANT_FIGURE["cpu"])


# -- times and the status line -----------------------------------------------------------


def parse_when(text: str, now: float) -> float:
    """What the go-to prompt accepts: anything ``parse_time`` does, plus a time of day
    ('14:03', '14:03:20'): today's, or yesterday's if that is still to come."""
    text = text.strip()
    parts = text.split(":")
    if 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
        h, m, sec = (int(p) for p in [*parts, "0"][:3])
        if h > 23 or m > 59 or sec > 59:
            raise ValueError(f"not a time of day: {text!r}")
        day = datetime.fromtimestamp(now)
        t = day.replace(hour=h, minute=m, second=sec, microsecond=0).timestamp()
        return t - 86400 if t > now else t
    return parse_time(text, now=now)


def clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def day_clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def ago(seconds: float) -> str:
    if seconds < 1:
        return "now"
    return f"{human_duration(seconds)} ago"


def mode_line(
    ranking: Ranking | None, replaying: bool, now: float, position: str = "", live_label: str = ""
) -> str:
    """First status line: LIVE or REPLAY, and when the shown ranking was taken."""
    if ranking is None:
        return "LIVE  waiting for the first ranking..." if not replaying else "REPLAY  no tick"
    if replaying:
        where = f"  {position}" if position else ""
        return (
            f"REPLAY - the past: {day_clock(ranking.time)} ({ago(now - ranking.time)})"
            f"{where}  l: live"
        )
    label = f"  {live_label}" if live_label else ""
    return f"LIVE  {clock(ranking.time)}{label}"


def info_line(ranking: Ranking | None, shown: int, sort: str, text: str, feed_label: str) -> str:
    """Second status line: sources, counts (restricted included), sort and filter."""
    return " | ".join(info_parts(ranking, shown, sort, text, feed_label))


def info_parts(
    ranking: Ranking | None, shown: int, sort: str, text: str, feed_label: str
) -> list[str]:
    """The parts of ``info_line``, for a status line that wraps between them."""
    if ranking is None:
        return [feed_label]
    seen = getattr(ranking, "seen_process_count", None)
    restricted = getattr(ranking, "seen_restricted_count", None)
    restricted = ranking.restricted_count if restricted is None else restricted
    count = f"{len(ranking.processes)} procs"
    if seen is not None and seen != len(ranking.processes):
        count = f"{len(ranking.processes)} recorded of {seen} procs"
    parts = [
        f"sources: {', '.join(ranking.sources) or '-'}",
        count,
        f"{restricted} restricted",
        f"sort: {sort}",
    ]
    if text:
        parts.append(f"filter: {text!r} ({shown})")
    return parts


# -- events ------------------------------------------------------------------------------


def event_cells(event: dict[str, Any]) -> tuple[str, str, str, str, str]:
    suspects = event.get("suspects") or []
    who = for_terminal(
        ", ".join(f"{s.get('name')}({s.get('pid')}) {s.get('score', 0):.0f}" for s in suspects)
    )
    duration = event.get("duration_s")
    if event.get("end") is None:
        dur = "ongoing"
    else:
        dur = "-" if duration is None else human_duration(duration)
        details = event.get("details") or {}
        if details.get("ended") in CUT_SHORT:
            dur += "+"  # at least that long: the daemon stopped watching
    start = event.get("start")
    kind = str(event.get("kind", "?"))
    who = who or "no process stood out"
    if kind == "pressure":
        # The narrow KIND column names the resource; the suspects say how stalled it was.
        details = event.get("details") or {}
        resource = str(details.get("resource") or "?")
        kind = {"memory": "mem"}.get(resource, resource)
        percent = details.get("pressure_percent")
        level = details.get("level")
        how = f"{percent:.0f}%" if isinstance(percent, int | float) else level or "?"
        who = f"pressure {how}: {who}"
    return (
        str(event.get("id", "-")),
        kind,
        "-" if start is None else day_clock(start)[5:],
        dur,
        who,
    )
