"""How many /proc descriptors may be kept open across ticks, for the whole process.

Keeping a descriptor saves an open and a close on every read (procfs regenerates the text on
each ``pread``), but each one counts against ``RLIMIT_NOFILE``, a per-process limit, and holds a
page of kernel memory. The budget is the soft limit minus a reserve for everything else the
process opens (the database, HTTP clients, other sources, listing /proc itself); every source
that keeps descriptors draws on the same one (``shared()``). When it runs out, the soft limit
is raised towards the hard limit; where that is not allowed, callers keep fewer descriptors and
open the rest per read.
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
    def __init__(self) -> None:
        self.kept = 0  # descriptors held by every caller together
        self.soft, self.hard = _getrlimit()
        self.limit = self.soft - _reserve(self.soft)
        self.raised_from: int | None = None  # the soft limit before lagwatch raised it

    def may_keep(self, room: int = 0) -> bool:
        """Whether one more descriptor may be kept, leaving ``room`` for more important ones;
        raises the soft limit first when that helps."""
        if self.kept + room < self.limit:
            return True
        return self.grow() and self.kept + room < self.limit

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
        """An open() failed with EMFILE: the rest of the process holds more than the reserve.
        Raise the limit if possible, else lower the budget below what is kept now; the caller
        gives back what it kept beyond it."""
        if not self.grow():
            self.limit = max(0, min(self.limit, self.kept) - _reserve(self.soft) // 4)


_SHARED: DescriptorBudget | None = None


def shared() -> DescriptorBudget:
    """The process's one budget (RLIMIT_NOFILE is per process, not per source)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = DescriptorBudget()
    return _SHARED


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
