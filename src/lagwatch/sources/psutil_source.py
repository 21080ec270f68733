"""psutil: the portable fallback, for any platform without a native source (FreeBSD, Windows,
or a Mac where the libproc binding fails to load). What psutil cannot give stays None."""

from __future__ import annotations

import sys
from typing import Any

from lagwatch.model import ProcessSample, join_cmdline
from lagwatch.sources.base import SourceError, SourceReading
from lagwatch.sources.system_psutil import PsutilSystem

_ATTRS = [
    "pid", "ppid", "name", "username", "status", "create_time", "memory_info", "num_threads",
    "cpu_times", "io_counters", "num_ctx_switches",
]  # fmt: skip


def probe() -> str | None:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return "psutil is not installed (pip install psutil)"
    return None


class PsutilSource:
    name = "psutil"

    def __init__(self) -> None:
        if reason := probe():
            raise SourceError(reason)
        import psutil

        self._psutil = psutil
        self._memory_total = psutil.virtual_memory().total
        self._cpu_count = psutil.cpu_count() or 1
        # Only Linux's ctx-switch split means "woken from sleep"; elsewhere it is a total.
        self._voluntary_is_wakeups = sys.platform.startswith("linux")
        self._system = PsutilSystem()  # CPU per core, memory, load: for the header
        self._cmdlines: dict[tuple[int, float], str | None] = {}  # read once per process

    def read(self) -> SourceReading:
        psutil = self._psutil
        samples = []
        cmdlines: dict[tuple[int, float], str | None] = {}
        for proc in psutil.process_iter(_ATTRS, ad_value=None):
            info: dict[str, Any] = proc.info
            if info.get("create_time") is None:
                continue  # vanished before it could be read
            sample = self.to_sample(info)
            key = (info["pid"], info["create_time"])
            cmdlines[key] = sample.cmdline = (
                self._cmdlines[key] if key in self._cmdlines else _cmdline(proc, psutil)
            )
            samples.append(sample)
        self._cmdlines = cmdlines  # only the living: a reused pid has another create_time
        return SourceReading(
            processes=samples,
            system={
                "memory_total_bytes": self._memory_total,
                "cpu_count": self._cpu_count,
                **self._system.read(),
            },
        )

    def to_sample(self, info: dict[str, Any]) -> ProcessSample:
        times = info.get("cpu_times")
        io = info.get("io_counters")
        ctx = info.get("num_ctx_switches")
        mem = info.get("memory_info")
        restricted = any(info.get(k) is None for k in ("cpu_times", "memory_info", "io_counters"))
        cpu_ns = child_ns = None
        if times is not None:
            cpu_ns = int((times.user + times.system) * 1e9)
            child = getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
            child_ns = int(child * 1e9)
        wakeups = ctx_total = None
        if ctx is not None:
            ctx_total = ctx.voluntary + ctx.involuntary
            wakeups = ctx.voluntary if self._voluntary_is_wakeups else None
        return ProcessSample(
            pid=info["pid"],
            start_id=int(info["create_time"] * 1000),
            name=info.get("name") or "?",
            ppid=info.get("ppid"),
            user=info.get("username"),
            state=info.get("status"),
            restricted=restricted,
            memory_bytes=mem.rss if mem is not None else None,
            threads=info.get("num_threads"),
            cpu_ns=cpu_ns,
            child_cpu_ns=child_ns,
            disk_read_bytes=io.read_bytes if io is not None else None,
            disk_write_bytes=io.write_bytes if io is not None else None,
            wakeups=wakeups,
            ctx_switches=ctx_total,
        )

    def close(self) -> None:
        pass


def _cmdline(proc: Any, psutil: Any) -> str | None:
    """The process's argv as one line, None when the OS refuses it or there is none."""
    try:
        return join_cmdline(proc.cmdline())
    except (psutil.Error, OSError):
        return None
