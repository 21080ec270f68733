"""The sampler: reads every source into one Snapshot, and turns two Snapshots into a Ranking.

``compute_ranking`` is a pure function (two snapshots in, rows out) so live view, daemon and
replay of captures share it and tests can feed it hand-made snapshots.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from lagwatch import energy, scoring
from lagwatch.model import (
    DROPPABLE_COUNTERS,
    Identity,
    ProcessRow,
    ProcessSample,
    Ranking,
    Snapshot,
    merge_patch,
    sum_known,
)
from lagwatch.sources.base import Source, SourceError, SourceReading

SORT_KEYS: dict[str, Callable[[ProcessRow], float | None]] = {
    "score": lambda r: r.score,
    "cpu": lambda r: r.cpu_percent,
    "memory": lambda r: r.memory_bytes,
    "disk": lambda r: sum_known(r.disk_read_bytes_per_s, r.disk_write_bytes_per_s),
    "wakeups": lambda r: r.wakeups_per_s,
    "pageins": lambda r: r.pageins_per_s,
    "gpu": lambda r: r.gpu_percent,
    "network": lambda r: r.net_bytes_per_s,
    "energy": lambda r: r.energy_impact,
}


def platform_name() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    return {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)


def _delta(cur: int | None, prev: int | None, droppable: bool) -> int | None:
    if cur is None or prev is None:
        return None
    d = cur - prev
    if d < 0:
        return 0 if droppable else None  # a reset counter: unknown, not zero
    return d


def _reaped_child_ns(prev: Snapshot, cur: Snapshot) -> dict[int, int]:
    """CPU already seen in children that vanished between the two snapshots, by parent pid.

    A parent's reaped-children CPU jumps by a child's *whole lifetime* when it is reaped; the
    part of that we already showed while the child lived must not be counted twice.
    """
    vanished = {s.pid: s for ident, s in prev.processes.items() if ident not in cur.processes}
    seen: dict[int, int] = {}
    for s in vanished.values():
        # Reaped time cascades up: a grandchild reaped by a child that then exited itself lands
        # in the first ancestor still alive, so that is where its seen CPU is discounted.
        parent, hops = s.ppid, 0
        while parent in vanished and hops < 64:
            parent, hops = vanished[parent].ppid, hops + 1
        if parent is None:
            continue
        seen[parent] = seen.get(parent, 0) + (s.cpu_ns or 0) + (s.child_cpu_ns or 0)
    return seen


_ZERO = ProcessSample(pid=0, start_id=0, name="")
for _name in ("cpu_ns", "child_cpu_ns", "disk_read_bytes", "disk_write_bytes", "pageins",
              "wakeups", "ctx_switches", "gpu_ns", "energy_nj", "net_bytes"):  # fmt: skip
    setattr(_ZERO, _name, 0)


def compute_row(
    cur: ProcessSample,
    prev: ProcessSample | None,
    interval_s: float,
    reaped_seen_ns: int = 0,
) -> ProcessRow:
    """Rates of one process over the interval. ``prev`` None means the process started within
    the interval, so its counters started at zero."""
    base = prev if prev is not None else _ZERO
    per_s = 1.0 / interval_s if interval_s > 0 else 0.0

    def rate(name: str) -> float | None:
        d = _delta(getattr(cur, name), getattr(base, name), name in DROPPABLE_COUNTERS)
        return None if d is None else d * per_s

    cpu_d = _delta(cur.cpu_ns, base.cpu_ns, False)
    cpu_percent: float | None = None
    if cpu_d is not None:
        child_d = _delta(cur.child_cpu_ns, base.child_cpu_ns, False) or 0
        cpu_d += max(0, child_d - reaped_seen_ns)
        cpu_percent = cpu_d * per_s / 1e7  # ns/s -> percent of one core
    gpu_ns_s = rate("gpu_ns")
    energy_nj_s = rate("energy_nj")
    row = ProcessRow(
        pid=cur.pid,
        ppid=cur.ppid,
        name=cur.name,
        user=cur.user,
        state=cur.state,
        restricted=cur.restricted,
        memory_bytes=cur.memory_bytes,
        threads=cur.threads,
        cpu_percent=cpu_percent,
        disk_read_bytes_per_s=rate("disk_read_bytes"),
        disk_write_bytes_per_s=rate("disk_write_bytes"),
        pageins_per_s=rate("pageins"),
        wakeups_per_s=rate("wakeups"),
        ctx_switches_per_s=rate("ctx_switches"),
        gpu_percent=None if gpu_ns_s is None else gpu_ns_s / 1e7,
        net_bytes_per_s=rate("net_bytes"),
        power_watts=None if energy_nj_s is None else energy_nj_s / 1e9,
        memory_growth_bytes_per_s=None
        if cur.memory_bytes is None or prev is None or prev.memory_bytes is None
        else (cur.memory_bytes - prev.memory_bytes) * per_s,
        start_id=cur.start_id,
    )
    if cur.rates:  # rates a source measured itself win
        for key, value in cur.rates.items():
            if hasattr(row, key):
                setattr(row, key, value)
    return row  # power and Energy Impact are attributed across all rows (energy.attribute)


def _round(row: ProcessRow) -> None:
    for key in ("cpu_percent", "gpu_percent", "energy_impact", "energy_impact_model",
                "wakeups_per_s", "ctx_switches_per_s", "pageins_per_s", "disk_read_bytes_per_s",
                "disk_write_bytes_per_s", "net_bytes_per_s"):  # fmt: skip
        value = getattr(row, key)
        if value is not None:
            setattr(row, key, round(value, 2))
    if row.power_watts is not None:
        row.power_watts = round(row.power_watts, 4)


# Rows of processes that did nothing over an interval, by identity: (the sample, its row).
IdleRows = dict[Identity, tuple[ProcessSample, ProcessRow]]


def compute_ranking(
    prev: Snapshot, cur: Snapshot, sort: str = "score", idle_rows: IdleRows | None = None
) -> Ranking:
    """Rank every process in ``cur`` by stress over the interval since ``prev``.

    ``idle_rows``, when given, is a cache the caller keeps between calls: most processes are
    idle, a process whose sample did not change at all has the same all-zero row as the last
    time it was idle, and comparing samples is far cheaper than computing and scoring rows.
    Rows are shared between rankings then: treat them as read-only.
    """
    interval_s = (cur.monotonic_ns - prev.monotonic_ns) / 1e9
    reaped = _reaped_child_ns(prev, cur)
    rows: list[ProcessRow] = []
    fresh: list[ProcessRow] = []
    still_idle: IdleRows = {}
    for ident, sample in cur.processes.items():
        # Not in prev (new, or a reused pid with another start): started within the interval.
        before = prev.processes.get(ident)
        if idle_rows is not None and before is not None and sample == before:
            cached = idle_rows.get(ident)
            if cached is not None and cached[0] == sample:
                still_idle[ident] = cached
                rows.append(cached[1])
                continue
            row = compute_row(sample, before, interval_s, 0)
            still_idle[ident] = (sample, row)
        else:
            row = compute_row(sample, before, interval_s, reaped.get(sample.pid, 0))
        rows.append(row)
        fresh.append(row)
    if idle_rows is not None:
        idle_rows.clear()
        idle_rows.update(still_idle)
    # Power and Energy Impact need every row (RAPL is split by CPU share), before rounding.
    warnings = list(cur.warnings)
    energy_source = energy.attribute(rows, prev, cur, interval_s, warnings)
    for row in fresh:
        scoring.score_row(row, cur.system)
        _round(row)
    sort_rows(rows, sort)
    return Ranking(
        time=cur.time,
        interval_s=interval_s,
        platform=cur.platform,
        sources=list(cur.sources),
        processes=rows,
        system=dict(cur.system),
        warnings=warnings,
        energy_source=energy_source,
    )


def sort_rows(rows: list[ProcessRow], sort: str = "score") -> None:
    """Highest first; unknown values last; pid breaks ties so the order is stable."""
    key = SORT_KEYS[sort]

    def order(row: ProcessRow) -> tuple[int, float, float, int]:
        value = key(row)
        return (value is None, -(value or 0.0), -row.score, row.pid)

    rows.sort(key=order)


class Sampler:
    """Runs the selected sources together. The first process source is the primary; the others
    patch in what it lacks. A source that fails is reported and dropped; the others go on."""

    def __init__(
        self,
        sources: list[Source],
        platform: str | None = None,
        fallback: Callable[[set[str]], Source | None] | None = None,
    ) -> None:
        if not sources:
            raise SourceError("no sources to sample")
        self.sources = list(sources)
        self.platform = platform or platform_name()
        self.prev: Snapshot | None = None
        self._idle_rows: IdleRows = {}
        self.dropped: list[str] = []  # "name: why" of sources dropped at run time
        # Starts the next best process source (excluding the names given) when the primary
        # fails at run time; see registry.start_fallback.
        self.fallback = fallback

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]

    def read(self) -> Snapshot:
        warnings: list[str] = []
        for _attempt in range(4):
            snapshot = self._read_once(warnings)
            if snapshot is not None:
                return snapshot
            replacement = None
            if self.fallback is not None:
                failed = {entry.split(":", 1)[0] for entry in self.dropped}
                replacement = self.fallback(failed)
            if replacement is None:
                break
            warnings.append(f"now reading processes with {replacement.name}")
            self.sources.insert(0, replacement)
        raise SourceError("; ".join(self.dropped) or "no process source produced data")

    def _read_once(self, warnings: list[str]) -> Snapshot | None:
        """One reading of every source; None when no process source produced data."""
        readings: list[tuple[Source, SourceReading]] = []
        # Processes are read one after another during the sweep: the middle of the sweep is
        # the best single time for all of them (off by at most half a sweep either way).
        started_ns, started_wall = time.monotonic_ns(), time.time()
        for source in list(self.sources):
            try:
                readings.append((source, source.read()))
            except (SourceError, OSError) as exc:
                self._drop(source, str(exc))
                warnings.append(f"source {source.name} failed and was dropped: {exc}")
        primary = next(((s, r) for s, r in readings if r.processes is not None), None)
        if primary is None:
            return None
        processes = {p.identity: p for p in primary[1].processes or []}
        by_pid = {p.pid: p for p in processes.values()}
        system: dict = {}
        used = [primary[0].name]
        # The primary first, then the others best first: the first to know a metric owns it.
        for source, reading in [primary, *(x for x in readings if x is not primary)]:
            warnings.extend(reading.warnings)
            for key, value in reading.system.items():
                system.setdefault(key, value)
            if source is primary[0] or reading.processes is not None:
                continue  # a second process source only stands by as a fallback
            for pid, patch in reading.patches.items():
                if (sample := by_pid.get(pid)) is not None:
                    merge_patch(sample, patch)
            used.append(source.name)
        ended_ns, ended_wall = time.monotonic_ns(), time.time()
        return Snapshot(
            time=(started_wall + ended_wall) / 2,
            monotonic_ns=(started_ns + ended_ns) // 2,
            platform=self.platform,
            sources=used,
            processes=processes,
            system=system,
            warnings=warnings,
        )

    def _drop(self, source: Source, why: str) -> None:
        self.sources.remove(source)
        self.dropped.append(f"{source.name}: {why}")
        with contextlib.suppress(Exception):
            source.close()
        # A new primary counts in other units: never diff across the switch.
        self.prev = None

    def tick(self, sort: str = "score") -> Ranking | None:
        """Read once; return the ranking since the previous read (None on the first)."""
        cur = self.read()
        prev, self.prev = self.prev, cur
        if prev is None or prev.sources[:1] != cur.sources[:1]:
            self._idle_rows.clear()
            return None
        return compute_ranking(prev, cur, sort, self._idle_rows)

    def rankings(self, interval_s: float, sort: str = "score") -> Iterator[Ranking]:
        """Rankings every ``interval_s`` on the monotonic clock (the first after one interval)."""
        deadline = time.monotonic()
        while True:
            started = time.monotonic()
            ranking = self.tick(sort)
            if ranking is not None:
                yield ranking
            deadline += interval_s
            now = time.monotonic()
            if deadline < now:
                # Fell behind (the consumer was slow, the machine paused): go on at once rather
                # than burst to catch up, but never within half an interval of the last
                # reading, whose rates over a few milliseconds would be noise.
                deadline = max(now, started + interval_s / 2)
            if deadline > now:
                time.sleep(deadline - now)

    def close(self) -> None:
        for source in self.sources:
            source.close()


def open_sampler(names: list[str] | None = None) -> tuple[Sampler, list[str]]:
    """A Sampler over the given sources (forced) or the best usable ones here, which falls back
    to the next process source if its own fails at run time. Returns it and the reasons any
    source could not start. Raises SourceError when no process source starts."""
    from lagwatch.sources import registry  # here: registry imports every source module

    sources, problems = registry.select(names)
    fallback = None if names else registry.start_fallback
    return Sampler(sources, fallback=fallback), problems
