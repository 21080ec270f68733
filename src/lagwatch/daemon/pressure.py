"""Pressure events: the machine, not one process, was short of CPU, memory or I/O for a while.

Six CPU hogs on two cores each get a third of a core: no process is rogue, yet every task waits.
The kernel's pressure stall information (PSI, lagwatch.sources.psi) says so: the share of time in
which some task was stalled waiting for a resource. Sustained pressure above a threshold becomes
one event of kind ``"pressure"`` per resource, with the processes that consumed that resource
during it as suspects.

Per resource, hysteresis as for rogue episodes (docs/daemon.md, "Pressure events"): a tick whose
``some_percent`` reaches ``enter`` starts a candidate; it stays one while pressure keeps coming
back to at least ``exit`` within ``cooldown_s``; it becomes an event once that has lasted
``sustain_s``; it ends when pressure has stayed below ``exit`` for ``cooldown_s`` (the end is
the last tick at or above ``exit``). On macOS, which has a memory pressure *level* and no
percentage, "warning" and "critical" count as above ``enter``.

``pressure_percent`` is the *mean* share of time stalled over the event's ticks at or above
``exit`` (``peak_percent`` in the details is the worst tick); None on macOS.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from lagwatch.events import Event, EventDetails, Suspect, suspect
from lagwatch.model import Identity, ProcessRow, Ranking

RESOURCES: tuple[str, ...] = ("cpu", "memory", "io")

# Default thresholds on ``some_percent`` (percent of wall time some task was stalled). CPU
# pressure is common on a busy but healthy machine (any queue at all counts), memory and I/O
# stalls are felt sooner: see docs/daemon.md for the reasoning.
DEFAULT_ENTER: dict[str, float] = {"cpu": 50.0, "memory": 10.0, "io": 25.0}

# The macOS memory pressure levels that count as pressure, and their rank for the peak.
_LEVEL_RANK = {"normal": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class PressureConfig:
    enter: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ENTER))
    exit_fraction: float = 0.5  # exit threshold = enter x this
    sustain_s: float = 10.0
    cooldown_s: float = 10.0
    save_every_s: float = 30.0  # how often an ongoing event's progress is written
    max_suspects: int = 5

    @classmethod
    def uniform(cls, enter_percent: float, **kw: Any) -> PressureConfig:
        """The same entry threshold for every resource."""
        return cls(enter={r: enter_percent for r in RESOURCES}, **kw)


def resource_use(resource: str, row: ProcessRow) -> float:
    """How much of ``resource`` a process consumed in one tick, on the 0-100 sub-score scale
    (lagwatch.scoring), so consumption in bytes and in operations compare."""
    subs = row.subscores
    if resource == "cpu":
        return subs.get("cpu", 0.0)
    if resource == "io":
        return max(subs.get("disk", 0.0), subs.get("pageins", 0.0))
    return max(subs.get("memory", 0.0), subs.get("pageins", 0.0))  # memory


# Raw figures averaged over the event for each suspect, per resource (shown by `why`).
_RAW_KEYS: dict[str, tuple[str, ...]] = {
    "cpu": ("cpu_percent",),
    "io": (
        "disk_read_bytes_per_s",
        "disk_write_bytes_per_s",
        "disk_read_ops_per_s",
        "disk_write_ops_per_s",
        "pageins_per_s",
    ),
    "memory": ("memory_bytes", "memory_growth_bytes_per_s", "pageins_per_s"),
}


@dataclass(slots=True)
class _Use:
    row: ProcessRow  # the latest row (name, dominant)
    use: float = 0.0  # summed over ticks
    raw: dict[str, float] = field(default_factory=dict)  # summed over ticks where known


@dataclass(slots=True)
class _Track:
    resource: str
    start: float
    last_warm: float
    peak: float | None  # percent; None on macOS (level only)
    peak_level: str | None
    warm_sum: float = 0.0
    warm_ticks: int = 0
    ticks: int = 0  # ticks whose consumption is summed in ``uses``
    uses: dict[Identity, _Use] = field(default_factory=dict)
    cgroups: dict[str, float] = field(default_factory=dict)  # name -> peak some_percent
    event: Event | None = None
    last_saved: float = 0.0


def _level(figures: dict[str, Any]) -> tuple[float | None, str | None]:
    """(some_percent, macOS level) of one resource's figures."""
    value = figures.get("some_percent")
    percent = float(value) if isinstance(value, int | float) else None
    level = figures.get("level")
    return percent, level if isinstance(level, str) else None


