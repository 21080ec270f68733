"""Hand-made rankings for exporter and TUI tests: fixed numbers, so screens are deterministic."""

from __future__ import annotations

from typing import Any

from lagwatch.model import ProcessRow, Ranking

# 2026-11-25 14:00:00 UTC: tests that show times run with TZ=UTC.
T0 = 1795615200.0


def row(pid: int, score: float, name: str | None = None, **fields: Any) -> ProcessRow:
    base: dict[str, Any] = {
        "pid": pid,
        "ppid": 1,
        "name": name or f"proc{pid}",
        "user": "alice",
        "state": "running",
        "restricted": False,
        "memory_bytes": 100 * 2**20,
        "threads": 4,
        "cpu_percent": 1.0,
        "disk_read_bytes_per_s": 0.0,
        "disk_write_bytes_per_s": 0.0,
        "pageins_per_s": 0.0,
        "wakeups_per_s": 10.0,
        "ctx_switches_per_s": 20.0,
        "score": score,
        "dominant": "cpu",
        "start_id": pid * 10,
    }
    base.update(fields)
    return ProcessRow(**base)


def ranking(
    rows: list[ProcessRow], time: float = T0, interval_s: float = 1.0, **kw: Any
) -> Ranking:
    return Ranking(
        time=time,
        interval_s=interval_s,
        platform=kw.pop("platform", "linux"),
        sources=kw.pop("sources", ["procfs"]),
        processes=list(rows),
        system=kw.pop("system", {"memory_total_bytes": 16 * 2**30, "cpu_count": 8}),
        **kw,
    )
