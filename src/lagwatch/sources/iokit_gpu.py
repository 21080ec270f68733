"""Per-process GPU time on Apple Silicon, without root: the `iokit-gpu` augmenting source.

User clients (one ``AGXDeviceUserClient`` per Metal device a process opens) are not
*registered* services, so IOServiceGetMatchingServices never returns them: they are found by
walking each accelerator's children in the IOService plane (reference section 4).
:class:`IORegistryReader` reads the few properties that matter into plain dicts through the
shared IOKit binding (lagwatch.sources.iokit); the aggregation over those dicts is pure
(lagwatch.sources.gpu_clients), and ioreg captures feed it the same dicts.

A client's time leaves the sum when the client is destroyed, so ``gpu_ns`` may go down; the
sampler treats a drop as no activity (``DROPPABLE_COUNTERS``).
"""

from __future__ import annotations

from typing import Any

from lagwatch import platform_seam
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.gpu_clients import (
    ACCELERATOR_CLASS,
    CLIENT_CLASS,
    client_from_properties,
    device_stats,
    device_system_figures,
    gpu_time_by_pid,
)
from lagwatch.sources.iokit import IOKit, frameworks

NAME = "iokit-gpu"


class IORegistryReader:
    """Reads accelerators and their user clients from the IORegistry, as plain dicts.
    ``kit``: the IOKit binding to read through (this Mac's when None)."""

    def __init__(self, kit: IOKit | None = None) -> None:
        self.kit = kit if kit is not None else frameworks()

    def read(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(client property dicts, accelerator property dicts)."""
        kit = self.kit
        clients: list[dict[str, Any]] = []
        devices: list[dict[str, Any]] = []
        for acc in kit.matching_services(ACCELERATOR_CLASS):
            devices.append(
                {
                    "class": kit.class_name(acc),
                    "PerformanceStatistics": kit.property(acc, "PerformanceStatistics"),
                    "model": kit.property(acc, "model"),
                    "gpu-core-count": kit.property(acc, "gpu-core-count"),
                }
            )
            for child in kit.children(acc):
                if kit.class_name(child) != CLIENT_CLASS:
                    continue
                clients.append(
                    {
                        "IOUserClientCreator": kit.property(child, "IOUserClientCreator"),
                        "AppUsage": kit.property(child, "AppUsage"),
                    }
                )
        return clients, devices


# -- the source ---------------------------------------------------------------------------------


def probe() -> str | None:
    if not platform_seam.is_macos():
        return "the IORegistry exists on macOS only"
    try:
        _, devices = IORegistryReader().read()
    except SourceError as exc:
        return str(exc)
    if not any(str(d.get("class", "")).startswith("AGX") for d in devices):
        return "no Apple GPU (AGX accelerator): per-process GPU time needs Apple Silicon"
    return None


def detail() -> str | None:
    try:
        clients, devices = IORegistryReader().read()
    except SourceError as exc:
        return str(exc)
    names = ", ".join(sorted({str(d.get("model") or d.get("class")) for d in devices}))
    return f"{names}; {len(clients)} GPU clients now"


class IokitGpuSource:
    """Augmenting source: ``gpu_ns`` per pid, plus device-wide utilization in ``system``."""

    name = NAME

    def __init__(self, reader: Any | None = None) -> None:
        self.reader = reader if reader is not None else IORegistryReader()

    def read(self) -> SourceReading:
        try:
            client_props, device_props = self.reader.read()
        except SourceError:
            raise
        except OSError as exc:
            raise SourceError(f"IORegistry read failed: {exc}") from None
        totals = gpu_time_by_pid(client_from_properties(p) for p in client_props)
        system: dict[str, Any] = {}
        for props in device_props:
            system.update(device_system_figures(device_stats(props)))
            if system:
                break
        return SourceReading(
            patches={pid: {"gpu_ns": ns} for pid, ns in totals.items()}, system=system
        )

    def close(self) -> None:
        pass
