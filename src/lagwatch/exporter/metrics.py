"""The /metrics page: Prometheus metric families built from an ExportView and the LiveState.

Names follow Prometheus' rules: base units (seconds, bytes, joules, ratios), ``_total`` on
counters only, ``lagwatch_`` prefix. docs/metrics.md ("Exporter") lists every family.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from lagwatch import __version__
from lagwatch.exporter.pressure import pressure_families
from lagwatch.exporter.series import COUNTERS, GAUGES, ExportView
from lagwatch.live import LiveSnapshot, LiveState

PROCESS_LABELS = ("pid", "name")

# System figures a source reports (Ranking.system), by key suffix: the Prometheus unit suffix
# it becomes and the factor to that base unit.
_UNIT_SUFFIXES: tuple[tuple[str, str, float], ...] = (
    ("_percent", "_ratio", 0.01),
    ("_ns", "_seconds", 1e-9),
    ("_ms", "_seconds", 1e-3),
    ("_s", "_seconds", 1.0),
    ("_mj", "_joules", 1e-3),
    ("_hz", "_hertz", 1.0),
)
_BAD_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")

# System keys whose generic name would mislead: counts of things now (top's header says
# "Processes: 412 total") are gauges, not counters; and "_count" ends only a histogram's or a
# summary's series in Prometheus (promtool refuses it on a gauge).
_SYSTEM_GAUGE_NAMES: dict[str, str] = {
    "cpu_count": "cpus",
    "processes_total": "processes",
    "threads_total": "threads",
    "memregions_total": "memregions",
}
# Suffixes Prometheus reserves for histograms and summaries, and what a gauge gets instead.
_RESERVED_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_count", "s"),  # gpu_core_count -> gpu_cores
    ("_sum", "_summed"),
    ("_bucket", "_buckets"),
)


def system_metric_name(key: str) -> tuple[str, float, bool]:
    """(metric name, factor to base units, is a counter) for a ``Ranking.system`` key. Every
    name it gives passes `promtool check metrics`."""
    key = _BAD_NAME_CHARS.sub("_", key).strip("_").lower()
    if key in _SYSTEM_GAUGE_NAMES:
        return f"lagwatch_system_{_SYSTEM_GAUGE_NAMES[key]}", 1.0, False
    counter = key.endswith("_total")
    if counter:
        key = key[: -len("_total")]
    for suffix, replacement in _RESERVED_SUFFIXES:
        if key.endswith(suffix):
            key = key[: -len(suffix)] + replacement
    factor = 1.0
    for suffix, unit, unit_factor in _UNIT_SUFFIXES:
        if key.endswith(suffix) and not key.endswith("_per_s"):
            key, factor = key[: -len(suffix)] + unit, unit_factor
            break
    if key.endswith("_per_s"):
        key = key[: -len("_per_s")] + "_per_second"
    return f"lagwatch_system_{key}", factor, counter


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class LagwatchCollector:
    """A prometheus_client collector: every family is rebuilt from the current view on each
    collect, so series of processes that left the exported set simply are not yielded."""

    def __init__(self, state: LiveState, view: Callable[[], ExportView]) -> None:
        self._state = state
        self._view = view

    def collect(self) -> Iterator[Metric]:
        view = self._view()
        live = self._state.snapshot()
        yield from process_families(view)
        yield from system_families(view)
        yield from self_families(view, live)
        yield from pressure_families(view.ranking, live["pressure_events_total"])

    def describe(self) -> list[Metric]:
        # Returning nothing keeps registration from calling collect() (which needs data).
        return []


def process_families(view: ExportView) -> Iterator[Metric]:
    score = GaugeMetricFamily(
        "lagwatch_process_score", "Stress score 0-100 of a process", labels=PROCESS_LABELS
    )
    # The blamed resource is its own series: a label on the score would start a new score
    # series (and end the old one) each time the blame moves.
    dominant = InfoMetricFamily(
        "lagwatch_process_dominant",
        "The resource a process is blamed on (the score's dominant resource); absent if none",
        labels=PROCESS_LABELS,
    )
    gauges = {
        spec.name: GaugeMetricFamily(
            f"lagwatch_process_{spec.name}", spec.help, labels=PROCESS_LABELS
        )
        for spec in GAUGES
    }
    in_top = GaugeMetricFamily(
        "lagwatch_process_in_top",
        "1 while the process is in the top K by score, 0 while its series linger",
        labels=PROCESS_LABELS,
    )
    counters = {
        spec.name: CounterMetricFamily(
            f"lagwatch_process_{spec.name}", spec.help, labels=PROCESS_LABELS
        )
        for spec in COUNTERS
    }
    for proc in view.processes:
        labels = [str(proc.pid), proc.name]
        score.add_metric(labels, proc.score)
        if proc.dominant:
            dominant.add_metric(labels, {"resource": proc.dominant})
        in_top.add_metric(labels, 1.0 if proc.in_top else 0.0)
        for name, value in proc.gauges.items():
            gauges[name].add_metric(labels, value)
        for name, total in proc.totals.items():
            counters[name].add_metric(labels, total)
    yield score
    yield dominant
    yield from gauges.values()
    yield in_top
    yield from counters.values()


def system_families(view: ExportView) -> Iterator[Metric]:
    ranking = view.ranking
    specs = {spec.name: spec for spec in COUNTERS}
    used: set[str] = set()
    for name, total in view.system_totals.items():
        family = f"lagwatch_system_{name}"
        used.add(family)
        yield CounterMetricFamily(
            family, f"Sum over all processes: {specs[name].help}", value=total
        )
    if ranking is None:
        return
    scores = [row.score for row in ranking.processes]
    yield GaugeMetricFamily(
        "lagwatch_system_max_score",
        "Highest stress score of any process in the last interval",
        value=max(scores) if scores else 0.0,
    )
    used.add("lagwatch_system_max_score")
    info: dict[str, str] = {}
    for key, raw in sorted(ranking.system.items()):
        if isinstance(raw, str):
            info[_BAD_NAME_CHARS.sub("_", key)] = raw[:200]
            continue
        value = _number(raw)
        if value is None:
            continue
        name, factor, counter = system_metric_name(key)
        if name in used:
            continue
        used.add(name)
        help_text = f"System figure {key!r} reported by the sources"
        if counter:
            yield CounterMetricFamily(name, help_text, value=value * factor)
        else:
            yield GaugeMetricFamily(name, help_text, value=value * factor)
    info.update(version=__version__, platform=ranking.platform, sources=",".join(ranking.sources))
    yield InfoMetricFamily("lagwatch", "lagwatch version, platform and sources in use", info)


def self_families(view: ExportView, live: LiveSnapshot) -> Iterator[Metric]:
    ranking = view.ranking or live.get("latest")
    if live.get("sweep_seconds") is not None:
        yield GaugeMetricFamily(
            "lagwatch_sweep_seconds",
            "How long the last sweep of all processes took",
            value=live["sweep_seconds"],
        )
    yield CounterMetricFamily(
        "lagwatch_ticks", "Rankings published since the daemon started", value=live["ticks"]
    )
    yield CounterMetricFamily(
        "lagwatch_pause_events",
        "Pauses detected (the machine or lagwatch froze while awake)",
        value=live["pause_events_total"],
    )
    yield CounterMetricFamily(
        "lagwatch_rogue_events",
        "Rogue episodes detected (a process stressing the machine for a sustained time)",
        value=live["rogue_events_total"],
    )
    # What was lost is counted, never silently dropped (docs/daemon.md, "What is never lost").
    yield CounterMetricFamily(
        "lagwatch_store_dropped_rankings",
        "Rankings the history could not take: its write queue was full (a disk blocked or "
        "failing for longer than the queue holds)",
        value=live.get("store_dropped_rankings_total", 0),
    )
    yield CounterMetricFamily(
        "lagwatch_read_warnings",
        "Warnings the sources gave while reading processes (each kind is in the daemon log)",
        value=live.get("read_warnings_total", 0),
    )
    yield GaugeMetricFamily(
        "lagwatch_exported_processes",
        "Processes carrying per-process series now",
        value=len(view.processes),
    )
    yield GaugeMetricFamily(
        "lagwatch_exporter_top_k", "Processes exported by score (K)", value=view.top_k
    )
    if live.get("started_at") is not None:
        yield GaugeMetricFamily(
            "lagwatch_start_time_seconds",
            "When the daemon started, unix time",
            value=live["started_at"],
        )
    if ranking is None:
        return
    yield GaugeMetricFamily(
        "lagwatch_processes", "Processes seen in the last sweep", value=len(ranking.processes)
    )
    yield GaugeMetricFamily(
        "lagwatch_processes_restricted",
        "Processes whose data the OS partly refused (another user's, without root)",
        value=ranking.restricted_count,
    )
    yield GaugeMetricFamily(
        "lagwatch_interval_seconds",
        "Length of the last sampling interval",
        value=ranking.interval_s,
    )
    yield GaugeMetricFamily(
        "lagwatch_last_tick_timestamp_seconds",
        "Unix time of the last ranking (stale if sampling stalled)",
        value=ranking.time,
    )
