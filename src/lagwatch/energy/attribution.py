"""Per-process power and Energy Impact for one ranking, and how they were obtained.

``attribute`` is what compute_ranking calls once per ranking, after the rates are computed: it picks
the best method this snapshot allows, fills ``power_watts`` and ``energy_impact`` on every row,
and returns the ranking's ``energy_source`` (see ``ENERGY_SOURCES`` and docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lagwatch.energy_models import (
    PmenergyWeights,
    energy_impact_from_power,
    modelled_energy_impact,
    pmenergy_energy_impact,
    split_by_cpu_share,
)
from lagwatch.model import ProcessRow, ProcessSample, Snapshot
from lagwatch.sources.rapl import RAPL_ENERGY_KEY, RAPL_EPOCH_KEY, RAPL_TIME_KEY

# Every value ``energy_source`` can take: how power_watts and energy_impact were obtained.
ENERGY_SOURCES: dict[str, str] = {
    "ri_energy_nj": "power measured by the kernel (rusage ri_energy_nj deltas, Apple Silicon); "
    "energy_impact estimated from it at 100 per watt",
    "powermetrics": "energy_impact is powermetrics' own (root); power from ri_energy_nj where "
    "the kernel measures it",
    "top-power": "energy_impact is top's POWER column (CPU plus 500 us per package-idle "
    "wakeup), for every process top lists; power from ri_energy_nj where the kernel measures it",
    "pmenergy": "energy_impact from Activity Monitor's per-model weights (/usr/share/pmenergy) "
    "on QoS-weighted CPU time, package-idle wakeups and GPU time; no power measured",
    "rapl-share": "power = RAPL package power split by CPU-time share; energy_impact modelled "
    "from CPU, wakeups, disk and network",
    "model": "energy_impact modelled from CPU, wakeups, disk and network; no power measured",
}


def package_watts(prev: Mapping[str, Any], cur: Mapping[str, Any]) -> float | None:
    """Package power between two snapshots' RAPL readings, or None if they do not chain."""
    try:
        e0, e1 = prev[RAPL_ENERGY_KEY], cur[RAPL_ENERGY_KEY]
        t0, t1 = prev[RAPL_TIME_KEY], cur[RAPL_TIME_KEY]
        same = prev[RAPL_EPOCH_KEY] == cur[RAPL_EPOCH_KEY]
    except KeyError:
        return None
    if not same or e0 is None or e1 is None or t1 <= t0 or e1 < e0:
        return None
    return (e1 - e0) / 1e6 / ((t1 - t0) / 1e9)


def qos_delta_ns(cur: ProcessSample, prev: ProcessSample | None) -> dict[str, float] | None:
    """CPU ns per QoS class over the interval (``prev`` None: the process is new)."""
    if cur.cpu_qos_ns is None:
        return None
    base: Mapping[str, int] = {}
    if prev is not None:
        if prev.cpu_qos_ns is None:
            return None
        base = prev.cpu_qos_ns
    out: dict[str, float] = {}
    for qos, ns in cur.cpu_qos_ns.items():
        d = ns - base.get(qos, 0)
        if d < 0:
            return None  # a reset counter: unknown, not zero
        out[qos] = float(d)
    return out


def _rates_source(sources: list[str]) -> str:
    for name in sources:
        if name.startswith("powermetrics"):
            return "powermetrics"
        if name.startswith("top"):
            return "top-power"
    return "source-rates"


def _intel_ei(
    row: ProcessRow,
    cur: ProcessSample | None,
    prev: ProcessSample | None,
    interval_s: float,
    weights: PmenergyWeights,
) -> float | None:
    cpu_ns = None if row.cpu_percent is None else row.cpu_percent * interval_s * 1e7
    qos = qos_delta_ns(cur, prev) if cur is not None else None
    if qos is not None and cpu_ns is not None:
        # CPU that rusage did not split by QoS (reaped children's time) counts at default QoS.
        rest = cpu_ns - sum(qos.values())
        if rest > 0:
            qos["default"] = qos.get("default", 0.0) + rest
    return pmenergy_energy_impact(
        weights,
        interval_s,
        qos_ns=qos,
        cpu_ns=cpu_ns,
        idle_wakeups=None if row.wakeups_per_s is None else row.wakeups_per_s * interval_s,
        gpu_ns=None if row.gpu_percent is None else row.gpu_percent * interval_s * 1e7,
    )


def attribute(
    rows: list[ProcessRow],
    prev: Snapshot,
    cur: Snapshot,
    interval_s: float,
    warnings: list[str] | None = None,
    weights: PmenergyWeights | None = None,
) -> str | None:
    """Fill ``power_watts`` and ``energy_impact`` on every row; return the energy_source.

    Order of preference: a source's own Energy Impact (powermetrics, top's POWER); power the
    kernel measures per process (ri_energy_nj), with EI derived from it; RAPL package power
    split by CPU share, with EI modelled; on macOS without measured power, the pmenergy
    weights; elsewhere the CPU/wakeups/disk/network model. ``weights`` overrides this Mac's
    pmenergy weights (tests); warnings about unusable plists go to ``warnings``. None when no
    row has any energy figure."""
    samples = cur.processes
    from_rates: set[int] = set()
    for i, row in enumerate(rows):
        sample = samples.get(row.identity)
        if sample is not None and sample.rates and "energy_impact" in sample.rates:
            row.energy_impact = sample.rates["energy_impact"]
            from_rates.add(i)

    power: str | None = None
    if any(row.power_watts is not None for row in rows):
        if any((row.power_watts or 0.0) > 0 for row in rows):
            power = "ri_energy_nj"
        else:
            # ri_energy_nj reads 0 for every process where the kernel does not meter energy
            # (Intel Macs): that is "not measured", not zero watts.
            for row in rows:
                row.power_watts = None
    elif (pkg := package_watts(prev.system, cur.system)) is not None:
        cpu_s = {
            i: None if row.cpu_percent is None else row.cpu_percent * interval_s / 100.0
            for i, row in enumerate(rows)
        }
        for i, watts in split_by_cpu_share(pkg, cpu_s).items():
            rows[i].power_watts = watts
        power = "rapl-share"

    macos = cur.platform == "macos"
    for i, row in enumerate(rows):
        # lagwatch's own figure for every row; where a source measured Energy Impact itself
        # (powermetrics, top), it goes beside that figure instead of replacing it.
        measured = row.energy_impact if i in from_rates else None
        if power == "ri_energy_nj":
            row.energy_impact = energy_impact_from_power(row.power_watts)
        elif macos:
            if weights is None:
                from lagwatch.sources.pmenergy import machine_weights

                weights, problems = machine_weights()
                if warnings is not None:
                    warnings.extend(problems)
            sample = samples.get(row.identity)
            before = prev.processes.get(row.identity)
            row.energy_impact = _intel_ei(row, sample, before, interval_s, weights)
        else:
            row.energy_impact = modelled_energy_impact(
                row.cpu_percent,
                row.wakeups_per_s,
                row.disk_read_bytes_per_s,
                row.disk_write_bytes_per_s,
                row.net_bytes_per_s,
            )
        row.energy_impact_model = row.energy_impact
        if i in from_rates:
            row.energy_impact = measured

    if not any(row.energy_impact is not None or row.power_watts is not None for row in rows):
        return None
    if from_rates:
        return _rates_source(cur.sources)
    if power is not None:
        return power
    return "pmenergy" if macos else "model"
