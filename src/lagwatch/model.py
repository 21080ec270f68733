"""The one data model every source, the sampler, the store and every interface share.

A *source* produces :class:`ProcessSample` objects: cumulative counters (they only grow while
the process lives) and gauges (a value right now). The ranking (lagwatch.ranking) turns two
samples of the same process into a :class:`ProcessRow` of rates, which scoring completes and
interfaces print; lagwatch.catalogue describes each of those metrics.

``None`` always means "this source cannot know", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

# A process is the same process only if both its pid and its start time match, so a reused pid
# never yields a bogus delta. ``start_id`` is in source units (jiffies since boot, Mach ticks...):
# it is only ever compared for equality.
Identity = tuple[int, int]


def sum_known(*values: float | None) -> float | None:
    """The sum of the known values; None only when none is known (one unknown part of a total
    is not a reason to hide the rest, and no known part is not a zero)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(slots=True)
class ProcessSample:
    """One reading of one process by one source."""

    pid: int
    start_id: int
    name: str
    ppid: int | None = None
    uid: int | None = None
    user: str | None = None
    state: str | None = None
    # The OS refused part of the data (another user's process without root).
    restricted: bool = False
    # Gauges.
    memory_bytes: int | None = None
    threads: int | None = None
    # Cumulative counters.
    cpu_ns: int | None = None
    child_cpu_ns: int | None = None  # CPU of reaped children (fork storms show up as the parent)
    disk_read_bytes: int | None = None
    disk_write_bytes: int | None = None
    pageins: int | None = None
    wakeups: int | None = None
    ctx_switches: int | None = None
    # Storage operations (Linux: read/write calls that moved storage bytes, lagwatch.sources.
    # io_waits); None where the OS does not count them (macOS).
    disk_read_ops: int | None = None
    disk_write_ops: int | None = None
    gpu_ns: int | None = None
    energy_nj: int | None = None
    net_bytes: int | None = None
    # CPU time per QoS class (macOS), cumulative ns; used by the Energy Impact model.
    cpu_qos_ns: dict[str, int] | None = None
    # Rates a source measured itself (top, powermetrics): contract key -> value. They win over
    # rates the ranking would derive from counters.
    rates: dict[str, float | None] | None = None
    # The command line: argv joined with spaces, at most CMDLINE_MAX_CHARS; None when the OS
    # does not give it (another user's process on macOS, a kernel thread, a zombie). Sources
    # build samples by keyword, so no field's place in this class matters to them.
    cmdline: str | None = None

    @property
    def identity(self) -> Identity:
        return (self.pid, self.start_id)


# A command line longer than this is cut (a shell's megabyte of arguments is not a name).
CMDLINE_MAX_CHARS = 4096


def join_cmdline(argv: list[str] | list[bytes] | tuple[str, ...]) -> str | None:
    """argv as one bounded line (arguments joined with spaces); None for an empty argv (a
    kernel thread or a zombie has none). Bytes that are not UTF-8 become the text \\xNN (a
    str that SQLite and JSON take as it is); lagwatch.sanitize escapes control characters
    where it is printed."""
    parts = [a.decode("utf-8", "backslashreplace") if isinstance(a, bytes) else a for a in argv]
    text = " ".join(parts)
    if not text.strip():
        return None
    return text[:CMDLINE_MAX_CHARS]


# Every field's value in the class's order, for ``copy_sample``.
_ALL_FIELDS = attrgetter(*(f.name for f in fields(ProcessSample)))


def copy_sample(sample: ProcessSample) -> ProcessSample:
    """A copy to patch: a source may hand the same sample object out again on its next
    reading (an idle process's), so samples are never changed once a source returned them."""
    return ProcessSample(*_ALL_FIELDS(sample))


# Fields a secondary source may fill in on a primary source's sample (see ``merge_patch``).
PATCHABLE: frozenset[str] = frozenset(
    f.name for f in fields(ProcessSample) if f.name not in ("pid", "start_id")
)
# Patches are keyed by pid, and a pid may have been reused since the secondary source read it:
# under this key a patch may carry a check of the primary's sample (ProcessSample -> bool),
# and applies only when that says it is the same process.
APPLIES_TO = "applies_to"
# Rates standing in for counters the primary could not read: {counter field: {rate key:
# value}}. Each applies only where the sample's counter is unknown (None), so a secondary
# source's rate never replaces what the primary counts itself.
STAND_IN_RATES = "stand_in_rates"


def merge_patch(sample: ProcessSample, patch: dict[str, Any]) -> bool:
    """Fill ``sample``'s unknown fields from ``patch`` (on a copy: see ``copy_sample``); known
    values stay (sources are merged best-first, so the first source to know a metric owns
    it). False when the patch's ``APPLIES_TO`` check says it describes another process
    (nothing is merged then)."""
    check = patch.get(APPLIES_TO)
    if check is not None and not check(sample):
        return False
    for key, value in patch.items():
        if key == "rates" and value:
            _add_rates(sample, value)
        elif key == STAND_IN_RATES:
            for counter, rates in value.items():
                if getattr(sample, counter) is None:
                    _add_rates(sample, rates)
        elif key in PATCHABLE and value is not None and getattr(sample, key) is None:
            setattr(sample, key, value)
    return True


