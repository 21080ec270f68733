"""The `powermetrics` augmenting source (macOS, root): Apple's own per-process Energy Impact and
the system's CPU/GPU/ANE power.

One long-lived child::

    powermetrics --samplers tasks,cpu_power --show-process-energy --show-process-io
                 --show-process-netstats -b 0 -f plist -i MS

(``cpu_power`` prints the processor section with CPU/GPU/ANE/Combined power, or the Intel
package power; ``tasks`` alone prints only the task table.) ``-b 0`` sets powermetrics' output
buffer to none (man page: "-b size, --buffer-size size: Set output buffer size (0=none,
1=line)"), so each sample, and the NUL that separates it from the next, reaches the pipe when it
is written rather than when a stdio buffer fills; stdout is a pipe, not a terminal, because the
stream holds NUL bytes. stderr has its own pipe: powermetrics prints stray lines there ("proc_pid
... failed", "Second underflow occured"), which are kept as diagnostics and never mixed into the
plist stream.

A reader thread cuts the NUL-separated plist stream into documents and parses them
(lagwatch.parsers.powermetrics_plist). ``read()`` never waits; it returns, per pid:

- ``rates.energy_impact``: powermetrics' ``energy_impact_per_s`` from the newest sample; the
  sampler's energy attribution keeps it and sets ``energy_source`` to ``powermetrics``.
  Beside it, under keys the JSON contract does not use, ``energy_impact_powermetrics`` (the
  same figure) and ``energy_impact_modelled`` (lagwatch's pmenergy model on powermetrics' own
  CPU-per-QoS, package-idle wakeups and GPU time), so both stay available.
- cumulative counters built from the per-interval amounts (``net_bytes``, ``disk_read_bytes``,
  ``disk_write_bytes``, ``pageins``, ``wakeups`` = package-idle wakeups, ``gpu_ns``): merged
  only where the primary source has no value (psutil or top on a Mac), so the sampler derives
  their rates like any counter.
- ``system``: ``cpu_power_watts``, ``gpu_power_watts``, ``ane_power_watts``,
  ``combined_power_watts`` (Apple Silicon) or ``package_power_watts`` (Intel), and
  ``powermetrics_interval_s``.

Failure is reported, never fatal. If powermetrics dies after it produced samples it is started
again with backoff (lagwatch.sources.child.SupervisedChild) and ``read()`` says so in its
warnings. If it exits before its first sample (not root, unknown flag), or keeps dying without
one, ``read()`` raises SourceError with its exit status and last words; three unreadable
documents in a row, or no sample at all in time, likewise. The sampler then drops the source and
goes on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from lagwatch import platform_seam
from lagwatch.model import sum_known
from lagwatch.parsers.powermetrics_model import PmSample, PmTask
from lagwatch.parsers.powermetrics_plist import (
    PlistDocument,
    parse_plist_document,
    split_plist_stream,
)
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.child import Backoff, StreamedChild, SupervisedChild

NAME = "powermetrics"
POWERMETRICS = platform_seam.TOOLS["powermetrics"]
GARBAGE_LIMIT = 3  # unreadable documents in a row before the source gives up
MAX_PENDING_BYTES = 32 << 20  # a "document" that never ends is not one
FORGET_AFTER_SAMPLES = 600  # pids unseen for this many samples are forgotten
SYSTEM_KEYS = (
    "cpu_power_watts",
    "gpu_power_watts",
    "ane_power_watts",
    "combined_power_watts",
    "package_power_watts",
)


def command(interval_s: float = 1.0, executable: str | None = None) -> list[str]:
    ms = max(100, round(interval_s * 1000))
    executable = executable or platform_seam.tool_path("powermetrics")
    return [executable, "--samplers", "tasks,cpu_power", "--show-process-energy",
            "--show-process-io", "--show-process-netstats",
            "-b", "0", "-f", "plist", "-i", str(ms)]  # fmt: skip


def probe() -> str | None:
    if not platform_seam.is_macos():
        return "powermetrics exists on macOS only"
    return platform_seam.tool_missing("powermetrics")


# Counter (ProcessSample field) -> the task's amount over the interval.
_COUNTERS = {
    "net_bytes": lambda t: sum_known(t.bytes_received, t.bytes_sent),
    "disk_read_bytes": lambda t: t.diskio_bytesread,
    "disk_write_bytes": lambda t: t.diskio_byteswritten,
    "pageins": lambda t: t.pageins,
    "wakeups": lambda t: t.idle_wakeups,
    "gpu_ns": lambda t: t.gputime_ns,
}


@dataclass(slots=True)
class _Total:
    name: str
    seen: int  # sample number that last listed the pid
    counters: dict[str, int] = field(default_factory=dict)


class PowermetricsTotals:
    """Cumulative counters per pid from a stream of per-interval samples (pure bookkeeping)."""

    def __init__(self) -> None:
        self.by_pid: dict[int, _Total] = {}
        self.samples = 0

    def add(self, sample: PmSample) -> None:
        self.samples += 1
        if sample.is_delta is False:
            return  # not amounts over one interval: adding them would count twice
        for task in sample.tasks:
            old = self.by_pid.get(task.pid)
            if old is None or old.name != task.name:  # new, or a reused pid
                old = self.by_pid[task.pid] = _Total(task.name, self.samples)
            old.seen = self.samples
            for key, amount_of in _COUNTERS.items():
                amount = amount_of(task)
                if amount is not None and amount >= 0:
                    old.counters[key] = old.counters.get(key, 0) + int(amount)
        if self.samples % 64 == 0:
            horizon = self.samples - FORGET_AFTER_SAMPLES
            self.by_pid = {p: t for p, t in self.by_pid.items() if t.seen >= horizon}


def modelled_energy_impact(task: PmTask, interval_s: float | None, weights: Any) -> float | None:
    """lagwatch's own (pmenergy) Energy Impact from what powermetrics measured."""
    if not interval_s or weights is None:
        return None
    from lagwatch.energy_models import pmenergy_energy_impact

    # QoS classes the model does not know ("disabled": no QoS) weigh as default.
    qos = {name: float(ns) for name, ns in task.qos_ns.items()} if task.qos_ns else None
    return pmenergy_energy_impact(
        weights,
        interval_s,
        qos_ns=qos,
        cpu_ns=task.cputime_ns,
        idle_wakeups=task.idle_wakeups,
        gpu_ns=task.gputime_ns,
    )


