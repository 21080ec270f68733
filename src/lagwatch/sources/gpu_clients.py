"""GPU time per process and device-wide GPU figures, from IORegistry properties as plain dicts.

The GPU driver keeps one ``AGXDeviceUserClient`` per Metal device a process opens. Each client
records who created it (``IOUserClientCreator`` = ``"pid <N>, <comm>"``, set by the kernel from
``p_comm``, so the name is cut at 16 *bytes*, maybe inside a UTF-8 character) and,
per command queue, ``AppUsage[].accumulatedGPUTime`` (nanoseconds according to every
implementer; Apple does not document it). A pid's GPU time is the sum over all its clients.
The accelerator itself carries device-wide ``PerformanceStatistics``.

Pure functions over the dicts the live reader (lagwatch.sources.iokit_gpu) and the ioreg text
parser (lagwatch.parsers.ioreg) both produce, so captures and the live registry share them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lagwatch import kernel_names
from lagwatch.parsers.ioreg import IoregEntry

CLIENT_CLASS = "AGXDeviceUserClient"
ACCELERATOR_CLASS = "IOAccelerator"  # matches AGXAccelerator* (and Intel/AMD drivers)

_CREATOR = re.compile(r"^\s*pid\s+(\d+)\s*,\s?(.*)$")


def parse_creator(text: Any) -> tuple[int, str, bool] | None:
    """``"pid 440, WindowServer"`` -> (440, "WindowServer", False): pid, name, and whether the
    name may be cut; None if it is not that format. The kernel writes the name from p_comm
    (lagwatch.kernel_names): a name of 16 bytes may be longer, and a character cut in half at
    the end is dropped."""
    if not isinstance(text, str):
        return None
    m = _CREATOR.match(text)
    if m is None:
        return None
    name, cut = kernel_names.read_printed(m.group(2), kernel_names.IOKIT_CREATOR_BYTES)
    return int(m.group(1)), name.rstrip(), cut


@dataclass(frozen=True, slots=True)
class GpuClient:
    """One AGXDeviceUserClient: its creator and the GPU time summed over its command queues."""

    pid: int
    name: str
    gpu_ns: int
    queues: int  # AppUsage records (0 when "AppUsage" = ())
    name_cut: bool = False  # the name fills p_comm (16 bytes): the process's may be longer


def client_from_properties(props: dict[str, Any]) -> GpuClient | None:
    """A client from its registry properties; None when the creator is missing or unreadable.
    Records without an integer accumulatedGPUTime count as 0 (nothing measured yet)."""
    creator = parse_creator(props.get("IOUserClientCreator"))
    if creator is None:
        return None
    usage = props.get("AppUsage")
    total = 0
    queues = 0
    if isinstance(usage, list):
        for record in usage:
            if not isinstance(record, dict):
                continue
            queues += 1
            value = record.get("accumulatedGPUTime")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                total += value
    pid, name, cut = creator
    return GpuClient(pid=pid, name=name, gpu_ns=total, queues=queues, name_cut=cut)


def gpu_time_by_pid(clients: Iterable[GpuClient | None]) -> dict[int, int]:
    """Total GPU ns per pid, over all of a pid's clients (a process may own several)."""
    totals: dict[int, int] = {}
    for client in clients:
        if client is not None:
            totals[client.pid] = totals.get(client.pid, 0) + client.gpu_ns
    return totals


@dataclass(frozen=True, slots=True)
class GpuDeviceStats:
    """The accelerator's own PerformanceStatistics (device-wide, not per process)."""

    device_utilization_percent: float | None
    renderer_utilization_percent: float | None
    tiler_utilization_percent: float | None
    in_use_system_memory_bytes: int | None
    alloc_system_memory_bytes: int | None
    model: str | None
    core_count: int | None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def device_stats(props: dict[str, Any]) -> GpuDeviceStats | None:
    """Stats of an accelerator entry; None when it has no PerformanceStatistics. Keys are
    looked up exactly, so "In use system memory (driver)" is never read as the total."""
    perf = props.get("PerformanceStatistics")
    if not isinstance(perf, dict):
        return None

    def pct(key: str) -> float | None:
        value = _number(perf.get(key))
        return None if value is None else float(value)

    def size(key: str) -> int | None:
        value = _number(perf.get(key))
        return None if value is None else int(value)

    model = props.get("model")
    cores = _number(props.get("gpu-core-count"))
    return GpuDeviceStats(
        device_utilization_percent=pct("Device Utilization %"),
        renderer_utilization_percent=pct("Renderer Utilization %"),
        tiler_utilization_percent=pct("Tiler Utilization %"),
        in_use_system_memory_bytes=size("In use system memory"),
        alloc_system_memory_bytes=size("Alloc system memory"),
        model=model if isinstance(model, str) else None,
        core_count=None if cores is None else int(cores),
    )


def device_system_figures(stats: GpuDeviceStats | None) -> dict[str, Any]:
    """System-level figures for Snapshot.system (units in the key names)."""
    if stats is None:
        return {}
    out: dict[str, Any] = {}
    if stats.device_utilization_percent is not None:
        out["gpu_device_utilization_percent"] = stats.device_utilization_percent
    if stats.in_use_system_memory_bytes is not None:
        out["gpu_memory_in_use_bytes"] = stats.in_use_system_memory_bytes
    return out


def gpu_clients_from_ioreg(entries: Iterable[IoregEntry]) -> list[GpuClient]:
    """The GPU clients of a parsed ioreg capture (entries of other classes are skipped)."""
    clients = []
    for entry in entries:
        if entry.class_name == CLIENT_CLASS:
            client = client_from_properties(entry.properties)
            if client is not None:
                clients.append(client)
    return clients


def devices_from_ioreg(entries: Iterable[IoregEntry]) -> list[GpuDeviceStats]:
    """Stats of every entry of a parsed ioreg capture that has PerformanceStatistics."""
    return [s for e in entries if (s := device_stats(e.properties)) is not None]
