"""Rankings: two Snapshots in, every process's rates, energy and score out, worst first.

Pure (no I/O), so the live view, the daemon and the replay of captures share it and tests can
feed it hand-made snapshots. Which rates exist, how they derive from counters, how they are
rounded and what they sort by all come from the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from lagwatch import energy, scoring
from lagwatch.catalogue import COUNTER_FIELDS, DROPPABLE_COUNTERS, METRICS, Getter, sort_getters
from lagwatch.model import Identity, ProcessRow, ProcessSample, Ranking, Snapshot

SORT_KEYS: dict[str, Getter] = {"score": attrgetter("score"), **sort_getters()}

# Rates derived from a counter: (row key, counter, counter units per row unit, may drop). CPU is
# not among them: it adds the CPU of reaped children (see compute_row).
_COUNTER_RATES: tuple[tuple[str, str, float, bool], ...] = tuple(
    (m.key, m.counter, m.counter_per_unit, m.counter in DROPPABLE_COUNTERS)
    for m in METRICS
    if m.counter is not None and m.key != "cpu_percent"
)
_CPU_PER_UNIT = next(m.counter_per_unit for m in METRICS if m.key == "cpu_percent")
# Gauges copied from the sample: (row key, sample field).
_GAUGES: tuple[tuple[str, str], ...] = tuple((m.key, m.gauge) for m in METRICS if m.gauge)
_ROUNDING: tuple[tuple[str, int], ...] = tuple(
    (m.key, m.digits) for m in METRICS if m.digits is not None
)

# A process that started within the interval: its counters started at zero.
_ZERO = ProcessSample(pid=0, start_id=0, name="")
for _name in (*COUNTER_FIELDS, "child_cpu_ns"):
    setattr(_ZERO, _name, 0)


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
    values: dict[str, float | int | None] = {key: getattr(cur, field) for key, field in _GAUGES}
    for key, counter, per_unit, droppable in _COUNTER_RATES:
        d = _delta(getattr(cur, counter), getattr(base, counter), droppable)
        values[key] = None if d is None else d * per_s / per_unit
    cpu_d = _delta(cur.cpu_ns, base.cpu_ns, False)
    if cpu_d is not None:
        child_d = _delta(cur.child_cpu_ns, base.child_cpu_ns, False) or 0
        cpu_d += max(0, child_d - reaped_seen_ns)
        values["cpu_percent"] = cpu_d * per_s / _CPU_PER_UNIT
    if cur.memory_bytes is not None and prev is not None and prev.memory_bytes is not None:
        values["memory_growth_bytes_per_s"] = (cur.memory_bytes - prev.memory_bytes) * per_s
    row = ProcessRow(
        pid=cur.pid,
        ppid=cur.ppid,
        name=cur.name,
        user=cur.user,
        state=cur.state,
        restricted=cur.restricted,
        start_id=cur.start_id,
        cmdline=cur.cmdline,
        **values,  # type: ignore[arg-type]  # the catalogue's keys are ProcessRow's fields
    )
    if cur.rates:  # rates a source measured itself win
        for key, value in cur.rates.items():
            if hasattr(row, key):
                setattr(row, key, value)
    return row  # power and Energy Impact are attributed across all rows (energy.attribute)


def round_row(row: ProcessRow) -> None:
    """Round the row's figures as the catalogue says (in place)."""
    for key, digits in _ROUNDING:
        value = getattr(row, key)
        if value is not None:
            setattr(row, key, round(value, digits))


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
        # ``is`` first: a source hands out an idle process's sample object again, and a
        # dataclass's == builds two tuples of every field (at 10 000 processes, 6 ms a tick).
        if idle_rows is not None and before is not None and (sample is before or sample == before):
            cached = idle_rows.get(ident)
            if cached is not None and (cached[0] is sample or cached[0] == sample):
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
        round_row(row)
    sort_rows(rows, sort, cur.system.get("memory_total_bytes"))
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


def is_kernel_thread(row: ProcessRow) -> bool:
    """A kernel thread: no user memory (a true zero, see procfs), child of kthreadd or the
    kernel itself."""
    return row.memory_bytes == 0 and row.ppid in (0, 2)


def order_key(
    sort: str = "score", memory_total_bytes: int | None = None
) -> Callable[[ProcessRow], tuple[Any, ...]]:
    """The sort key of a ranking, highest first: the sort figure (unknown last), then the
    score, then for ties: kernel threads after user processes (an idle kthread never fills the
    first rows while any user process does something), the dominant resource's figure (how
    close to its band, lagwatch.scoring.closeness), CPU, footprint, and pid for stability."""
    key = SORT_KEYS[sort]

    def order(row: ProcessRow) -> tuple[Any, ...]:
        value = key(row)
        return (
            value is None,
            -(value or 0.0),
            -row.score,
            is_kernel_thread(row),
            -scoring.closeness(row, memory_total_bytes),
            -(row.cpu_percent or 0.0),
            -(row.memory_bytes or 0),
            row.pid,
        )

    return order


def sort_rows(
    rows: list[ProcessRow], sort: str = "score", memory_total_bytes: int | None = None
) -> None:
    """Highest first, in the order of ``order_key``."""
    rows.sort(key=order_key(sort, memory_total_bytes))
