"""Linux system figures for the header of `top` and the TUI, from three small /proc files read
once per tick by the procfs source: CPU busy per core (/proc/stat), memory and swap
(/proc/meminfo), load averages (/proc/loadavg).

The keys, in ``Snapshot.system`` (model.LIVE_SYSTEM_KEYS lists them; docs/metrics.md):

- ``cpu_busy_percent_per_core``: one figure per online core, 0-100, over the interval since
  the previous reading; absent on the first reading
- ``cpu_busy_percent``: all cores together, 0-100
- ``memory_available_bytes`` (MemAvailable: what can be had without swapping),
  ``memory_used_bytes`` (MemTotal - MemAvailable), ``swap_total_bytes``, ``swap_used_bytes``
- ``load_avg_1m``, ``load_avg_5m``, ``load_avg_15m`` (the names `top`'s parser uses too)

A file that cannot be read leaves its keys out: unknown, never zero.
"""

from __future__ import annotations

from typing import Any

# /proc/stat per-cpu columns: user nice system idle iowait irq softirq steal (guest time is
# already inside user and nice, so it is not added again).
_IDLE_COLUMNS = (3, 4)  # idle, iowait: the core had nothing to run
_COUNTED = 8


def parse_cpu_times(text: str) -> dict[str, tuple[int, int]]:
    """'cpu' and 'cpuN' -> (busy ticks, total ticks) from /proc/stat."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        name, *fields = line.split()
        values = [int(v) for v in fields[:_COUNTED]]
        total = sum(values)
        idle = sum(values[i] for i in _IDLE_COLUMNS if i < len(values))
        out[name] = (total - idle, total)
    return out


def _busy_percent(now: tuple[int, int], before: tuple[int, int] | None) -> float | None:
    if before is None:
        return None
    busy, total = now[0] - before[0], now[1] - before[1]
    if total <= 0 or busy < 0:
        return None  # no tick elapsed, or a core went offline and came back
    return round(100.0 * busy / total, 1)


def parse_meminfo(text: str) -> dict[str, int]:
    """The /proc/meminfo fields lagwatch shows, in bytes."""
    kib: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable", "SwapTotal", "SwapFree"):
            kib[key] = int(rest.split()[0])
    out: dict[str, int] = {}
    if "MemTotal" in kib and "MemAvailable" in kib:
        out["memory_available_bytes"] = kib["MemAvailable"] * 1024
        out["memory_used_bytes"] = (kib["MemTotal"] - kib["MemAvailable"]) * 1024
    if "SwapTotal" in kib and "SwapFree" in kib:
        out["swap_total_bytes"] = kib["SwapTotal"] * 1024
        out["swap_used_bytes"] = (kib["SwapTotal"] - kib["SwapFree"]) * 1024
    return out


def parse_loadavg(text: str) -> dict[str, float]:
    one, five, fifteen = (float(v) for v in text.split()[:3])
    return {"load_avg_1m": one, "load_avg_5m": five, "load_avg_15m": fifteen}


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


class LinuxSystem:
    """Reads the figures; keeps the previous CPU times to turn them into percentages."""

    def __init__(self, proc_root: str = "/proc") -> None:
        self.proc_root = proc_root
        self._cpu_before: dict[str, tuple[int, int]] = {}

    def read(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        stat = _read(f"{self.proc_root}/stat")
        if stat is not None:
            try:
                times = parse_cpu_times(stat)
            except ValueError:
                times = {}
            cores = sorted((k for k in times if k != "cpu"), key=lambda k: int(k[3:] or 0))
            per_core = [_busy_percent(times[k], self._cpu_before.get(k)) for k in cores]
            if per_core and all(p is not None for p in per_core):
                out["cpu_busy_percent_per_core"] = per_core
            if "cpu" in times:
                total = _busy_percent(times["cpu"], self._cpu_before.get("cpu"))
                if total is not None:
                    out["cpu_busy_percent"] = total
            self._cpu_before = times
        for name, parse in (("meminfo", parse_meminfo), ("loadavg", parse_loadavg)):
            text = _read(f"{self.proc_root}/{name}")
            if text is None:
                continue
            try:
                out.update(parse(text))
            except (ValueError, IndexError):
                continue  # a text this kernel writes differently: unknown, not zero
        return out
