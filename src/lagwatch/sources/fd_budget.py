"""How many /proc descriptors the procfs source may keep open across ticks.

Keeping a descriptor saves an open and a close on every read (procfs regenerates the text on
each ``pread``), but each one counts against ``RLIMIT_NOFILE`` and holds a page of kernel
memory. The budget is the soft limit minus a reserve for everything else the process opens
(the database, HTTP clients, other sources). When it runs out, the soft limit is raised towards
the hard limit; where that is not allowed, the caller keeps fewer descriptors and opens the
rest per read.
"""

from __future__ import annotations

try:  # Unix-only: this module must still import everywhere.
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

# Never raise the soft limit beyond this, even when the hard limit is "unlimited".
_CEILING = 1 << 20


def _reserve(soft: int) -> int:
    """Descriptors left to the rest of the process: a few hundred, a small share when large."""
    return min(soft // 2, max(256, min(1024, soft // 8)))


class DescriptorBudget:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.kept = 0  # descriptors the caller holds now
        self.soft, self.hard = _getrlimit()
        self.limit = self.soft - _reserve(self.soft) if enabled else 0
        self.refused = 0  # keeps refused since the last take_refused()
        self.raised_from: int | None = None  # the soft limit before lagwatch raised it

    def may_keep(self, room: int = 0) -> bool:
        """Whether one more descriptor may be kept, leaving ``room`` for more important ones;
        raises the soft limit first when that helps."""
        if not self.enabled:
            return False
        if self.kept + room < self.limit or (self.grow() and self.kept + room < self.limit):
            return True
        self.refused += 1
        return False

    def grow(self) -> bool:
        """Raise the soft limit towards the hard one (doubling: few calls, no more than
        needed by much). False when it is already there or the kernel says no."""
        ceiling = min(self.hard, _CEILING)
        if resource is None or self.soft >= ceiling:
            return False
        target = min(ceiling, max(2 * self.soft, self.soft + 1024))
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, self.hard))
        except (ValueError, OSError):
            self.hard = self.soft  # not allowed here: stop trying
            return False
        if self.raised_from is None:
            self.raised_from = self.soft
        self.soft = target
        self.limit = target - _reserve(target)
        return True

    def out_of_descriptors(self) -> None:
        """open() failed with EMFILE below the budget: the rest of the process holds more than
        the reserve. Lower the budget to what is kept now, less a margin to give back."""
        if not self.grow():
            self.limit = max(0, min(self.limit, self.kept - 64))

    def take_refused(self) -> int:
        n, self.refused = self.refused, 0
        return n


def _getrlimit() -> tuple[int, int]:
    if resource is None:
        return 0, 0
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ValueError, OSError):
        return 1024, 1024
    if hard == resource.RLIM_INFINITY:
        hard = _CEILING
    if soft == resource.RLIM_INFINITY:
        soft = hard
    return int(soft), int(hard)
