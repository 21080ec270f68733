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
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter

from lagwatch.catalogue import METRICS, MetricSpec
from lagwatch.model import Identity, ProcessRow, Ranking
from lagwatch.ranking import order_key

DEFAULT_TOP_K = 20


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """A per-process series, from the catalogue: a gauge ``lagwatch_process_<name>`` is
    ``key`` x ``factor`` now; a counter ``lagwatch_process_<name>_total`` grows by ``key`` x
    ``factor`` x interval each tick."""

    name: str
    key: str
    factor: float
    help: str


def series_specs(rates: bool, metrics: Iterable[MetricSpec] = METRICS) -> tuple[SeriesSpec, ...]:
    """The exported metrics: the rates (as counters) or the others (as gauges)."""
    return tuple(
        SeriesSpec(m.prom_name, m.key, m.prom_factor, m.prom_help)
        for m in metrics
        if m.prom_name is not None and m.rate == rates
    )


COUNTERS: tuple[SeriesSpec, ...] = series_specs(rates=True)
GAUGES: tuple[SeriesSpec, ...] = series_specs(rates=False)


@dataclass(frozen=True, slots=True)
class ProcessSeries:
    """What one exported process shows at one moment (a copy: safe to read from any thread)."""

    pid: int
    start_id: int
    name: str
    score: float
    dominant: str | None
    in_top: bool
    # Only gauges known now and counters measured at least once appear ("where measured").
    gauges: dict[str, float]
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


def gauges(row: ProcessRow, specs: Iterable[SeriesSpec] = GAUGES) -> dict[str, float]:
    """``row``'s known gauges in base units; unknown ones have no series."""
    out = {}
    for spec in specs:
        value = getattr(row, spec.key, None)
        if value is not None:
            out[spec.name] = float(value) * spec.factor
    return out


def accumulate(
    totals: dict[str, float],
    row: ProcessRow,
    interval_s: float,
    specs: Iterable[SeriesSpec] = COUNTERS,
) -> None:
    """Add one interval of ``row``'s measured rates to ``totals``; unknown rates add nothing
    (and create no counter)."""
    for spec in specs:
        rate = getattr(row, spec.key, None)
        if rate is None:
            continue
        totals[spec.name] = totals.get(spec.name, 0.0) + max(0.0, rate) * spec.factor * interval_s


def accumulate_all(totals: dict[str, float], rows: list[ProcessRow], interval_s: float) -> None:
    """``accumulate`` summed over many rows, one counter at a time (the daemon's hot path)."""
    for spec in COUNTERS:
        get = attrgetter(spec.key)
        measured = [rate for rate in map(get, rows) if rate is not None]
        if measured:
            added = sum(rate for rate in measured if rate > 0) * spec.factor * interval_s
            totals[spec.name] = totals.get(spec.name, 0.0) + added


def top_by_score(
    rows: list[ProcessRow], k: int, memory_total_bytes: int | None = None
) -> list[ProcessRow]:
    """The ``k`` highest scores, ties broken as the ranking breaks them (ranking.order_key), so
    the exported set is the top of `lagwatch top` and is stable on an idle machine."""
    return heapq.nsmallest(k, rows, key=order_key("score", memory_total_bytes))


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
        order = order_key("score", ranking.system.get("memory_total_bytes"))
        alive: dict[Identity, ProcessRow] = {row.identity: row for row in ranking.processes}
        top_ids = {
            row.identity
            for row in top_by_score(
                ranking.processes, self.top_k, ranking.system.get("memory_total_bytes")
            )
        }

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
                in_top=t.in_top,
                gauges=gauges(t.row),
                totals=dict(t.totals),
            )
            for t in sorted(self._tracked.values(), key=lambda t: order(t.row))
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
