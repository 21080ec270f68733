"""System figures through psutil, where no /proc is (macOS, the BSDs, Windows): the same keys
as lagwatch.sources.system_linux, from what psutil measures. Swap on macOS is the swap files
(vm.swapusage); the memory compressor is not among psutil's figures, so it is not shown."""

from __future__ import annotations

import os
from typing import Any


class PsutilSystem:
    """Keeps the previous per-core CPU times to turn them into percentages."""

    def __init__(self) -> None:
        self._before: list[tuple[float, float]] | None = None

    def read(self) -> dict[str, Any]:
        try:
            import psutil
        except ImportError:
            return {}
        out: dict[str, Any] = {}
        try:
            now = [_busy_total(t) for t in psutil.cpu_times(percpu=True)]
        except (OSError, RuntimeError, AttributeError):
            now = []
        before, self._before = self._before, now
        if now and before is not None and len(before) == len(now):
            per_core = [_percent(n, b) for n, b in zip(now, before, strict=True)]
            if all(p is not None for p in per_core):
                out["cpu_busy_percent_per_core"] = per_core
            busy = sum(n[0] - b[0] for n, b in zip(now, before, strict=True))
            total = sum(n[1] - b[1] for n, b in zip(now, before, strict=True))
            if total > 0:
                out["cpu_busy_percent"] = round(100.0 * max(0.0, busy) / total, 1)
        try:
            mem = psutil.virtual_memory()
            out["memory_available_bytes"] = int(mem.available)
            out["memory_used_bytes"] = int(mem.total - mem.available)
        except (OSError, RuntimeError):
            pass
        try:
            swap = psutil.swap_memory()
            out["swap_total_bytes"] = int(swap.total)
            out["swap_used_bytes"] = int(swap.used)
        except (OSError, RuntimeError):
            pass
        if hasattr(os, "getloadavg"):
            try:
                one, five, fifteen = os.getloadavg()
            except OSError:
                pass
            else:
                out.update(
                    load_avg_1m=round(one, 2),
                    load_avg_5m=round(five, 2),
                    load_avg_15m=round(fifteen, 2),
                )
        return out


def _busy_total(times: Any) -> tuple[float, float]:
    total = sum(float(v) for v in times)
    # guest time is already counted in user (Linux); idle and iowait are a core with no work.
    for name in ("guest", "guest_nice"):
        total -= float(getattr(times, name, 0.0))
    idle = float(times.idle) + float(getattr(times, "iowait", 0.0))
    return total - idle, total


def _percent(now: tuple[float, float], before: tuple[float, float]) -> float | None:
    busy, total = now[0] - before[0], now[1] - before[1]
    if total <= 0:
        return None
    return round(100.0 * max(0.0, busy) / total, 1)
