"""Linux pressure stall information (PSI): how much of the time tasks were stalled waiting for
CPU, memory or I/O, system-wide and per top-level cgroup.

An augmenting source: it reads no process. Each reading puts one dict in
``SourceReading.system`` under ``"pressure"`` (docs/metrics.md, "Pressure")::

    {"cpu": {"some_percent": 41.2, "full_percent": 0.0,
             "some_avg10_percent": 38.5, "some_avg60_percent": ..., "some_avg300_percent": ...,
             "full_avg10_percent": ..., ..., "some_total_us": 123456, "full_total_us": 0},
     "memory": {...}, "io": {...}}

``some_percent`` / ``full_percent`` are the share of wall time, over the interval since the
previous reading, in which at least one task (some) or every non-idle task (full) was stalled:
computed from the kernel's cumulative ``total`` (microseconds), so they follow a burst at once,
where the kernel's own ``avg10`` trails it by seconds. None on the first reading. A resource the
kernel does not report (``full`` for cpu before Linux 5.13) is absent, never zero.

Per cgroup: the same dict for each top-level cgroup of the cgroup v2 hierarchy whose pressure
files are readable, under ``system["pressure_cgroups"][name]`` (at most ``MAX_CGROUPS``).

PSI needs Linux 4.20+ built with CONFIG_PSI and not booted with ``psi=0``.
"""

from __future__ import annotations

import os
import time

from lagwatch import platform_seam
from lagwatch.sources.base import SourceError, SourceReading

RESOURCES: tuple[str, ...] = ("cpu", "memory", "io")
DEFAULT_ROOT = "/proc/pressure"
# The cgroup v2 mount: /sys/fs/cgroup on unified systems, .../unified on hybrid ones.
CGROUP_ROOTS: tuple[str, ...] = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
MAX_CGROUPS = 32
_AVGS = ("avg10", "avg60", "avg300")

# kind ("some"/"full") -> field -> value: avg10/avg60/avg300 in percent, total in microseconds.
Pressure = dict[str, dict[str, float]]


def parse_pressure(text: str, where: str = "pressure") -> Pressure:
    """Parse one PSI file (``some avg10=0.12 avg60=0.05 avg300=0.01 total=12345`` and
    optionally a ``full`` line). Raises ValueError naming ``where`` and the line."""
    out: Pressure = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        kind, _, rest = line.partition(" ")
        if kind not in ("some", "full"):
            raise ValueError(f"{where}:{n}: expected 'some' or 'full', got {line[:60]!r}")
        fields: dict[str, float] = {}
        for item in rest.split():
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"{where}:{n}: expected key=value, got {item[:40]!r}")
            try:
                fields[key] = int(value) if key == "total" else float(value)
            except ValueError:
                raise ValueError(f"{where}:{n}: {key} is not a number: {value[:40]!r}") from None
        if "total" not in fields or any(a not in fields for a in _AVGS):
            raise ValueError(f"{where}:{n}: missing avg10/avg60/avg300/total in {line[:80]!r}")
        out[kind] = fields
    if "some" not in out:
        raise ValueError(f"{where}: no 'some' line")
    return out


def figures(
    current: Pressure, previous: Pressure | None, elapsed_us: float | None
) -> dict[str, float | None]:
    """The flat figures of one resource (the shape in the module docstring)."""
    out: dict[str, float | None] = {}
    for kind in ("some", "full"):
        fields = current.get(kind)
        if fields is None:
            continue
        share: float | None = None
        before = (previous or {}).get(kind)
        if before is not None and elapsed_us:
            stalled = fields["total"] - before["total"]
            # A total that went backwards (a cgroup recreated under the same name) is unknown.
            if stalled >= 0:
                share = round(min(100.0, 100.0 * stalled / elapsed_us), 2)
        out[f"{kind}_percent"] = share
        for avg in _AVGS:
            out[f"{kind}_{avg}_percent"] = fields[avg]
        out[f"{kind}_total_us"] = fields["total"]
    return out


