"""Which sources exist, which work here, and which run together.

Sources are listed once, with the facts `lagwatch sources` shows. Selection runs every usable
source of the platform in priority order; for each metric the first source that knows it wins
(see lagwatch.model.merge_patch).
"""

from __future__ import annotations

import os
import sys

from lagwatch.sources import drm_fdinfo, procfs, psutil_source, rapl
from lagwatch.sources.base import Source, SourceError, SourceInfo

# Every source lagwatch knows, best first within its kind.
SOURCES: list[SourceInfo] = [
    SourceInfo(
        name="procfs",
        kind="processes",
        platforms=("linux",),
        metrics=("cpu", "memory", "threads", "disk", "pageins", "wakeups", "ctx_switches"),
        needs_root=False,
        description="/proc/PID/{stat,status,io}; another user's disk I/O needs root",
        probe=procfs.probe,
        factory=procfs.ProcfsSource,
        priority=10,
    ),
    SourceInfo(
        name="drm-fdinfo",
        kind="augment",
        platforms=("linux",),
        metrics=("gpu",),
        needs_root=False,
        description="GPU busy time per process from /proc/PID/fdinfo (DRM usage stats)",
        probe=drm_fdinfo.probe,
        factory=drm_fdinfo.DrmFdinfoSource,
        priority=20,
    ),
    SourceInfo(
        name="rapl",
        kind="augment",
        platforms=("linux",),
        metrics=("power",),
        needs_root=False,  # not by itself: the kernel (5.10+) decides, and probe says so
        description="CPU package energy (RAPL, /sys/class/powercap), split by CPU-time share",
        probe=rapl.probe,
        factory=rapl.RaplSource,
        priority=60,
    ),
    SourceInfo(
        name="psutil",
        kind="processes",
        platforms=("",),  # anywhere
        metrics=("cpu", "memory", "threads", "disk", "wakeups", "ctx_switches"),
        needs_root=False,
        description="portable fallback; no pageins, GPU, network or energy",
        probe=psutil_source.probe,
        factory=psutil_source.PsutilSource,
        priority=90,
    ),
]


def register(info: SourceInfo) -> None:
    """Platform modules add their sources here (keeps this module import-safe everywhere)."""
    if all(s.name != info.name for s in SOURCES):
        SOURCES.append(info)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def runs_here(info: SourceInfo, platform: str | None = None) -> bool:
    platform = platform or sys.platform
    return any(platform.startswith(p) for p in info.platforms)


def unavailable_reason(info: SourceInfo, platform: str | None = None) -> str | None:
    """None when the source can run here, else why not."""
    if not runs_here(info, platform):
        return f"not for this platform ({platform or sys.platform})"
    if info.needs_root and not is_root():
        return "needs root (run with sudo)"
    try:
        return info.probe()
    except Exception as exc:  # a probe must never take the CLI down
        return f"probe failed: {exc}"


def by_name(name: str) -> SourceInfo:
    for info in SOURCES:
        if info.name == name:
            return info
    known = ", ".join(s.name for s in SOURCES)
    raise SourceError(f"unknown source {name!r} (known: {known})")


def select(names: list[str] | None = None) -> tuple[list[Source], list[str]]:
    """Instantiate the sources to run: the given names (forced) or every usable one here.

    Returns the sources best first and the reasons any could not start. A forced set that
    yields no process source is an error.
    """
    if names:
        wanted = [by_name(n) for n in names]
    else:
        wanted = [s for s in SOURCES if unavailable_reason(s) is None]
        # The portable fallback only runs when no native process source is usable.
        if any(s.kind == "processes" and s.name != "psutil" for s in wanted):
            wanted = [s for s in wanted if s.name != "psutil"]
    wanted.sort(key=lambda s: s.priority)
    started: list[Source] = []
    problems: list[str] = []
    for info in wanted:
        reason = unavailable_reason(info)
        if reason is None:
            try:
                started.append(info.factory())
                continue
            except SourceError as exc:
                reason = str(exc)
            except OSError as exc:
                reason = str(exc)
        problems.append(f"{info.name}: {reason}")
    if not any(by_name(s.name).kind == "processes" for s in started):
        detail = "; ".join(problems) or "none selected"
        raise SourceError(f"no process source could start ({detail})")
    return started, problems
