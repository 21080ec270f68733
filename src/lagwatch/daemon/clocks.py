"""The two clocks pause detection compares, behind one thin layer.

- ``awake``: stops while the machine sleeps. Linux CLOCK_MONOTONIC; macOS CLOCK_UPTIME_RAW,
  which is mach_absolute_time() (what Python's time.monotonic() reads there).
- ``total``: keeps counting through sleep. Linux CLOCK_BOOTTIME; macOS CLOCK_MONOTONIC_RAW,
  which is mach_continuous_time().

The loop's lateness is measured on ``awake``; time that passed on ``total`` but not on ``awake``
was spent asleep, which is not a freeze. Where no sleep-counting clock exists, ``total`` falls
back to ``awake`` (sleep then simply never shows up, and lateness still stops at the awake clock).
Nothing here is resolved at import time.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def awake_ns(self) -> int: ...

    def total_ns(self) -> int: ...

    def wall(self) -> float: ...


def clock_ids(platform: str | None = None) -> tuple[int | None, int | None]:
    """(awake clock id, total clock id) for ``time.clock_gettime_ns``; None = use monotonic."""
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return getattr(time, "CLOCK_MONOTONIC", None), getattr(time, "CLOCK_BOOTTIME", None)
    if platform == "darwin":
        return getattr(time, "CLOCK_UPTIME_RAW", None), getattr(time, "CLOCK_MONOTONIC_RAW", None)
    return None, None


@dataclass(slots=True)
class SystemClock:
    awake_id: int | None = None
    total_id: int | None = None

    @classmethod
    def for_platform(cls) -> SystemClock:
        awake_id, total_id = clock_ids()
        clock = cls(awake_id, total_id)
        # A clock id that exists at build time may still be refused by the kernel.
        for attr in ("awake_id", "total_id"):
            cid = getattr(clock, attr)
            if cid is not None:
                try:
                    time.clock_gettime_ns(cid)
                except OSError:
                    setattr(clock, attr, None)
        return clock

    def awake_ns(self) -> int:
        if self.awake_id is None:
            return time.monotonic_ns()
        return time.clock_gettime_ns(self.awake_id)

    def total_ns(self) -> int:
        if self.total_id is None:
            return self.awake_ns()
        return time.clock_gettime_ns(self.total_id)

    def wall(self) -> float:
        return time.time()