def probe(root: str = DEFAULT_ROOT) -> str | None:
    if not platform_seam.sys_platform().startswith("linux"):
        return "PSI exists on Linux only (macOS: the memorystatus source's memory pressure level)"
    if not os.path.isdir(root):
        return f"{root} is absent: the kernel is older than 4.20 or built without CONFIG_PSI"
    try:
        with open(os.path.join(root, "cpu"), "rb") as fh:
            fh.read(256)
    except OSError as exc:
        # Kernels built with CONFIG_PSI_DEFAULT_DISABLED, or booted with psi=0, refuse reads.
        return f"{root}/cpu cannot be read ({exc.strerror}): PSI is off (boot with psi=1)"
    return None


def cgroup2_root(candidates: tuple[str, ...] = CGROUP_ROOTS) -> str | None:
    """The cgroup v2 mount point, if one has pressure files."""
    for path in candidates:
        if os.path.exists(os.path.join(path, "cgroup.controllers")) and os.path.exists(
            os.path.join(path, "cpu.pressure")
        ):
            return path
    return None


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None  # absent (controller off, cgroup gone) or refused: that cgroup says nothing


class PsiSource:
    name = "psi"

    def __init__(
        self,
        root: str = DEFAULT_ROOT,
        cgroup_root: str | None = None,
        cgroups: bool = True,
        max_cgroups: int = MAX_CGROUPS,
    ) -> None:
        if reason := probe(root):
            raise SourceError(reason)
        self.root = root
        self.cgroup_root = (cgroup_root or cgroup2_root()) if cgroups else None
        self.max_cgroups = max_cgroups
        self._previous: dict[str, Pressure] = {}  # path -> last parsed reading
        self._previous_ns: int | None = None

    def _resource(
        self, path: str, elapsed_us: float | None, seen: dict[str, Pressure], warnings: list[str]
    ) -> dict[str, float | None] | None:
        text = _read(path)
        if text is None:
            return None
        try:
            current = parse_pressure(text, path)
        except ValueError as exc:
            warnings.append(f"psi: {exc}")
            return None
        seen[path] = current
        return figures(current, self._previous.get(path), elapsed_us)

    def read(self) -> SourceReading:
        now_ns = time.monotonic_ns()
        elapsed_us = None if self._previous_ns is None else (now_ns - self._previous_ns) / 1e3
        seen: dict[str, Pressure] = {}
        warnings: list[str] = []
        system: dict[str, dict] = {}
        pressure = {}
        for res in RESOURCES:
            fig = self._resource(os.path.join(self.root, res), elapsed_us, seen, warnings)
            if fig is not None:
                pressure[res] = fig
        system["pressure"] = pressure
        if self.cgroup_root is not None:
            system["pressure_cgroups"] = self._cgroups(elapsed_us, seen, warnings)
        self._previous = seen
        self._previous_ns = now_ns
        return SourceReading(system=system, warnings=warnings)

    def _cgroups(
        self, elapsed_us: float | None, seen: dict[str, Pressure], warnings: list[str]
    ) -> dict[str, dict[str, dict[str, float | None]]]:
        assert self.cgroup_root is not None
        try:
            entries = sorted(os.scandir(self.cgroup_root), key=lambda e: e.name)
        except OSError:
            return {}
        out: dict[str, dict[str, dict[str, float | None]]] = {}
        for entry in entries:
            if len(out) >= self.max_cgroups:
                break
            if not entry.is_dir(follow_symlinks=False):
                continue
            groups = {}
            for res in RESOURCES:
                path = os.path.join(entry.path, f"{res}.pressure")
                fig = self._resource(path, elapsed_us, seen, warnings)
                if fig is not None:
                    groups[res] = fig
            if groups:
                out[entry.name] = groups
        return out

    def close(self) -> None:
        self._previous.clear()
