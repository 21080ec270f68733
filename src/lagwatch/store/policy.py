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
from operator import attrgetter
from typing import Any

from lagwatch.catalogue import totals
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


# Tick summary column -> the metrics it sums (each column is in the schema: see schema.py).
_TOTALS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(totals().items())


def _sum_column(rows: list[ProcessRow], keys: tuple[str, ...]) -> float | None:
    """The sum over ``rows`` of the metrics ``keys`` (a process's parts add up first: disk is
    read + write); None when no process knew any of them."""
    total, known = 0.0, False
    if len(keys) == 1:
        for value in map(attrgetter(keys[0]), rows):
            if value is not None:
                total += value
                known = True
        return total if known else None
    for parts in map(attrgetter(*keys), rows):
        part: float | None = None
        for value in parts:
            if value is not None:
                part = value if part is None else part + value
        if part is not None:
            total += part
            known = True
    return total if known else None


def summarize(ranking: Ranking) -> dict[str, Any]:
    """System-wide figures of one tick (sums over every process seen, not only those kept).
    A sum is None when no process knew the figure."""
    rows = ranking.processes
    top = max((r.score for r in rows), default=None)
    summed: dict[str, float | None] = {}
    for column, keys in _TOTALS:  # this runs over every process every tick: keep it lean
        total = _sum_column(rows, keys)
        summed[column] = None if total is None else round(total, 2)
    load: float | None = None
    if hasattr(os, "getloadavg"):
        try:
            load = round(os.getloadavg()[0], 2)
        except OSError:
            load = None
    return {
        "top_score": top,
        "process_count": len(rows),
        "restricted_count": ranking.restricted_count,
        **summed,
        "load_1m": load,
    }
