"""Linux RAPL: package energy from /sys/class/powercap, for per-process power.

An augmenting source: it reads no process, only the CPU packages' cumulative energy counters,
and puts one unwrapped total in ``SourceReading.system`` (lagwatch.energy.attribution's
``rapl_energy_uj``, ``rapl_time_ns``, ``rapl_epoch``). The energy module splits the package
power across processes by CPU-time share.

Which zones count: the top-level powercap zones whose ``name`` is ``package-N`` (sub-zones such
as core/uncore/dram are parts of a package, and ``psys`` covers the whole platform: both would
count energy twice). Some Intel laptops expose a package through both the MSR interface
(``intel-rapl:N``) and MMIO (``intel-rapl-mmio:N``); the MSR zone is used, MMIO only if alone.

Since Linux 5.10 ``energy_uj`` is readable by root only (the Platypus side channel,
CVE-2020-8694): without root the source is unavailable and says so.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import time
from dataclasses import dataclass

from lagwatch.energy_models import rapl_delta_uj
from lagwatch.sources.base import SourceError, SourceReading

DEFAULT_ROOT = "/sys/class/powercap"
_TOP_ZONE = re.compile(r"intel-rapl(-mmio)?:(\d+)")
# Distinct per source instance (and per lost continuity) within this process.
_EPOCHS = itertools.count(1)

# System keys the rapl source puts in SourceReading.system.
RAPL_ENERGY_KEY = "rapl_energy_uj"  # package energy since the source started, unwrapped (uJ)
RAPL_TIME_KEY = "rapl_time_ns"  # monotonic time of that reading
RAPL_EPOCH_KEY = "rapl_epoch"  # changes whenever the counter loses continuity


@dataclass(frozen=True, slots=True)
class Zone:
    path: str
    name: str  # "package-0"
    max_range_uj: int | None  # the counter wraps to 0 after this; None if unknown


def _read_text(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read().strip()


def _read_int(path: str) -> int:
    text = _read_text(path)
    try:
        return int(text)
    except ValueError:
        raise SourceError(f"{path}: not an integer: {text[:40]!r}") from None


def find_package_zones(root: str = DEFAULT_ROOT) -> list[Zone]:
    """The package zones under ``root``, one per package. Raises FileNotFoundError if ``root``
    does not exist."""
    by_name: dict[str, tuple[bool, Zone]] = {}
    for entry in sorted(os.listdir(root)):
        match = _TOP_ZONE.fullmatch(entry)
        if not match:
            continue
        path = os.path.join(root, entry)
        try:
            name = _read_text(os.path.join(path, "name"))
        except OSError:
            continue
        if not name.startswith("package"):
            continue
        try:
            max_range: int | None = _read_int(os.path.join(path, "max_energy_range_uj"))
        except (OSError, SourceError):
            max_range = None
        mmio = match.group(1) is not None
        known = by_name.get(name)
        if known is None or (known[0] and not mmio):  # MSR beats MMIO for the same package
            by_name[name] = (mmio, Zone(path, name, max_range))
    return [zone for _, zone in sorted(by_name.values(), key=lambda z: z[1].name)]


def probe(root: str = DEFAULT_ROOT) -> str | None:
    """None when the package counters can be read here, else why not (one line)."""
    if not sys.platform.startswith("linux"):
        return "RAPL is read from Linux powercap (/sys/class/powercap) only"
    try:
        zones = find_package_zones(root)
    except FileNotFoundError:
        return f"{root} does not exist (no powercap support in this kernel, or not bare metal)"
    except OSError as exc:
        return f"cannot list {root}: {exc.strerror or exc}"
    if not zones:
        return (
            f"no RAPL package domain under {root} (needs the intel_rapl driver on Intel or AMD "
            "hardware; virtual machines usually have none)"
        )
    for zone in zones:
        counter = os.path.join(zone.path, "energy_uj")
        try:
            _read_int(counter)
        except PermissionError:
            return (
                f"{counter} is readable by root only (Linux 5.10+, CVE-2020-8694): run as root "
                "or grant read access to it to get per-process power"
            )
        except (OSError, SourceError) as exc:
            return f"cannot read {counter}: {exc}"
    return None


class RaplSource:
    """Package energy since this source started (microjoules, wrap-around undone)."""

    name = "rapl"

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        if reason := probe(root):
            raise SourceError(reason)
        self.root = root
        self.zones = find_package_zones(root)
        self._last: dict[str, int] | None = None  # raw counter per zone path at the last read
        self._total_uj = 0
        self._epoch = next(_EPOCHS)

    def _restart(self) -> None:
        """The counter lost continuity: the next reading starts a new chain."""
        self._last = None
        self._epoch = next(_EPOCHS)

    def read(self) -> SourceReading:
        raw: dict[str, int] = {}
        for zone in self.zones:
            counter = os.path.join(zone.path, "energy_uj")
            try:
                raw[zone.path] = _read_int(counter)
            except (OSError, SourceError) as exc:
                self._restart()
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                return SourceReading(warnings=[f"rapl: cannot read {counter}: {why}"])
        now_ns = time.monotonic_ns()
        warnings: list[str] = []
        if self._last is not None:
            used = 0
            for zone in self.zones:
                delta = rapl_delta_uj(self._last[zone.path], raw[zone.path], zone.max_range_uj)
                if delta is None:
                    warnings.append(f"rapl: {zone.name} counter went backwards; restarting")
                    self._restart()
                    used = 0
                    break
                used += delta
            self._total_uj += used
        self._last = raw
        return SourceReading(
            system={
                RAPL_ENERGY_KEY: self._total_uj,
                RAPL_TIME_KEY: now_ns,
                RAPL_EPOCH_KEY: self._epoch,
                "rapl_zones": [zone.name for zone in self.zones],
            },
            warnings=warnings,
        )

    def close(self) -> None:
        self._last = None
