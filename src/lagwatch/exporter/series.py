"""Which processes carry Prometheus series, and the counters accumulated for them.

Prometheus wants cumulative counters, but a ranking holds rates over one interval. Each
published ranking adds ``rate x interval`` to the counters of the processes being exported, so
``rate(lagwatch_process_cpu_seconds_total[1m])`` gives back the CPU share lagwatch measured.

Cardinality is bounded: a process gets series when it enters the top K by score and keeps them
(still accumulating) while it lives, so a process that dips out of the top K for a tick does not
lose its counters; the series go when it has left the top K *and* exited. Processes that left
the top K but live on are capped too (``linger_cap``): the ones that left longest ago go first.

Pure and single-writer: ``update`` runs on the sampling thread and returns an immutable
:class:`ExportView` that HTTP threads read without locks.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from operator import attrgetter

from lagwatch.model import Identity, ProcessRow, Ranking

DEFAULT_TOP_K = 20


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """A per-process counter: ``lagwatch_process_<name>_total`` grows by ``rate_key`` x
    ``factor`` x interval each tick."""

    name: str
    rate_key: str
    factor: float
    help: str


COUNTERS: tuple[CounterSpec, ...] = (
    CounterSpec("cpu_seconds", "cpu_percent", 0.01, "CPU time used, in seconds (all cores)"),
    CounterSpec("disk_read_bytes", "disk_read_bytes_per_s", 1.0, "Bytes read from storage"),
    CounterSpec("disk_written_bytes", "disk_write_bytes_per_s", 1.0, "Bytes written to storage"),
    CounterSpec("pageins", "pageins_per_s", 1.0, "Pages read in from disk (major faults)"),
    CounterSpec("wakeups", "wakeups_per_s", 1.0, "Wakeups (idle wakeups on macOS)"),
    CounterSpec("context_switches", "ctx_switches_per_s", 1.0, "Context switches"),
    CounterSpec("gpu_seconds", "gpu_percent", 0.01, "GPU busy time, in seconds"),
    CounterSpec("network_bytes", "net_bytes_per_s", 1.0, "Network bytes sent and received"),
    CounterSpec("energy_joules", "power_watts", 1.0, "Energy used, in joules (where measured)"),
)


@dataclass(frozen=True, slots=True)
class ProcessSeries:
    """What one exported process shows at one moment (a copy: safe to read from any thread)."""

    pid: int
    start_id: int
    name: str
    score: float
    dominant: str | None
    memory_bytes: int | None
    threads: int | None
    energy_impact: float | None
    in_top: bool
    # Only counters that were measured at least once appear here ("where measured").
    totals: dict[str, float]


@dataclass(frozen=True, slots=True)
class ExportView:
    """Everything the /metrics page needs from the rankings, as of one tick."""

    version: int
    ranking: Ranking | None
    processes: tuple[ProcessSeries, ...]
    # Sums over *every* process of each counter that any process measured.
    system_totals: dict[str, float]
    top_k: int


@dataclass(slots=True)
class _Tracked:
    row: ProcessRow
    totals: dict[str, float] = field(default_factory=dict)
    in_top: bool = True
    left_top_at: int = 0  # update count when it last left the top K (for linger eviction)


def accumulate(totals: dict[str, float], row: ProcessRow, interval_s: float) -> None:
    """Add one interval of ``row``'s measured rates to ``totals``; unknown rates add nothing
    (and create no counter)."""
    for spec in COUNTERS:
        rate = getattr(row, spec.rate_key, None)
        if rate is None:
            continue
        totals[spec.name] = totals.get(spec.name, 0.0) + max(0.0, rate) * spec.factor * interval_s


def accumulate_all(totals: dict[str, float], rows: list[ProcessRow], interval_s: float) -> None:
    """``accumulate`` summed over many rows, one counter at a time (the daemon's hot path)."""
    for spec in COUNTERS:
        get = attrgetter(spec.rate_key)
        measured = [rate for rate in map(get, rows) if rate is not None]
        if measured:
            added = sum(rate for rate in measured if rate > 0) * spec.factor * interval_s
            totals[spec.name] = totals.get(spec.name, 0.0) + added


def top_by_score(rows: list[ProcessRow], k: int) -> list[ProcessRow]:
    """The ``k`` highest scores; pid breaks ties so the set is stable on an idle machine."""
    return heapq.nsmallest(k, rows, key=lambda r: (-r.score, r.pid))


class SeriesTracker:
    """Turns the stream of rankings into exported per-process series (single writer)."""

    def __init__(self, top_k: int = DEFAULT_TOP_K, linger_cap: int | None = None) -> None:
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.top_k = top_k
        # Live processes that left the top K still hold series; at most this many of them.
        self.linger_cap = top_k if linger_cap is None else linger_cap
        self._tracked: dict[Identity, _Tracked] = {}
        self._system_totals: dict[str, float] = {}
        self._updates = 0
        self.view = ExportView(0, None, (), {}, top_k)

    def update(self, ranking: Ranking) -> ExportView:
        self._updates += 1
        interval_s = max(0.0, ranking.interval_s)
        alive: dict[Identity, ProcessRow] = {row.identity: row for row in ranking.processes}
        top_ids = {row.identity for row in top_by_score(ranking.processes, self.top_k)}

        # Exited processes lose their series (they cannot be in this tick's top K).
        for ident in [i for i in self._tracked if i not in alive]:
            del self._tracked[ident]
        for ident in top_ids:
            if ident not in self._tracked:
                self._tracked[ident] = _Tracked(row=alive[ident])
        for ident, tracked in self._tracked.items():
            tracked.row = alive[ident]
            accumulate(tracked.totals, tracked.row, interval_s)
            in_top = ident in top_ids
            if tracked.in_top and not in_top:
                tracked.left_top_at = self._updates
            tracked.in_top = in_top
        self._evict_lingering()

        accumulate_all(self._system_totals, ranking.processes, interval_s)

        series = tuple(
            ProcessSeries(
                pid=t.row.pid,
                start_id=t.row.start_id,
                name=t.row.name,
                score=t.row.score,
                dominant=t.row.dominant,
                memory_bytes=t.row.memory_bytes,
                threads=t.row.threads,
                energy_impact=t.row.energy_impact,
                in_top=t.in_top,
                totals=dict(t.totals),
            )
            for t in sorted(self._tracked.values(), key=lambda t: (-t.row.score, t.row.pid))
        )
        self.view = ExportView(
            version=self._updates,
            ranking=ranking,
            processes=series,
            system_totals=dict(self._system_totals),
            top_k=self.top_k,
        )
        return self.view

    def _evict_lingering(self) -> None:
        lingering = [(t.left_top_at, i) for i, t in self._tracked.items() if not t.in_top]
        excess = len(lingering) - self.linger_cap
        if excess > 0:
            for _, ident in sorted(lingering)[:excess]:
                del self._tracked[ident]
