"""Which processes of a tick are worth recording, and the tick's system summary.

Recording every process every second would cost ~100 MB a day and mostly store idle processes.
A tick keeps the processes that matter: the top K by score, any above a threshold (so a burst of
many stressed processes is not cut at K), and the top few by energy (so energy can be integrated
over history), never more than ``max_rows``. Processes at score 0 that use no energy are left
out even in the top K: on an idle machine a tick stores only its summary.
"""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass
from typing import Any

from lagwatch.model import ProcessRow, Ranking


@dataclass(frozen=True, slots=True)
class RecordPolicy:
    top_k: int = 10
    threshold: float = 25.0  # every process at or above this score is kept (up to max_rows)
    top_energy: int = 5
    min_score: float = 0.5  # below this a process is idle for recording purposes
    min_energy_impact: float = 0.5
    max_rows: int = 50


def select_rows(ranking: Ranking, policy: RecordPolicy = RecordPolicy()) -> list[ProcessRow]:
    """The rows to record, worst first (by score, then pid)."""
    # nlargest, not a full sort: a tick holds every process, the record a few dozen.
    worst = heapq.nlargest(policy.max_rows, ranking.processes, key=lambda r: (r.score, -r.pid))
    chosen: dict[int, ProcessRow] = {}
    for n, row in enumerate(worst):
        if row.score < policy.min_score:
            break
        if n < policy.top_k or row.score >= policy.threshold:
            chosen[row.pid] = row
    if policy.top_energy:
        energetic = heapq.nlargest(
            policy.top_energy,
            (
                r
                for r in ranking.processes
                if r.energy_impact is not None and r.energy_impact >= policy.min_energy_impact
            ),
            key=lambda r: (r.energy_impact or 0.0, -r.pid),
        )
        for row in energetic:
            chosen.setdefault(row.pid, row)
    rows = sorted(chosen.values(), key=lambda r: (-r.score, r.pid))
    return rows[: policy.max_rows]


def summarize(ranking: Ranking) -> dict[str, Any]:
    """System-wide figures of one tick (sums over every process seen, not only those kept).
    A sum is None when no process knew the figure."""
    top: float | None = None
    cpu = disk = pageins = 0.0
    has_cpu = has_disk = has_pageins = False
    for r in ranking.processes:  # one pass: this runs over every process every tick
        if top is None or r.score > top:
            top = r.score
        if r.cpu_percent is not None:
            cpu += r.cpu_percent
            has_cpu = True
        if r.disk_read_bytes_per_s is not None or r.disk_write_bytes_per_s is not None:
            disk += (r.disk_read_bytes_per_s or 0.0) + (r.disk_write_bytes_per_s or 0.0)
            has_disk = True
        if r.pageins_per_s is not None:
            pageins += r.pageins_per_s
            has_pageins = True
    load: float | None = None
    if hasattr(os, "getloadavg"):
        try:
            load = round(os.getloadavg()[0], 2)
        except OSError:
            load = None
    return {
        "top_score": top,
        "process_count": len(ranking.processes),
        "restricted_count": ranking.restricted_count,
        "cpu_percent_total": round(cpu, 2) if has_cpu else None,
        "disk_bytes_per_s_total": round(disk, 2) if has_disk else None,
        "pageins_per_s_total": round(pageins, 2) if has_pageins else None,
        "load_1m": load,
    }
