"""The catalogue of per-process metrics: one entry per measured figure of a ProcessRow.

Every view reads it: the rankings (how a rate derives from a counter, rounding, sort keys), the
tables of `top`, `history` and the TUI (header, width, cell format, which tables show it), the
event timelines, the store's tick summary and the Prometheus series. Adding a metric is one
entry here, its ``ProcessSample``/``ProcessRow`` fields and its contract key in the model, and
the source that measures it.

The identity and verdict fields of a row (pid, name, user, state, restricted, score, dominant)
are not metrics: each view places them itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Literal

from lagwatch.model import ProcessRow, sum_known
from lagwatch.units import format_bytes, format_number, format_rate, format_watts

Getter = Callable[[ProcessRow], float | None]
Formatter = Callable[[float | None], str]
# Which tables show a metric: "narrow" every table (top and history must fit 80 columns too),
# "wide" only the TUI's (it scrolls sideways), "none" only the detail views.
Column = Literal["narrow", "wide", "none"]


def _count(value: float | None) -> str:
    return "-" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    key: str  # ProcessRow attribute, and its key in the JSON contract
    unit: str  # "%", "B", "B/s", "/s", "W" or "" (a count or an index); the key's suffix says it
    label: str  # long name, for detail views
    header: str  # short column header, the same in every table
    width: int  # cells of a fixed-width column (the TUI, history); ``format`` fits in it
    format: Formatter  # compact cell text; "-" for unknown
    column: Column = "narrow"
    # Which columns a table keeps when the terminal is too narrow for all: the lowest first
    # (numbers are never cut; the least useful columns go instead).
    priority: int = 100
    about: str = ""  # the legend's line (``--help``); the label when empty
    # The sort key this metric counts towards; metrics sharing one are summed (disk = read +
    # write). Sort keys are also the resources the score blames (scoring.BANDS), except energy.
    sort: str | None = None
    # A per-second rate over the interval (rate x interval is an amount: the exporter's
    # counters); otherwise a gauge, or a figure that does not add up over time.
    rate: bool = False
    digits: int | None = None  # rounded to this many decimals in a ranking (None: as is)
    timeline: bool = False  # shown in the timelines of events (`why`)
    contract: bool = True  # a key of the JSON contract (model.PROCESS_KEYS)
    # Where the value comes from in a ProcessSample: ``counter`` is a cumulative counter whose
    # growth per second divided by ``counter_per_unit`` is the value; ``gauge`` a field copied as
    # is. Neither: computed elsewhere (energy attribution, the ranking's memory growth).
    counter: str | None = None
    counter_per_unit: float = 1.0
    counter_drops: bool = False  # the counter can go down legitimately: a drop means idle
    gauge: str | None = None
    # Column of the store's tick summary that sums it over every process (one schema column
    # per total: a new total needs a migration, see store/schema.py).
    total: str | None = None
    # Per-process Prometheus series lagwatch_process_<prom_name> (a counter, with _total, for
    # a rate); value x prom_factor is in Prometheus base units. None: not exported.
    prom_name: str | None = None
    prom_help: str = ""
    prom_factor: float = 1.0
    get: Getter = field(init=False, repr=False, compare=False)  # row -> value

    def __post_init__(self) -> None:
        object.__setattr__(self, "get", attrgetter(self.key))

    @property
    def is_bytes(self) -> bool:
        return self.unit in ("B", "B/s")


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        "cpu_percent", "%", "CPU (1 core)", "CPU%", 6, format_number,
        priority=10, about="CPU time, % of one core (200 = two cores busy)",
        sort="cpu", rate=True, digits=2, timeline=True,
        counter="cpu_ns", counter_per_unit=1e7,  # ns/s -> percent of one core
        total="cpu_percent_total",
        prom_name="cpu_seconds", prom_help="CPU time used, in seconds (all cores)",
        prom_factor=0.01,
    ),
    MetricSpec(
        "memory_bytes", "B", "Memory", "MEM", 7, format_bytes,
        priority=20, about="memory footprint (private memory; phys_footprint on macOS)",
        sort="memory", timeline=True, gauge="memory_bytes",
        prom_name="memory_bytes",
        prom_help="Memory footprint of a process (private memory; phys_footprint on macOS)",
    ),
    MetricSpec(
        "disk_read_bytes_per_s", "B/s", "Disk read", "DISK R", 8, format_rate,
        priority=30, about="bytes read from storage per second",
        sort="disk", rate=True, digits=2, timeline=True, counter="disk_read_bytes",
        total="disk_bytes_per_s_total",
        prom_name="disk_read_bytes", prom_help="Bytes read from storage",
    ),
    MetricSpec(
        "disk_write_bytes_per_s", "B/s", "Disk written", "DISK W", 8, format_rate,
        priority=31, about="bytes written to storage per second",
        sort="disk", rate=True, digits=2, timeline=True, counter="disk_write_bytes",
        total="disk_bytes_per_s_total",
        prom_name="disk_written_bytes", prom_help="Bytes written to storage",
    ),
    MetricSpec(
        # Storage operations: scoring sees them beside the bytes (thousands of tiny synced
        # writes hurt more than their MB/s suggest). Linux only; docs/metrics.md says how.
        "disk_read_ops_per_s", "/s", "Disk read ops", "RD OP/s", 7, format_number,
        priority=110, about="read calls that went to storage, per second (Linux)",
        column="none", rate=True, digits=2, counter="disk_read_ops",
        prom_name="disk_read_operations", prom_help="Read calls that went to storage",
    ),
    MetricSpec(
        "disk_write_ops_per_s", "/s", "Disk write ops", "WR OP/s", 7, format_number,
        priority=111, about="write calls that dirtied storage pages, per second (Linux)",
        column="none", rate=True, digits=2, counter="disk_write_ops",
        prom_name="disk_write_operations", prom_help="Write calls that dirtied storage pages",
    ),
    MetricSpec(
        "pageins_per_s", "/s", "Page-ins", "PGIN/s", 6, format_number,
        priority=60, about="pages read in from disk per second (major faults)",
        sort="pageins", rate=True, digits=2, timeline=True, counter="pageins",
        total="pageins_per_s_total",
        prom_name="pageins", prom_help="Pages read in from disk (major faults)",
    ),
    MetricSpec(
        "wakeups_per_s", "/s", "Wakeups", "WAKE/s", 6, format_number,
        priority=70, about="wakeups per second (idle wakeups on macOS)",
        sort="wakeups", rate=True, digits=2, timeline=True, counter="wakeups",
        prom_name="wakeups", prom_help="Wakeups (idle wakeups on macOS)",
    ),
    MetricSpec(
        "ctx_switches_per_s", "/s", "Ctx switches", "CSW/s", 6, format_number,
        priority=100, about="context switches per second",
        column="wide", rate=True, digits=2, counter="ctx_switches",
        prom_name="context_switches", prom_help="Context switches",
    ),
    MetricSpec(
        "gpu_percent", "%", "GPU busy", "GPU%", 5, format_number,
        priority=45, about="GPU busy time, % of one GPU",
        sort="gpu", rate=True, digits=2, timeline=True,
        counter="gpu_ns", counter_per_unit=1e7, counter_drops=True,  # a GPU client closed
        prom_name="gpu_seconds", prom_help="GPU busy time, in seconds", prom_factor=0.01,
    ),
    MetricSpec(
        "net_bytes_per_s", "B/s", "Network", "NET", 8, format_rate,
        priority=40, about="network bytes sent and received per second",
        sort="network", rate=True, digits=2, timeline=True,
        counter="net_bytes", counter_drops=True,  # a socket closed
        prom_name="network_bytes", prom_help="Network bytes sent and received",
    ),
    MetricSpec(
        "energy_impact", "", "Energy Impact", "EI", 6, format_number,
        priority=50, about="Energy Impact as Activity Monitor shows it (100 ~ a busy core)",
        sort="energy", digits=2, timeline=True,  # attributed by lagwatch.energy
        prom_name="energy_impact",
        prom_help="Energy Impact of a process over the last interval (100 ~ one busy core)",
    ),
    MetricSpec(
        "power_watts", "W", "Power", "W", 6, format_watts,
        priority=80, about="power in watts, where measured",
        rate=True, digits=4, timeline=True,
        counter="energy_nj", counter_per_unit=1e9,  # nJ/s -> W; or attributed
        prom_name="energy_joules", prom_help="Energy used, in joules (where measured)",
    ),
    MetricSpec(
        "threads", "", "Threads", "THR", 4, _count,
        priority=90, about="threads",
        column="wide", gauge="threads",
        prom_name="threads", prom_help="Threads of a process",
    ),
    MetricSpec(
        "energy_impact_model", "", "EI (lagwatch)", "EI LW", 6, format_number,
        priority=120, about="lagwatch's own Energy Impact estimate beside the OS's",
        column="none", digits=2,  # lagwatch's own estimate beside the OS's energy_impact
    ),
    MetricSpec(
        # Not in the contract: how fast the footprint grew (scoring blames a ballooning
        # process on memory before it is big); only known with a previous sample.
        "memory_growth_bytes_per_s", "B/s", "Memory growth", "MEM+/s", 8, format_rate,
        priority=130, about="how fast the footprint grew, bytes per second",
        column="none", rate=True, contract=False,
    ),
)  # fmt: skip

BY_KEY: dict[str, MetricSpec] = {m.key: m for m in METRICS}

# Metrics shown in a timeline (besides pid, name, score, dominant).
TIMELINE_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS if m.timeline)

# The cumulative counters of a ProcessSample that rates derive from.
COUNTER_FIELDS: tuple[str, ...] = tuple(m.counter for m in METRICS if m.counter)

# Counters that can legitimately go down (a GPU client or a socket closes and its time leaves
# the per-pid sum): a drop counts as no activity rather than as an unknown.
DROPPABLE_COUNTERS: frozenset[str] = frozenset(
    m.counter for m in METRICS if m.counter and m.counter_drops
)


def table_metrics(wide: bool, metrics: Iterable[MetricSpec] = METRICS) -> tuple[MetricSpec, ...]:
    """The metric columns of a table, in catalogue order: the narrow ones, and with ``wide``
    also those only a sideways-scrolling table has room for."""
    shown = ("narrow", "wide") if wide else ("narrow",)
    return tuple(m for m in metrics if m.column in shown)


def sort_getters(metrics: Iterable[MetricSpec] = METRICS) -> dict[str, Getter]:
    """Sort key -> the figure it sorts by, in catalogue order; metrics sharing a sort key are
    summed (unknown only when all are)."""
    groups: dict[str, list[Getter]] = {}
    for m in metrics:
        if m.sort is not None:
            groups.setdefault(m.sort, []).append(m.get)
    return {
        name: getters[0] if len(getters) == 1 else _summed(getters)
        for name, getters in groups.items()
    }


def _summed(getters: list[Getter]) -> Getter:
    def total(row: ProcessRow) -> float | None:
        return sum_known(*(get(row) for get in getters))

    return total


def totals(metrics: Iterable[MetricSpec] = METRICS) -> dict[str, tuple[str, ...]]:
    """Tick summary column -> the metric keys it sums, in catalogue order."""
    out: dict[str, tuple[str, ...]] = {}
    for m in metrics:
        if m.total is not None:
            out[m.total] = (*out.get(m.total, ()), m.key)
    return out
