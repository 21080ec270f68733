"""Prometheus families for pressure: the sources' current figures (Ranking.system["pressure"],
see lagwatch.sources.psi and macos_pressure) and the daemon's pressure events.

Base units: shares of time are ``_ratio`` (0-1), stall time is ``_seconds_total``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from lagwatch.model import Ranking

_LEVELS = {"normal": 0.0, "warning": 1.0, "critical": 2.0}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def pressure_families(ranking: Ranking | None, events_total: int) -> Iterator[Metric]:
    yield CounterMetricFamily(
        "lagwatch_pressure_events",
        "Pressure events detected (some task stalled on CPU, memory or I/O for a sustained time)",
        value=events_total,
    )
    if ranking is None:
        return
    pressure = ranking.system.get("pressure")
    if not isinstance(pressure, dict):
        return
    shares = {
        kind: GaugeMetricFamily(
            f"lagwatch_pressure_{kind}_ratio",
            f"Share of the last interval in which {who} stalled waiting for the resource (PSI)",
            labels=("resource",),
        )
        for kind, who in (("some", "some task was"), ("full", "every non-idle task was"))
    }
    stalled = CounterMetricFamily(
        "lagwatch_pressure_stalled_seconds",
        "Time tasks were stalled waiting for the resource since boot (PSI total)",
        labels=("resource", "kind"),
    )
    level = GaugeMetricFamily(
        "lagwatch_memory_pressure_level",
        "macOS memory pressure level: 0 normal, 1 warning, 2 critical",
    )
    has_level = False
    for resource, figures in sorted(pressure.items()):
        if not isinstance(figures, dict):
            continue
        for kind, family in shares.items():
            share = _num(figures.get(f"{kind}_percent"))
            if share is not None:
                family.add_metric([resource], share / 100.0)
            total = _num(figures.get(f"{kind}_total_us"))
            if total is not None:
                stalled.add_metric([resource, kind], total / 1e6)
        code = _LEVELS.get(figures.get("level", ""))
        if code is not None:
            level.add_metric([], code)
            has_level = True
    yield from shares.values()
    yield stalled
    if has_level:
        yield level
    groups = ranking.system.get("pressure_cgroups")
    if isinstance(groups, dict) and groups:
        cgroup = GaugeMetricFamily(
            "lagwatch_cgroup_pressure_some_ratio",
            "Share of the last interval in which some task of a top-level cgroup stalled",
            labels=("cgroup", "resource"),
        )
        for name, by_resource in sorted(groups.items()):
            for resource, figures in sorted((by_resource or {}).items()):
                share = _num(figures.get("some_percent")) if isinstance(figures, dict) else None
                if share is not None:
                    cgroup.add_metric([name, resource], share / 100.0)
        yield cgroup
