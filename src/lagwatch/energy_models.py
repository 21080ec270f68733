"""The Energy Impact formulas, as pure functions of one process's activity over an interval.

Energy Impact (EI) is on Activity Monitor's scale: 100 ~ one core busy at normal priority for
the whole interval, i.e. EI = 100 * (CPU-equivalent seconds) / (interval seconds). Each formula
below turns activity into CPU-equivalent seconds with its own weights; docs/metrics.md
("Energy") gives every weight, its unit and where it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

K = TypeVar("K")

# -- the Linux (and generic) model ----------------------------------------------------------
# Weights in CPU-equivalent seconds per event or per byte, taken from the values Apple ships in
# /usr/share/pmenergy/default.plist (see docs/metrics.md for why each one is a fair stand-in).

# kcpu_wakeups: each wakeup costs 200 us of CPU time.
WAKEUP_COST_S = 2e-4
# kdiskio_bytesread / kdiskio_byteswritten, read as seconds per byte.
DISK_READ_COST_S_PER_BYTE = 4.5e-10
DISK_WRITE_COST_S_PER_BYTE = 2.4e-10
# knetwork_*_packets is 4e-6 s per packet; Linux gives bytes, so assume full 1500-byte packets.
NET_PACKET_COST_S = 4.0e-6
NET_PACKET_BYTES = 1500
NET_COST_S_PER_BYTE = NET_PACKET_COST_S / NET_PACKET_BYTES


def modelled_energy_impact(
    cpu_percent: float | None,
    wakeups_per_s: float | None,
    disk_read_bytes_per_s: float | None = None,
    disk_write_bytes_per_s: float | None = None,
    net_bytes_per_s: float | None = None,
) -> float | None:
    """EI = cpu% + 100 * (2e-4 s * wakeups/s + 4.5e-10 s/B * read B/s + 2.4e-10 s/B * write
    B/s + 4e-6/1500 s/B * network B/s). None when CPU is unknown: the other terms alone would
    understate a process we cannot see; an unknown term other than CPU counts as no activity."""
    if cpu_percent is None:
        return None
    cpu_equiv_s_per_s = (
        WAKEUP_COST_S * (wakeups_per_s or 0.0)
        + DISK_READ_COST_S_PER_BYTE * (disk_read_bytes_per_s or 0.0)
        + DISK_WRITE_COST_S_PER_BYTE * (disk_write_bytes_per_s or 0.0)
        + NET_COST_S_PER_BYTE * (net_bytes_per_s or 0.0)
    )
    return cpu_percent + 100.0 * cpu_equiv_s_per_s


# -- macOS Intel: Activity Monitor's pmenergy weights ---------------------------------------

# QoS classes as rusage names them (ri_cpu_time_qos_<class>). The plists have no key for
# maintenance (the lowest class): it is weighted like background, the nearest class.
QOS_CLASSES: tuple[str, ...] = (
    "default",
    "maintenance",
    "background",
    "utility",
    "legacy",
    "user_initiated",
    "user_interactive",
)


@dataclass(frozen=True, slots=True)
class PmenergyWeights:
    """The coefficients of one /usr/share/pmenergy plist (``energy_constants``)."""

    kcpu_time: float = 1.0
    kcpu_wakeups: float = 2.0e-4  # seconds of CPU per package-idle wakeup
    kqos_default: float = 1.0
    kqos_background: float = 0.8
    kqos_utility: float = 1.0
    kqos_legacy: float = 1.0
    kqos_user_initiated: float = 1.0
    kqos_user_interactive: float = 1.0
    kdiskio_bytesread: float = 4.5e-10
    kdiskio_byteswritten: float = 2.4e-10
    kgpu_time: float = 0.0  # CPU-ns per GPU-ns
    knetwork_recv_bytes: float = 0.0
    knetwork_recv_packets: float = 4.0e-6
    knetwork_sent_bytes: float = 0.0
    knetwork_sent_packets: float = 4.0e-6
    # Where these came from: a plist path, or "built-in defaults".
    origin: str = "built-in defaults"

    def qos_weight(self, qos: str) -> float:
        return getattr(self, _QOS_WEIGHT.get(normalise_qos(qos), "kqos_default"))


# QoS class -> the coefficient that weighs it (unknown classes: kqos_default).
_QOS_WEIGHT: dict[str, str] = {q: f"kqos_{q}" for q in QOS_CLASSES} | {
    "maintenance": "kqos_background"
}

COEFFICIENT_KEYS: tuple[str, ...] = tuple(
    name for name in PmenergyWeights.__dataclass_fields__ if name.startswith("k")
)

# default.plist as Apple ships it (Chromium's test copy; the same values appear in an Apple
# Silicon machine's default.plist): used when no plist can be read.
BUILTIN_WEIGHTS = PmenergyWeights()


@cache  # a handful of distinct keys, looked up for every process every tick
def normalise_qos(key: str) -> str:
    """'ri_cpu_time_qos_background', 'qos_background_ns', 'BACKGROUND' -> 'background'."""
    name = key.lower()
    for prefix in ("ri_cpu_time_qos_", "cpu_time_qos_", "qos_"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return name.removesuffix("_ns")


def pmenergy_energy_impact(
    weights: PmenergyWeights,
    interval_s: float,
    *,
    qos_ns: Mapping[str, float] | None = None,
    cpu_ns: float | None = None,
    idle_wakeups: float | None = None,
    gpu_ns: float | None = None,
) -> float | None:
    """Activity Monitor's Energy Impact over one interval, the way Chromium reimplements it:

    cpu_equiv_ns = sum_q kqos_q * qos_ns[q] + kcpu_wakeups * 1e9 * idle_wakeups
                   + kgpu_time * gpu_ns
    EI = cpu_equiv_ns * 1e-7 / interval_s   (10 ms of weighted CPU per second = 1 EI)

    ``qos_ns`` is CPU time per QoS class over the interval; without it, ``cpu_ns`` counts at
    the default-QoS weight. Disk and network weights are not applied (their units are unknown,
    as Chromium notes). None when CPU time is unknown or the interval is empty."""
    if interval_s <= 0:
        return None
    if qos_ns:
        cpu_equiv_ns = sum(weights.qos_weight(q) * ns for q, ns in qos_ns.items())
    elif cpu_ns is not None:
        cpu_equiv_ns = weights.kqos_default * cpu_ns
    else:
        return None
    cpu_equiv_ns += weights.kcpu_wakeups * 1e9 * (idle_wakeups or 0.0)
    cpu_equiv_ns += weights.kgpu_time * (gpu_ns or 0.0)
    return cpu_equiv_ns * 1e-7 / interval_s


# -- macOS Apple Silicon: from measured energy -----------------------------------------------

# EI per watt of measured CPU energy (1 EI = 10 mW). Chosen so that an average busy core in the
# M1 Pro powermetrics captures (cpu_power / busy cores ~ 0.8-1.2 W) reads ~100, the scale of
# every other EI here; a P-core at full clock reads several hundred, an E-core tens. An
# estimate, not Apple's figure (which is not a function of the counters a process exposes).
APPLE_SILICON_EI_PER_WATT = 100.0


def energy_impact_from_power(power_watts: float | None) -> float | None:
    """Estimated EI of a process whose power is measured (ri_energy_nj): 100 EI per watt."""
    if power_watts is None or not math.isfinite(power_watts):
        return None
    return power_watts * APPLE_SILICON_EI_PER_WATT


# -- Linux RAPL: package power split by CPU time ---------------------------------------------


def rapl_delta_uj(prev_uj: int, cur_uj: int, max_range_uj: int | None) -> int | None:
    """Energy used between two readings of one RAPL ``energy_uj`` counter, in microjoules.

    The counter wraps to 0 after ``max_energy_range_uj``; one wrap is undone (at ~100 W a wrap
    takes tens of minutes, far longer than an interval). None when the counter went backwards
    and the range is unknown or the previous value is outside it (a reset, not a wrap)."""
    if cur_uj >= prev_uj:
        return cur_uj - prev_uj
    if not max_range_uj or max_range_uj <= 0 or prev_uj > max_range_uj:
        return None
    return cur_uj + (max_range_uj - prev_uj)


def split_by_cpu_share(
    package_watts: float, cpu_s: Mapping[K, float | None]
) -> dict[K, float | None]:
    """Package power attributed to each process in proportion to its CPU time over the same
    interval (scaphandre's and Kepler's attribution): P_i = P_pkg * cpu_i / sum_j cpu_j.

    The shares add up to the package power, idle draw included. A process whose CPU time is
    unknown gets None; if no process used any CPU, nothing can be attributed (all None)."""
    known = {k: v for k, v in cpu_s.items() if v is not None}
    total = sum(v for v in known.values() if v > 0)
    if total <= 0 or not math.isfinite(package_watts):
        return dict.fromkeys(cpu_s)
    return {k: None if v is None else package_watts * max(v, 0.0) / total for k, v in cpu_s.items()}