def _add_rates(sample: ProcessSample, rates: dict[str, float | None]) -> None:
    merged = dict(rates)
    merged.update(sample.rates or {})  # rates the sample already has win
    sample.rates = merged


@dataclass(slots=True)
class Snapshot:
    """All processes read at one moment, by the sources named in ``sources``."""

    time: float  # unix seconds (wall clock), for display and storage
    monotonic_ns: int  # for intervals: never goes backwards
    platform: str
    sources: list[str]
    processes: dict[Identity, ProcessSample]
    # Machine facts the scorer needs (e.g. memory_total_bytes, cpu_count) and system figures.
    system: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# System keys that describe the machine and how it is read, not a moment: the store keeps
# these once per distinct value (its contexts). Every other key of ``system`` is a figure of
# the moment (the header's figures below, RAPL and powermetrics energy, the counters of
# macOS `top`'s header) and would make a new context at every tick.
MACHINE_FACT_KEYS: frozenset[str] = frozenset(
    {"cpu_count", "memory_total_bytes", "sweep_mode", "rapl_zones"}
)

# System figures that change at every reading (lagwatch.sources.system_linux, the pressure of
# lagwatch.sources.psi): shown live (the header of `top` and the TUI, the exporter, the daemon's
# pressure events).
LIVE_SYSTEM_KEYS: frozenset[str] = frozenset(
    {
        "pressure",
        "pressure_cgroups",
        "cpu_busy_percent_per_core",
        "cpu_busy_percent",
        "memory_available_bytes",
        "memory_used_bytes",
        "swap_total_bytes",
        "swap_used_bytes",
        "load_avg_1m",
        "load_avg_5m",
        "load_avg_15m",
    }
)


# JSON contract of one process, in order. Every key is always present. Each metric among them
# has its entry in lagwatch.catalogue (a test checks that the two agree).
PROCESS_KEYS: tuple[str, ...] = (
    "pid",
    "ppid",
    "name",
    "user",
    "state",
    "score",
    "dominant",
    "cpu_percent",
    "memory_bytes",
    "threads",
    "disk_read_bytes_per_s",
    "disk_write_bytes_per_s",
    "pageins_per_s",
    "wakeups_per_s",
    "ctx_switches_per_s",
    "gpu_percent",
    "net_bytes_per_s",
    "energy_impact",
    "power_watts",
    "restricted",
    # Added keys (the contract only grows by adding keys):
    "energy_impact_model",
    "disk_read_ops_per_s",
    "disk_write_ops_per_s",
    "cmdline",
)


@dataclass(slots=True)
class ProcessRow:
    """One process in a ranking: rates over the interval, gauges, score."""

    pid: int
    ppid: int | None
    name: str
    user: str | None
    state: str | None
    restricted: bool
    memory_bytes: int | None
    threads: int | None
    cpu_percent: float | None = None
    disk_read_bytes_per_s: float | None = None
    disk_write_bytes_per_s: float | None = None
    pageins_per_s: float | None = None
    wakeups_per_s: float | None = None
    ctx_switches_per_s: float | None = None
    gpu_percent: float | None = None
    net_bytes_per_s: float | None = None
    energy_impact: float | None = None
    power_watts: float | None = None
    # lagwatch's own estimate, shown beside energy_impact when that came from the OS's own
    # tools (powermetrics, top's POWER); equal to it otherwise.
    energy_impact_model: float | None = None
    disk_read_ops_per_s: float | None = None
    disk_write_ops_per_s: float | None = None
    cmdline: str | None = None  # argv joined (ProcessSample.cmdline)
    score: float = 0.0
    dominant: str | None = None
    # Not in the JSON contract: how fast the footprint grew (a ballooning process is a memory
    # culprit before it is a big one), and per-resource sub-scores 0-100 for views and events.
    memory_growth_bytes_per_s: float | None = None
    subscores: dict[str, float] = field(default_factory=dict)
    start_id: int = 0
    # The app the process belongs to (lagwatch.apps key), decided live where the whole process
    # tree is known and recorded with the row, so history groups even unrecorded parents' kids.
    app: str | None = None

    @property
    def identity(self) -> Identity:
        return (self.pid, self.start_id)

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in PROCESS_KEYS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRow:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(slots=True)
class Ranking:
    """The answer to "who is stressing this machine" over one interval."""

    time: float
    interval_s: float
    platform: str
    sources: list[str]
    processes: list[ProcessRow]
    system: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # How power_watts and energy_impact were obtained (lagwatch.energy.ENERGY_SOURCES).
    energy_source: str | None = None

    @property
    def restricted_count(self) -> int:
        return sum(1 for p in self.processes if p.restricted)

    def to_json(self, limit: int | None = None) -> dict[str, Any]:
        procs = self.processes if limit is None else self.processes[:limit]
        return {
            "time": round(self.time, 3),
            "interval_s": round(self.interval_s, 3),
            "platform": self.platform,
            "sources": list(self.sources),
            "processes": [p.to_json() for p in procs],
            # Added keys (the contract grows only by adding keys).
            "process_count": len(self.processes),
            "restricted_count": self.restricted_count,
            "energy_source": self.energy_source,
        }
