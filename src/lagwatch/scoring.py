"""Stress score: how much a process is stressing the machine, 0-100, and what to blame.

Absolute by design: every sub-score depends only on the process's own figures and on fixed
properties of the machine (its RAM size), never on how busy other processes are, so an idle
machine scores low everywhere. See docs/scoring.md for the thresholds and why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lagwatch.model import ProcessRow, sum_known


@dataclass(frozen=True, slots=True)
class Band:
    """A figure scores 0 at or below ``floor`` and 100 at or above ``severe``, on a log scale
    in between: one decade of a rate means the same step at 1 MB/s as at 100 MB/s."""

    floor: float
    severe: float

    def score(self, value: float | None) -> float:
        if value is None or value <= self.floor:
            return 0.0
        if value >= self.severe:
            return 100.0
        return 100.0 * math.log(value / self.floor) / math.log(self.severe / self.floor)


BANDS: dict[str, Band] = {
    "cpu": Band(5.0, 200.0),  # percent of one core; two cores flat out is severe
    "memory": Band(0.05, 0.5),  # fraction of physical RAM
    "disk": Band(1e6, 200e6),  # bytes/s read + written
    "pageins": Band(5.0, 1000.0),  # major faults (pages read from disk) per second
    "wakeups": Band(200.0, 20000.0),  # wakeups per second
    "gpu": Band(5.0, 90.0),  # percent of the GPU's time
    "network": Band(1e5, 50e6),  # bytes/s in + out
}
# A footprint growing this fast is a memory culprit even before it is large.
MEMORY_GROWTH = Band(10e6, 500e6)  # bytes/s
# Storage operations per second (read + write): the disk sub-score is the higher of the bytes'
# and the operations' scores, since thousands of tiny synced writes a second saturate a disk
# (each waits for the device) long before their bytes do. See docs/scoring.md.
DISK_OPS = Band(20.0, 5000.0)

# Blame weights for the dominant label only. CPU is usually the *means* by which a process
# writes, wakes or pages, so it is discounted: a process writing hundreds of MB/s is a disk
# culprit even if it burns a core to do it.
BLAME_WEIGHT: dict[str, float] = {"cpu": 0.8}


def resource_levels(row: ProcessRow, memory_total_bytes: int | None) -> dict[str, float | None]:
    """The figure each resource band is applied to."""
    disk = sum_known(row.disk_read_bytes_per_s, row.disk_write_bytes_per_s)
    memory: float | None = None
    if row.memory_bytes is not None and memory_total_bytes:
        memory = row.memory_bytes / memory_total_bytes
    return {
        "cpu": row.cpu_percent,
        "memory": memory,
        "disk": disk,
        "pageins": row.pageins_per_s,
        "wakeups": row.wakeups_per_s,
        "gpu": row.gpu_percent,
        "network": row.net_bytes_per_s,
    }


def disk_ops(row: ProcessRow) -> float | None:
    """Storage operations per second, read + write (None where the OS does not count them)."""
    return sum_known(row.disk_read_ops_per_s, row.disk_write_ops_per_s)


def subscores(
    levels: dict[str, float | None],
    memory_growth_bytes_per_s: float | None = None,
    disk_ops_per_s: float | None = None,
) -> dict[str, float]:
    subs = {res: BANDS[res].score(value) for res, value in levels.items() if value is not None}
    if "memory" in subs and memory_growth_bytes_per_s is not None:
        subs["memory"] = max(subs["memory"], MEMORY_GROWTH.score(memory_growth_bytes_per_s))
    if disk_ops_per_s is not None:
        subs["disk"] = max(subs.get("disk", 0.0), DISK_OPS.score(disk_ops_per_s))
    return subs


def combine(subs: dict[str, float]) -> float:
    """Probabilistic OR: the worst resource sets the floor, other stressed resources add to it
    but can never push past 100."""
    remaining = 1.0
    for s in subs.values():
        remaining *= 1.0 - s / 100.0
    return 100.0 * (1.0 - remaining)


def dominant(subs: dict[str, float], levels: dict[str, float | None]) -> str | None:
    if not subs:
        return None
    if any(s > 0 for s in subs.values()):
        return max(subs, key=lambda r: (subs[r] * BLAME_WEIGHT.get(r, 1.0), r != "cpu"))
    # Nothing above its floor: name whatever is closest to it.
    near = {r: v / BANDS[r].floor for r, v in levels.items() if v is not None}
    return max(near, key=lambda r: near[r])


# The figure each band is applied to, read straight from a row (memory needs the RAM size).
_FIGURES: dict[str, Callable[[ProcessRow], float | None]] = {
    "cpu": lambda r: r.cpu_percent,
    "disk": lambda r: sum_known(r.disk_read_bytes_per_s, r.disk_write_bytes_per_s),
    "pageins": lambda r: r.pageins_per_s,
    "wakeups": lambda r: r.wakeups_per_s,
    "gpu": lambda r: r.gpu_percent,
    "network": lambda r: r.net_bytes_per_s,
}


def closeness(row: ProcessRow, memory_total_bytes: int | None = None) -> float:
    """The dominant resource's figure in units of its band's floor (0 when unknown): how close
    to scoring, or how far past, the process is. Orders processes whose scores are equal."""
    dom = row.dominant
    if dom == "memory":
        if row.memory_bytes is None or not memory_total_bytes:
            return 0.0
        return row.memory_bytes / memory_total_bytes / BANDS["memory"].floor
    figure = _FIGURES.get(dom) if dom is not None else None
    if dom is None or figure is None:
        return 0.0
    level = figure(row)
    near = 0.0 if level is None else level / BANDS[dom].floor
    if dom == "disk" and (ops := disk_ops(row)) is not None:
        near = max(near, ops / DISK_OPS.floor)
    return near


def score_row(row: ProcessRow, system: dict[str, Any]) -> None:
    """Fill ``row.score``, ``row.subscores`` and ``row.dominant`` in place."""
    levels = resource_levels(row, system.get("memory_total_bytes"))
    subs = subscores(levels, row.memory_growth_bytes_per_s, disk_ops(row))
    row.subscores = {k: round(v, 1) for k, v in subs.items()}
    row.score = round(combine(subs), 1)
    row.dominant = dominant(subs, levels)
