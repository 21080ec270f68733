"""Energy over time: joules and energy-impact-seconds per process or app over a period.

Each ranking covers the interval (time - interval_s, time]. Over the part of that interval that
falls inside the period (``overlap_s``), a process contributes

    energy_j        += power_watts * overlap_s        (where power is measured)
    energy_impact_s += energy_impact * overlap_s      (EI x seconds: 100 EI for 10 s = 1000)
    cpu_s           += cpu_percent / 100 * overlap_s

Averages divide by the seconds the period was covered by rankings that had that figure (not by
the process's own lifetime), so the averages of all processes add up to the machine's.
Contributions are added in ranking order, then row order; with ``keep_intervals`` every one is
kept, so a consumer can re-add them and get the totals exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from lagwatch.apps import app_of, parse_key
from lagwatch.model import ProcessRow, Ranking

By = Literal["process", "app"]
ProcessKey = tuple[int, int, str]  # (pid, start_id, name): history may not keep start_id
# A process, an app rooted at a process (its ProcessKey), or an app named otherwise (a systemd
# unit, a container: its lagwatch.apps key).
GroupKey = ProcessKey | str


def process_key(row: ProcessRow) -> ProcessKey:
    return (row.pid, row.start_id, row.name)


def key_text(key: GroupKey) -> str:
    return key if isinstance(key, str) else f"{key[0]}:{key[1]}:{key[2]}"


@dataclass(slots=True)
class Usage:
    """What one process (or app) used over the period."""

    key: GroupKey
    pid: int
    name: str
    user: str | None
    energy_j: float | None = None
    energy_impact_s: float | None = None
    cpu_s: float | None = None
    seen_s: float = 0.0
    members: dict[ProcessKey, str] = field(default_factory=dict)
    last_ranking: int = -1
    parents: dict[int, int | None] = field(default_factory=dict)  # member pid -> ppid

    def leader(self) -> int:
        """An app rooted at a process: that process; else its top-most member (its parent is
        not a member), the lowest pid among those."""
        if not isinstance(self.key, str) or not self.parents:
            return self.pid
        tops = [pid for pid, ppid in self.parents.items() if ppid not in self.parents]
        return min(tops or self.parents)

    def to_json(self, power_s: float, ei_s: float, by: By) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": key_text(self.key),
            "pid": self.leader(),
            "name": self.name,
            "user": self.user,
            "energy_j": self.energy_j,
            "avg_watts": _ratio(self.energy_j, power_s),
            "energy_impact_s": self.energy_impact_s,
            "avg_energy_impact": _ratio(self.energy_impact_s, ei_s),
            "cpu_s": self.cpu_s,
            "seen_s": self.seen_s,
        }
        if by == "app":
            out["member_count"] = len(self.members)
            out["members"] = sorted(set(self.members.values()))
        return out


def _ratio(value: float | None, seconds: float) -> float | None:
    return None if value is None or seconds <= 0 else value / seconds


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


class EnergyIntegrator:
    """Adds rankings up, one at a time (history streams them, sampling produces them)."""

    def __init__(
        self,
        by: By = "process",
        since: float | None = None,
        until: float | None = None,
        keep_intervals: bool = False,
        responsible_pid: Callable[[int], int | None] | None = None,
    ) -> None:
        self.by: By = by
        self.since = since
        self.until = until
        self.keep_intervals = keep_intervals
        self.responsible_pid = responsible_pid
        self.groups: dict[GroupKey, Usage] = {}
        self.intervals: list[dict[str, Any]] = []
        self.rankings = 0
        self.covered_s = 0.0
        self.power_s = 0.0  # seconds covered by rankings with a measured power figure
        self.ei_s = 0.0  # seconds covered by rankings with an Energy Impact figure
        self.total_j: float | None = None
        self.total_ei_s: float | None = None
        self.total_cpu_s: float | None = None
        self.energy_sources: list[str] = []
        self.first: float | None = None  # start of the first counted interval
        self.last: float | None = None  # end of the last one
        self._app: dict[ProcessKey, tuple[GroupKey, str | None]] = {}

    def overlap_s(self, ranking: Ranking) -> float:
        start, end = ranking.time - ranking.interval_s, ranking.time
        if self.since is not None:
            start = max(start, self.since)
        if self.until is not None:
            end = min(end, self.until)
        return end - start

    def _group(self, row: ProcessRow, rows: dict[int, ProcessRow]) -> tuple[GroupKey, str | None]:
        key = process_key(row)
        if self.by == "process":
            return key, row.user
        if row.app is not None:  # decided live with the whole process table (recorded too)
            parsed = parse_key(row.app)
            if parsed.kind == "proc" and parsed.pid is not None and parsed.start_id is not None:
                root = rows.get(parsed.pid)
                user = root.user if root is not None else row.user
                return (parsed.pid, parsed.start_id, parsed.name), user
            return row.app, row.user
        if key not in self._app:  # a process's app is decided when it is first seen
            procs = {pid: (r.ppid, r.name) for pid, r in rows.items()}
            responsible = None
            if self.responsible_pid is not None:
                owner = self.responsible_pid(row.pid)
                responsible = {row.pid: owner} if owner is not None else None
            app = rows[app_of(row.pid, procs, responsible)]
            self._app[key] = (process_key(app), app.user)
        return self._app[key]

    def add(self, ranking: Ranking) -> None:
        if ranking.interval_s <= 0:
            return
        overlap = self.overlap_s(ranking)
        if overlap <= 0:
            return
        self.rankings += 1
        self.covered_s += overlap
        end = ranking.time if self.until is None else min(ranking.time, self.until)
        start = end - overlap
        self.first = start if self.first is None else min(self.first, start)
        self.last = end if self.last is None else max(self.last, end)
        rows = ranking.processes
        if any(r.power_watts is not None for r in rows):
            self.power_s += overlap
        if any(r.energy_impact is not None for r in rows):
            self.ei_s += overlap
        source = ranking.energy_source
        if source is not None and source not in self.energy_sources:
            self.energy_sources.append(source)
        by_pid = {r.pid: r for r in rows}
        contributions: list[dict[str, Any]] = []
        for row in rows:
            gkey, user = self._group(row, by_pid)
            usage = self.groups.get(gkey)
            if usage is None:
                if isinstance(gkey, str):
                    usage = Usage(key=gkey, pid=row.pid, name=parse_key(gkey).name, user=user)
                else:
                    usage = Usage(key=gkey, pid=gkey[0], name=gkey[2], user=user)
                self.groups[gkey] = usage
            joules = None if row.power_watts is None else row.power_watts * overlap
            ei_s = None if row.energy_impact is None else row.energy_impact * overlap
            cpu_s = None if row.cpu_percent is None else row.cpu_percent / 100.0 * overlap
            usage.energy_j = _add(usage.energy_j, joules)
            usage.energy_impact_s = _add(usage.energy_impact_s, ei_s)
            usage.cpu_s = _add(usage.cpu_s, cpu_s)
            if usage.last_ranking != self.rankings:
                usage.seen_s += overlap
                usage.last_ranking = self.rankings
            if self.by == "app":
                usage.members[process_key(row)] = row.name
                usage.parents[row.pid] = row.ppid
            self.total_j = _add(self.total_j, joules)
            self.total_ei_s = _add(self.total_ei_s, ei_s)
            self.total_cpu_s = _add(self.total_cpu_s, cpu_s)
            if self.keep_intervals and (joules is not None or ei_s is not None):
                contributions.append(
                    {"group": key_text(gkey), "energy_j": joules, "energy_impact_s": ei_s}
                )
        if self.keep_intervals:
            self.intervals.append(
                {
                    "time": ranking.time,
                    "interval_s": ranking.interval_s,
                    "overlap_s": overlap,
                    "energy_source": source,
                    "contributions": contributions,
                }
            )

    def ordered(self) -> list[Usage]:
        """Biggest consumer first: by joules where power was measured, else by EI-seconds."""
        measured = self.power_s > 0

        def order(u: Usage) -> tuple[bool, float, bool, float, str, int]:
            primary = u.energy_j if measured else u.energy_impact_s
            return (
                primary is None,
                -(primary or 0.0),
                u.energy_impact_s is None,
                -(u.energy_impact_s or 0.0),
                u.name,
                u.pid,
            )

        return sorted(self.groups.values(), key=order)

    def report(self, limit: int | None = None) -> dict[str, Any]:
        groups = self.ordered()
        shown = groups if limit is None else groups[:limit]
        out: dict[str, Any] = {
            "by": self.by,
            "since": self.since if self.since is not None else self.first,
            "until": self.until if self.until is not None else self.last,
            "covered_s": self.covered_s,
            "rankings": self.rankings,
            "energy_sources": list(self.energy_sources),
            "power_measured": self.power_s > 0,
            "total": {
                "energy_j": self.total_j,
                "avg_watts": _ratio(self.total_j, self.power_s),
                "energy_impact_s": self.total_ei_s,
                "avg_energy_impact": _ratio(self.total_ei_s, self.ei_s),
                "cpu_s": self.total_cpu_s,
            },
            f"{self.by}_count": len(groups),
            ("processes" if self.by == "process" else "apps"): [
                u.to_json(self.power_s, self.ei_s, self.by) for u in shown
            ],
        }
        if self.keep_intervals:
            out["intervals"] = self.intervals
        return out