class PressureTracker:
    """Turns the pressure figures of successive rankings into pressure events."""

    def __init__(self, config: PressureConfig | None = None) -> None:
        self.config = config or PressureConfig()
        self._tracks: dict[str, _Track] = {}

    @property
    def ongoing(self) -> list[Event]:
        return [t.event for t in self._tracks.values() if t.event is not None]

    def _warm(self, resource: str, percent: float | None, level: str | None) -> tuple[bool, bool]:
        """(at or above enter, at or above exit)."""
        if level is not None:
            hot = _LEVEL_RANK.get(level, 0) >= 1
            return hot, hot
        if percent is None:
            return False, False
        enter = self.config.enter.get(resource)
        if enter is None:
            return False, False
        return percent >= enter, percent >= enter * self.config.exit_fraction

    def update(self, ranking: Ranking) -> list[Event]:
        """Feed one tick; returns the new versions of events opened, progressed (periodically)
        or closed."""
        pressure = ranking.system.get("pressure")
        if not isinstance(pressure, dict):
            pressure = {}
        t = ranking.time
        changed: list[Event] = []
        for resource in RESOURCES:
            figures = pressure.get(resource)
            percent, level = _level(figures) if isinstance(figures, dict) else (None, None)
            hot, warm = self._warm(resource, percent, level)
            track = self._tracks.get(resource)
            if track is None:
                if not hot:
                    continue
                # The candidate starts where the first hot interval started.
                track = _Track(resource, t - ranking.interval_s, t, percent, level)
                self._tracks[resource] = track
            if warm:
                track.last_warm = t
                if percent is not None:
                    track.warm_sum += percent
                    track.warm_ticks += 1
                    track.peak = percent if track.peak is None else max(track.peak, percent)
                if level is not None and _LEVEL_RANK.get(level, 0) > _LEVEL_RANK.get(
                    track.peak_level or "normal", 0
                ):
                    track.peak_level = level
                self._consumers(track, ranking)
                self._cgroups(track, ranking)
            if t - track.last_warm >= self.config.cooldown_s:
                del self._tracks[resource]
                if track.event is not None:
                    changed.append(self._refresh(track, ended="calmed"))
                continue
            if track.event is None:
                if track.last_warm - track.start >= self.config.sustain_s:
                    track.event = Event("pressure", track.start, None, None)
                    track.last_saved = t
                    changed.append(self._refresh(track))
            else:
                event = self._refresh(track)
                if t - track.last_saved >= self.config.save_every_s:
                    track.last_saved = t
                    changed.append(event)
        return changed

    def close_all(self, reason: str = "daemon stopped") -> list[Event]:
        """End every ongoing event at its last pressured tick (the daemon is stopping)."""
        closed = [self._refresh(t, ended=reason) for t in self._tracks.values() if t.event]
        self._tracks.clear()
        return closed

    # -- what the event says ---------------------------------------------------------------

    def _consumers(self, track: _Track, ranking: Ranking) -> None:
        track.ticks += 1
        keys = _RAW_KEYS[track.resource]
        for row in ranking.processes:
            use = resource_use(track.resource, row)
            if use <= 0.0:
                continue  # most processes: consumed nothing worth naming
            item = track.uses.get(row.identity)
            if item is None:
                item = track.uses[row.identity] = _Use(row)
            item.row = row
            item.use += use
            for key in keys:
                value = getattr(row, key, None)
                if isinstance(value, int | float):
                    item.raw[key] = item.raw.get(key, 0.0) + value

    def _cgroups(self, track: _Track, ranking: Ranking) -> None:
        groups = ranking.system.get("pressure_cgroups")
        if not isinstance(groups, dict):
            return
        for name, by_resource in groups.items():
            figures = by_resource.get(track.resource) if isinstance(by_resource, dict) else None
            percent = figures.get("some_percent") if isinstance(figures, dict) else None
            if isinstance(percent, int | float) and percent > track.cgroups.get(name, -1.0):
                track.cgroups[name] = float(percent)

    def suspects(self, track: _Track) -> list[Suspect]:
        """The processes that consumed the resource most during the event: mean sub-score of
        that resource over the event's pressured ticks (absent from a tick counts as 0)."""
        n = max(1, track.ticks)
        ranked = sorted(track.uses.values(), key=lambda u: (-u.use, u.row.pid))
        out: list[Suspect] = []
        for item in ranked[: self.config.max_suspects]:
            s = suspect(item.row.pid, item.row.name, item.use / n, item.row.dominant)
            s["resource_use"] = {k: round(v / n, 2) for k, v in item.raw.items()}
            out.append(s)
        return out

    def _refresh(self, track: _Track, ended: str | None = None) -> Event:
        assert track.event is not None
        mean = round(track.warm_sum / track.warm_ticks, 1) if track.warm_ticks else None
        details: EventDetails = {
            "resource": track.resource,
            "pressure_percent": mean,
            "pressure_stat": "mean",
            "peak_percent": None if track.peak is None else round(track.peak, 1),
            "enter_percent": self.config.enter.get(track.resource),
            "exit_percent": None
            if track.resource not in self.config.enter
            else round(self.config.enter[track.resource] * self.config.exit_fraction, 1),
        }
        if track.peak_level is not None:
            details["level"] = track.peak_level
        if track.cgroups:
            top = sorted(track.cgroups.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
            details["cgroups"] = {name: round(p, 1) for name, p in top}
        if ended is not None:
            details["ended"] = ended
        track.event = replace(
            track.event,
            end=None if ended is None else track.last_warm,
            duration_s=round(track.last_warm - track.start, 3),
            suspects=self.suspects(track),
            details=details,
        )
        return track.event
