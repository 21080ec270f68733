"""Which processes a view shows: the --user, --pid, --name and --kernel options of `top`,
`history` and `energy` as one predicate (lagwatch.cli.options declares the options).

- ``--user NAME`` and ``--pid N`` may be repeated: a process matches any of the users and any
  of the pids given.
- ``--name TEXT`` matches names that contain TEXT, ignoring case; ``--name re:PATTERN`` is a
  Python regular expression searched in the name (add ``(?i)`` to ignore case).
- Kernel threads (Linux: children of kthreadd, with no user memory) are hidden, unless one
  stresses the machine (score ``KERNEL_SHOWN_FROM_SCORE`` or more: kswapd swapping, a kworker
  flushing) or its pid is asked for; ``--kernel`` shows them all.

The options combine: a process is shown when it passes every one given.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from lagwatch.model import ProcessRow, Ranking
from lagwatch.ranking import is_kernel_thread

REGEX_PREFIX = "re:"
# A kernel thread this stressing is a culprit like any other (reclaim, writeback): shown.
KERNEL_SHOWN_FROM_SCORE = 40.0


def compile_name(text: str) -> re.Pattern[str] | None:
    """The regular expression of a ``re:`` name filter (None for a plain substring). Raises
    ValueError with a readable reason for a bad pattern."""
    if not text.startswith(REGEX_PREFIX):
        return None
    try:
        return re.compile(text[len(REGEX_PREFIX) :])
    except re.error as exc:
        raise ValueError(f"bad regular expression {text[len(REGEX_PREFIX) :]!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class ProcessFilter:
    users: frozenset[str] = frozenset()
    pids: frozenset[int] = frozenset()
    name: str | None = None  # as given (``re:`` prefix and all)
    kernel: bool = False  # show every kernel thread
    _pattern: re.Pattern[str] | None = dataclasses.field(default=None, compare=False)
    _needle: str | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def build(
        cls,
        users: tuple[str, ...] | list[str] = (),
        pids: tuple[int, ...] | list[int] = (),
        name: str | None = None,
        kernel: bool = False,
    ) -> ProcessFilter:
        """Raises ValueError for a bad ``re:`` pattern."""
        pattern = compile_name(name) if name else None
        needle = name.casefold() if name and pattern is None else None
        return cls(frozenset(users), frozenset(pids), name or None, kernel, pattern, needle)

    @property
    def narrows(self) -> bool:
        """Whether the user asked for particular processes (not only the default)."""
        return bool(self.users or self.pids or self.name)

    def shows_kernel_thread(self, row: ProcessRow) -> bool:
        return self.kernel or row.pid in self.pids or row.score >= KERNEL_SHOWN_FROM_SCORE

    def matches_identity(self, pid: int, user: str | None, name: str) -> bool:
        """The --pid, --user and --name part alone (the history store runs it in SQL)."""
        if self.pids and pid not in self.pids:
            return False
        if self.users and user not in self.users:
            return False
        if self._pattern is not None and self._pattern.search(name) is None:
            return False
        return self._needle is None or self._needle in name.casefold()

    def matches(self, row: ProcessRow) -> bool:
        if not self.matches_identity(row.pid, row.user, row.name):
            return False
        return not is_kernel_thread(row) or self.shows_kernel_thread(row)

    def rows(self, rows: list[ProcessRow]) -> list[ProcessRow]:
        return [row for row in rows if self.matches(row)]

    def apply(self, ranking: Ranking) -> Ranking:
        """A copy of the ranking with only the matching processes (in the same order)."""
        return dataclasses.replace(ranking, processes=self.rows(ranking.processes))

    def hidden_kernel_threads(self, ranking: Ranking) -> int:
        """How many kernel threads the default hid (for the header to say so)."""
        if self.kernel:
            return 0
        return sum(
            1 for r in ranking.processes if is_kernel_thread(r) and not self.shows_kernel_thread(r)
        )


NO_FILTER = ProcessFilter(kernel=True)  # every process (library callers, tests)
DEFAULT = ProcessFilter()  # what a command shows without options: kernel threads hidden
