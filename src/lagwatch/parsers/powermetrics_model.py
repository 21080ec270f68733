"""What a powermetrics capture holds, whichever format it came in: tasks, coalitions, samples.

Both parsers (lagwatch.parsers.powermetrics_plist for ``-f plist``, lagwatch.parsers.
powermetrics_text for the text format) produce these, so the live source and ``lagwatch
analyze`` read one shape. Figures a format does not carry stay None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEAD_TASKS_PID = -1
ALL_TASKS_PID = -2
QOS_CLASSES = (
    "disabled", "maintenance", "background", "utility", "default", "user_initiated",
    "user_interactive",
)  # fmt: skip


@dataclass(slots=True)
class PmTask:
    """One task (process) in one sample. Rates are per second of the sample's interval; the
    plain amounts (``intr_wakeups``, ``diskio_bytesread``...) are totals over that interval."""

    pid: int
    name: str
    line: int | None = None
    coalition_id: int | None = None
    coalition_name: str | None = None
    parent_pid: int | None = None
    responsible_pid: int | None = None
    started_abstime_ns: int | None = None
    interval_ns: int | None = None
    cpu_ms_per_s: float | None = None
    cpu_sample_ms_per_s: float | None = None  # "samp ms/s"
    user_percent: float | None = None
    deadlines_short_per_s: float | None = None  # timer wakeups with a deadline < 2 ms
    deadlines_medium_per_s: float | None = None  # 2-5 ms
    intr_wakeups_per_s: float | None = None  # every interrupt wakeup
    idle_wakeups_per_s: float | None = None  # the subset that woke a package from idle
    disk_read_bytes_per_s: float | None = None
    disk_write_bytes_per_s: float | None = None
    pageins_per_s: float | None = None
    net_rx_bytes_per_s: float | None = None
    net_tx_bytes_per_s: float | None = None
    net_rx_packets_per_s: float | None = None
    net_tx_packets_per_s: float | None = None
    gpu_ms_per_s: float | None = None
    energy_impact: float | None = None
    energy_impact_per_s: float | None = None
    qos_ms_per_s: dict[str, float] | None = None
    dead: bool | None = None  # Summary blocks: the task exited during the summary period
    # Amounts over the interval (plist only).
    cputime_ns: int | None = None
    intr_wakeups: int | None = None
    idle_wakeups: int | None = None
    diskio_bytesread: int | None = None
    diskio_byteswritten: int | None = None
    pageins: int | None = None
    bytes_received: int | None = None
    bytes_sent: int | None = None
    gputime_ns: int | None = None
    qos_ns: dict[str, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # unknown text columns

    @property
    def is_pseudo(self) -> bool:
        return self.pid < 0

    @property
    def cpu_percent(self) -> float | None:
        """Percent of one core."""
        if self.cpu_ms_per_s is not None:
            return self.cpu_ms_per_s / 10.0
        if self.cputime_ns is not None and self.interval_ns:
            return 100.0 * self.cputime_ns / self.interval_ns
        return None

    @property
    def energy_impact_rate(self) -> float | None:
        """powermetrics' Energy Impact as a rate (per second of the interval)."""
        if self.energy_impact_per_s is not None:
            return self.energy_impact_per_s
        return self.energy_impact


@dataclass(slots=True)
class PmCoalition:
    id: int
    name: str
    line: int | None = None
    cpu_ms_per_s: float | None = None
    intr_wakeups_per_s: float | None = None
    idle_wakeups_per_s: float | None = None
    gpu_ms_per_s: float | None = None
    energy_impact: float | None = None
    energy_impact_per_s: float | None = None
    tasks: list[PmTask] = field(default_factory=list)


@dataclass(slots=True)
class PmSample:
    index: int
    line: int  # where the sample starts (1-based)
    kind: str  # "sampled", "summary", "table" (a bare task table), "plist"
    time: datetime | None = None  # timezone-aware when the capture says the zone
    time_text: str | None = None
    elapsed_s: float | None = None
    tasks: list[PmTask] = field(default_factory=list)  # real processes, coalition members too
    coalitions: list[PmCoalition] = field(default_factory=list)
    all_tasks: PmTask | None = None
    dead_tasks: PmTask | None = None
    system: dict[str, Any] = field(default_factory=dict)
    has_task_table: bool = False
    truncated: bool = False
    is_delta: bool | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PmCapture:
    format: str  # "plist" or "text"
    samples: list[PmSample]
    machine: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
