"""Which sources exist, which work here, and which run together.

Sources are listed once, with the facts `lagwatch sources` shows. Selection runs every usable
augmenting source of the platform and the first process source (in priority order) that starts;
for each metric the first source that knows it wins (see lagwatch.model.merge_patch).
"""

from __future__ import annotations

from collections.abc import Callable

from lagwatch import platform_seam
from lagwatch.sources import (
    drm_fdinfo,
    iokit_gpu,
    macos_libproc,
    macos_pressure,
    nettop,
    procfs,
    psi,
    psutil_source,
    rapl,
    tcp_diag,
    top_live,
)
from lagwatch.sources import powermetrics as powermetrics_source
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
        name="tcp-diag",
        kind="augment",
        platforms=("linux",),
        metrics=("network",),
        needs_root=False,
        description="TCP bytes acked + received per process: the kernel's tcp_info per socket "
        "(sock_diag), sockets mapped to processes through /proc/PID/fd. TCP only: UDP is not "
        "counted; other users' processes need root",
        probe=tcp_diag.probe,
        factory=tcp_diag.TcpDiagSource,
        priority=30,
    ),
    SourceInfo(
        name="psi",
        kind="augment",
        platforms=("",),  # listed everywhere, so `sources` says where PSI is absent and why
        metrics=("pressure",),
        needs_root=False,
        description="pressure stall information: share of time tasks waited for CPU, memory "
        "or I/O (/proc/pressure, and top-level cgroups)",
        probe=psi.probe,
        factory=psi.PsiSource,
        priority=70,
    ),
    # macOS. Process sources are tried in priority order and only the first that starts runs:
    # libproc (10), then psutil (90); `top` augments whichever runs.
    SourceInfo(
        name="libproc",
        kind="processes",
        platforms=macos_libproc.platforms(),
        metrics=(
            "cpu",
            "memory",
            "threads",
            "disk",
            "pageins",
            "wakeups",
            "ctx_switches",
            "power",
        ),
        needs_root=False,
        description="proc_pid_rusage + proc_pidinfo via libSystem; other users' processes are "
        "listed as restricted (name, parent, user) unless run as root",
        probe=macos_libproc.probe,
        factory=macos_libproc.LibprocSource,
        priority=10,
        detail=macos_libproc.detail,
    ),
    SourceInfo(
        name="iokit-gpu",
        kind="augment",
        platforms=("darwin",),
        metrics=("gpu",),
        needs_root=False,
        description="GPU time per process from the AGX driver's user clients in the IORegistry",
        probe=iokit_gpu.probe,
        factory=iokit_gpu.IokitGpuSource,
        priority=20,
        detail=iokit_gpu.detail,
    ),
    SourceInfo(
        name="nettop",
        kind="augment",
        platforms=("darwin",),
        metrics=("network",),
        needs_root=False,
        description="bytes in + out per process from one long-lived `nettop -L 0` child",
        probe=nettop.probe,
        factory=nettop.NettopSource,
        priority=30,
    ),
    SourceInfo(
        name="powermetrics",
        kind="augment",
        platforms=("darwin",),
        metrics=("energy", "power", "disk", "network", "pageins", "wakeups"),
        needs_root=True,
        description="Apple's own Energy Impact per process and CPU/GPU/ANE power, from one "
        "long-lived `powermetrics -f plist` child",
        probe=powermetrics_source.probe,
        factory=powermetrics_source.PowermetricsSource,
        priority=40,
    ),
    SourceInfo(
        name="memorystatus",
        kind="augment",
        platforms=("darwin",),
        metrics=("pressure",),
        needs_root=False,
        description="memory pressure level (normal, warning, critical) from the sysctl "
        "kern.memorystatus_vm_pressure_level: macOS has no PSI",
        probe=macos_pressure.probe,
        factory=macos_pressure.MacMemoryPressureSource,
        priority=70,
    ),
    SourceInfo(
        name="top",
        kind="augment",
        platforms=("darwin",),
        metrics=("cpu", "memory", "threads", "pageins", "wakeups", "ctx_switches", "energy"),
        needs_root=False,
        description="Apple's top reads every process without root: it fills in the CPU, "
        "footprint, threads, state, wakeups, pageins and context switches of restricted "
        "processes (their disk I/O stays unknown), and its POWER is the energy_impact of every "
        "process unless powermetrics gives Apple's own; not started as root unless --source "
        "asks",
        probe=top_live.probe,
        factory=top_live.TopSource,
        # After powermetrics (40): its Energy Impact, merged first, wins over top's POWER.
        priority=50,
        detail=top_live.detail,
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


# Sources the automatic choice leaves out where they add nothing (--source can still force
# them), by factory: why not now (None: start it).
NOT_BY_DEFAULT: dict[object, Callable[[], str | None]] = {
    top_live.TopSource: top_live.not_by_default
}


def not_by_default(info: SourceInfo) -> str | None:
    check = NOT_BY_DEFAULT.get(info.factory)
    return None if check is None else check()


def is_root() -> bool:
    """Root, for choosing sources and saying what root would add (LAGWATCH_AS_USER in the
    seam chooses as a user does, e.g. in the Mac-in-a-box run as root)."""
    return platform_seam.chooses_as_root()


def runs_here(info: SourceInfo, platform: str | None = None) -> bool:
    platform = platform or platform_seam.sys_platform()
    return any(platform.startswith(p) for p in info.platforms)


def unavailable_reason(info: SourceInfo, platform: str | None = None) -> str | None:
    """None when the source can run here, else why not."""
    if not runs_here(info, platform):
        return f"not for this platform ({platform or platform_seam.sys_platform()})"
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
        wanted = [s for s in SOURCES if unavailable_reason(s) is None and not_by_default(s) is None]
    wanted.sort(key=lambda s: s.priority)
    started: list[Source] = []
    problems: list[str] = []
    for info in wanted:
        if not names and info.kind == "processes" and _has_process_source(started):
            # Automatic choice: one process source, the best that starts (native first, the
            # portable psutil last), so a failing native binding falls back instead of failing.
            continue
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
    if not _has_process_source(started):
        detail = "; ".join(problems) or "none selected"
        raise SourceError(f"no process source could start ({detail})")
    return started, problems


def start_fallback(exclude: set[str]) -> Source | None:
    """The best usable process source not in ``exclude``, started; None if none starts. The
    sampler calls this when its process source fails at run time."""
    for info in sorted(SOURCES, key=lambda s: s.priority):
        if info.kind != "processes" or info.name in exclude:
            continue
        if unavailable_reason(info) is not None:
            continue
        try:
            return info.factory()
        except (SourceError, OSError):
            continue
    return None


def _has_process_source(started: list[Source]) -> bool:
    return any(by_name(s.name).kind == "processes" for s in started)
