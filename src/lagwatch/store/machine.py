"""The machine's figures of one tick (CPU, memory, swap, load, pressure, power), kept in the
tick's ``machine`` column so that a recorded moment shows the same header as a live one.

Stored as a JSON array in the order of ``MACHINE_KEYS``, not as an object: the keys would be
three quarters of the text, and the column is written every second (about 100 bytes a tick on
a small machine, 8 MiB a day). The order is part of the schema: keys are only ever appended.
Values are rounded to what the header shows; a figure the sources did not give is null, and
trailing nulls are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any


def _percent(value: Any) -> float:
    return round(float(value), 1)


def _whole(value: Any) -> int:
    return int(value)


def _hundredths(value: Any) -> float:
    return round(float(value), 2)


def _cores(value: Any) -> list[int]:
    return [round(float(p)) for p in value]


# (system key, rounding) in stored order; "pressure.<resource>" is that resource's
# ``some_percent`` (``some_avg10_percent`` where the interval's is unknown) and
# "pressure.memory.level" macOS's memory pressure level. Append only.
MACHINE_KEYS: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("cpu_busy_percent", _percent),
    ("cpu_busy_percent_per_core", _cores),
    ("memory_used_bytes", _whole),
    ("memory_available_bytes", _whole),
    ("swap_total_bytes", _whole),
    ("swap_used_bytes", _whole),
    ("load_avg_1m", _hundredths),
    ("load_avg_5m", _hundredths),
    ("load_avg_15m", _hundredths),
    ("pressure.cpu", _percent),
    ("pressure.memory", _percent),
    ("pressure.io", _percent),
    ("pressure.memory.level", str),
    ("physmem_used_bytes", _whole),
    ("physmem_compressor_bytes", _whole),
    ("package_power_watts", _hundredths),
    ("gpu_device_utilization_percent", _percent),
)
_RESOURCES = ("cpu", "memory", "io")


def _pressure_of(system: dict[str, Any], path: str) -> Any:
    parts = path.split(".")
    pressure = system.get("pressure")
    figures = pressure.get(parts[1]) if isinstance(pressure, dict) else None
    if not isinstance(figures, dict):
        return None
    if len(parts) == 3:
        return figures.get(parts[2])
    some = figures.get("some_percent")
    return figures.get("some_avg10_percent") if some is None else some


def encode_machine(system: dict[str, Any]) -> str | None:
    """The column's text for a ranking's ``system`` (None when it has none of the figures)."""
    values: list[Any] = []
    for key, rounding in MACHINE_KEYS:
        raw = _pressure_of(system, key) if key.startswith("pressure.") else system.get(key)
        try:
            value = None if raw is None or isinstance(raw, bool) else rounding(raw)
        except (TypeError, ValueError, OverflowError):
            value = None  # a figure of an unexpected type is not a figure
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        values.append(value)
    while values and values[-1] is None:
        values.pop()
    return json.dumps(values, separators=(",", ":")) if values else None


def decode_machine(values: list[Any]) -> dict[str, Any]:
    """``system`` keys from the column's decoded array (the header's own shape)."""
    out: dict[str, Any] = {}
    pressure: dict[str, dict[str, Any]] = {}
    for (key, _), value in zip(MACHINE_KEYS, values, strict=False):
        if value is None:
            continue
        if key.startswith("pressure."):
            parts = key.split(".")
            figure = "some_percent" if len(parts) == 2 else parts[2]
            pressure.setdefault(parts[1], {})[figure] = value
        else:
            out[key] = value
    if pressure:
        out["pressure"] = {r: pressure[r] for r in _RESOURCES if r in pressure}
    return out