def task_patch_rates(task: PmTask, interval_s: float | None, weights: Any) -> dict[str, float]:
    rates: dict[str, float] = {}
    ei = task.energy_impact_rate
    if ei is not None:
        rates["energy_impact"] = ei
        rates["energy_impact_powermetrics"] = ei
    modelled = modelled_energy_impact(task, interval_s, weights)
    if modelled is not None:
        rates["energy_impact_modelled"] = modelled
    return rates


class PowermetricsSource:
    """The `powermetrics` source (see the module docstring)."""

    name = NAME

    def __init__(
        self,
        interval_s: float = 1.0,
        executable: str | None = None,
        argv: list[str] | None = None,
        first_sample_timeout_s: float | None = None,
        weights: Any = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.interval_s = max(0.1, float(interval_s))
        self.argv = argv or command(interval_s, executable)
        self.first_sample_timeout_s = first_sample_timeout_s or 3 * self.interval_s + 10.0
        self._weights = weights if weights is not None else _machine_weights()
        self._lock = threading.Lock()
        self._totals = PowermetricsTotals()
        self._latest: PmSample | None = None
        self._latest_at: float | None = None
        self._garbage = 0
        self._garbage_why: str | None = None
        self._pending = b""
        self._docs = 0
        self._started_at = time.monotonic()
        self._child = SupervisedChild(self._start, NAME, backoff)
        self._child.begin()

    def _start(self) -> StreamedChild:
        """A new powermetrics run; what a dead one left half-written is dropped."""
        self._pending = b""
        with self._lock:
            self._garbage = 0
        return StreamedChild(
            self.argv, self._on_chunk, stderr="pipe", thread_name="lagwatch-powermetrics"
        )

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def restarts(self) -> int:
        return self._child.restarts

    # -- reader thread ---------------------------------------------------------------------

    def _on_chunk(self, chunk: bytes) -> None:
        self._pending += chunk
        docs, rest, strays = split_plist_stream(self._pending, final=False)
        self._pending = rest
        for stray in strays:
            self._child.note(stray.split(": ", 2)[-1].strip("'\""))
        for doc in docs:
            self._document(doc)
        if len(self._pending) > MAX_PENDING_BYTES:
            self._pending = b""
            self._bad("a document larger than 32 MiB without its end")

    def _document(self, doc: PlistDocument) -> None:
        self._docs += 1
        sample, warning = parse_plist_document(doc, self._docs - 1)
        if sample is None or not doc.complete:
            self._bad(warning or "unreadable document")
            return
        with self._lock:
            self._garbage = 0
            self._latest = sample
            self._latest_at = time.monotonic()
            self._totals.add(sample)
        self._child.data_seen()

    def _bad(self, why: str) -> None:
        with self._lock:
            self._garbage += 1
            self._garbage_why = why.split(": ", 1)[-1]

    # -- the source ------------------------------------------------------------------------

    def read(self) -> SourceReading:
        warnings = self._child.poll()  # restarts a dead powermetrics; raises when it gives up
        with self._lock:
            latest, latest_at = self._latest, self._latest_at
            garbage, why = self._garbage, self._garbage_why
            totals = {pid: dict(t.counters) for pid, t in self._totals.by_pid.items()}
        if garbage >= GARBAGE_LIMIT:
            raise SourceError(f"powermetrics output unreadable ({garbage} documents): {why}")
        now = time.monotonic()
        if latest is None or latest_at is None:
            if now - self._started_at > self.first_sample_timeout_s:
                words = "; ".join(self._child.diagnostics)
                raise SourceError(
                    f"powermetrics printed no sample in {self.first_sample_timeout_s:.0f}s"
                    + (f": {words}" if words else "")
                )
            return SourceReading(warnings=warnings)
        patches: dict[int, dict[str, Any]] = {pid: c for pid, c in totals.items() if c}
        system: dict[str, Any] = {}
        age = now - latest_at
        if age > max(3 * self.interval_s, 5.0):
            warnings.append(f"powermetrics: no sample for {age:.0f}s")
        else:
            for task in latest.tasks:
                rates = task_patch_rates(task, latest.elapsed_s, self._weights)
                if rates:
                    patches.setdefault(task.pid, {})["rates"] = rates
            system = {k: latest.system[k] for k in SYSTEM_KEYS if k in latest.system}
            # Intel's plist names the package power "package_watts" (the text says "power").
            if "package_power_watts" not in system and "package_watts" in latest.system:
                system["package_power_watts"] = latest.system["package_watts"]
            if latest.elapsed_s is not None:
                system["powermetrics_interval_s"] = latest.elapsed_s
        return SourceReading(patches=patches, system=system, warnings=warnings)

    def close(self) -> None:
        self._child.close()


def _machine_weights() -> Any:
    try:
        from lagwatch.sources.pmenergy import machine_weights

        return machine_weights()[0]
    except Exception:  # the model is a bonus: never let it stop the source
        from lagwatch.energy_models import PmenergyWeights

        return PmenergyWeights()
