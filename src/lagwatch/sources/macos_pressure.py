"""macOS memory pressure level, without root: the sysctl ``kern.memorystatus_vm_pressure_level``.

macOS has no PSI. What it exposes is the level the kernel's memorystatus subsystem is at, the
one Activity Monitor's "Memory Pressure" graph colours and ``DISPATCH_SOURCE_TYPE_MEMORYPRESSURE``
announces. Verified in XNU's bsd/kern/kern_memorystatus.c (apple-oss-distributions/xnu):

- the sysctl returns ``convert_internal_pressure_level_to_dispatch_level()`` of the internal
  level, i.e. the dispatch bit: 1 normal, 2 warning (internal warning and urgent), 4 critical,
  never the internal 0..4 numbering;
- the privilege check (PRIV_VM_PRESSURE) is compiled only for ``!XNU_TARGET_OS_OSX``: on macOS
  any user may read it (older kernels, before macOS 11, checked it for everyone).

An augmenting source: its reading is ``system["pressure"] = {"memory": {"level": "warning",
"level_code": 2}}``. There is no percentage: the daemon's pressure detector treats warning
and critical as above its threshold (docs/daemon.md, "Pressure events").
"""

from __future__ import annotations

from lagwatch import platform_seam
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.libproc import LibProc, LibprocError

SYSCTL = "kern.memorystatus_vm_pressure_level"
LEVELS: dict[int, str] = {1: "normal", 2: "warning", 4: "critical"}


def level_name(code: int) -> str | None:
    """The dispatch level's name; None for a value the kernel is not known to return."""
    return LEVELS.get(code)


def probe(lib: LibProc | None = None) -> str | None:
    if lib is None and not platform_seam.is_macos():
        return "the memorystatus sysctl exists on macOS only"
    lib = lib or LibProc()
    try:
        lib.sysctl_int(SYSCTL)
    except LibprocError as exc:
        return f"{SYSCTL} cannot be read: {exc.strerror or exc}"
    return None


class MacMemoryPressureSource:
    name = "memorystatus"

    def __init__(self, lib: LibProc | None = None) -> None:
        self.lib = lib or LibProc()
        if reason := probe(self.lib):
            raise SourceError(reason)

    def read(self) -> SourceReading:
        try:
            code = self.lib.sysctl_int(SYSCTL)
        except LibprocError as exc:
            return SourceReading(warnings=[f"memorystatus: {SYSCTL}: {exc.strerror or exc}"])
        level = level_name(code)
        if level is None:
            return SourceReading(warnings=[f"memorystatus: {SYSCTL} returned {code}"])
        return SourceReading(system={"pressure": {"memory": {"level": level, "level_code": code}}})

    def close(self) -> None:
        pass
