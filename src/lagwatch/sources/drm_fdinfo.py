"""Per-process GPU time on Linux from DRM fdinfo (kernel Documentation/gpu/drm-usage-stats).

Every open DRM file descriptor has a ``/proc/PID/fdinfo/FD`` with ``drm-client-id`` and
cumulative busy time per engine (``drm-engine-<name>: <ns> ns``). One client can sit behind
several descriptors (dup, fd passing), so time is counted once per (device, client id).

Finding DRM descriptors means reading every fd link of every process, which is too costly per
tick; it is done every ``rescan_every`` reads, and in between only known descriptors are read.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from lagwatch.sources.base import SourceError, SourceReading


def probe(dev_dri: str = "/dev/dri") -> str | None:
    if not sys.platform.startswith("linux"):
        return "DRM fdinfo exists on Linux only"
    if not os.path.isdir(dev_dri):
        return f"no GPU device nodes ({dev_dri} absent)"
    return None


@dataclass(frozen=True, slots=True)
class DrmClient:
    key: tuple[str, str]  # (device, client id)
    busy_ns: int  # summed over engines


def parse_fdinfo(text: str) -> DrmClient | None:
    """A DRM client's identity and busy time from one fdinfo text; None if not a DRM fd or the
    driver does not report engine time."""
    client_id = device = None
    busy_ns = 0
    has_engine = False
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if key == "drm-client-id":
            client_id = value
        elif key == "drm-pdev":
            device = value
        elif key.startswith("drm-engine-") and not key.startswith("drm-engine-capacity-"):
            number, _, unit = value.partition(" ")
            if unit.strip() == "ns" and number.isdigit():
                busy_ns += int(number)
                has_engine = True
    if client_id is None or not has_engine:
        return None
    return DrmClient(key=(device or "", client_id), busy_ns=busy_ns)


def gpu_ns_by_pid(clients: dict[int, list[DrmClient]]) -> dict[int, int]:
    """Busy time per pid, each client counted once (for the lowest pid holding it)."""
    claimed: set[tuple[str, str]] = set()
    result: dict[int, int] = {}
    for pid in sorted(clients):
        for client in clients[pid]:
            if client.key in claimed:
                continue
            claimed.add(client.key)
            result[pid] = result.get(pid, 0) + client.busy_ns
    return result


class DrmFdinfoSource:
    name = "drm-fdinfo"

    def __init__(
        self, proc_root: str = "/proc", dev_dri: str = "/dev/dri", rescan_every: int = 10
    ) -> None:
        if reason := probe(dev_dri):
            raise SourceError(reason)
        self.proc_root = proc_root
        self.rescan_every = rescan_every
        self._reads = 0
        self._known: dict[int, list[str]] = {}  # pid -> DRM fd numbers
        self._no_gpu: set[int] = set()  # pids whose fds were read and hold no DRM device

    def _scan(self) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        self._no_gpu = set()
        for entry in os.listdir(self.proc_root):
            if not entry.isdigit():
                continue
            fd_dir = f"{self.proc_root}/{entry}/fd"
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue  # gone, or another user's process without root
            for fd in fds:
                try:
                    target = os.readlink(f"{fd_dir}/{fd}")
                except OSError:
                    continue
                if target.startswith("/dev/dri/"):
                    found.setdefault(int(entry), []).append(fd)
            if int(entry) not in found:
                self._no_gpu.add(int(entry))  # a known zero, unlike an unreadable fd table
        return found

    def read(self) -> SourceReading:
        if self._reads % self.rescan_every == 0:
            self._known = self._scan()
        self._reads += 1
        clients: dict[int, list[DrmClient]] = {}
        for pid, fds in self._known.items():
            for fd in fds:
                try:
                    with open(f"{self.proc_root}/{pid}/fdinfo/{fd}") as fh:
                        client = parse_fdinfo(fh.read())
                except OSError:
                    continue  # closed or process gone: the next rescan forgets it
                if client is not None:
                    clients.setdefault(pid, []).append(client)
        patches = {pid: {"gpu_ns": 0} for pid in self._no_gpu}
        patches.update({pid: {"gpu_ns": ns} for pid, ns in gpu_ns_by_pid(clients).items()})
        return SourceReading(patches=patches)

    def close(self) -> None:
        self._known.clear()
