"""What the sources said they could not read (a process's file, a tool's sample): counted, and
logged once per cause, again at most once an hour with how many came since.

A cause is the warning with its numbers taken out ("procfs: pid N: [Errno N] ..."), so one
problem met for every process is one line in the log, not one per process and tick.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

log = logging.getLogger("lagwatch.daemon")

_NUMBERS = re.compile(r"\d+")
MAX_CAUSES = 200  # beyond this many kinds, new ones are counted but not logged
RELOG_S = 3600.0


class ReadWarnings:
    def __init__(self, max_causes: int = MAX_CAUSES, relog_s: float = RELOG_S) -> None:
        self.max_causes = max_causes
        self.relog_s = relog_s
        self.total = 0
        self.counts: dict[str, int] = {}  # cause -> warnings so far
        self._logged: dict[str, tuple[float, int]] = {}  # cause -> (when, count then)
        self.unlisted = 0  # warnings of causes beyond max_causes
        self._said_full = False

    def note(self, warnings: Iterable[str], now: float) -> None:
        for warning in warnings:
            self.total += 1
            cause = _NUMBERS.sub("N", warning)[:300]
            count = self.counts.get(cause)
            if count is None:
                if len(self.counts) >= self.max_causes:
                    self.unlisted += 1
                    if not self._said_full:
                        self._said_full = True
                        log.warning(
                            "more than %d kinds of read warnings: new kinds are counted "
                            "(lagwatch status), no longer logged",
                            self.max_causes,
                        )
                    continue
                self.counts[cause] = 1
                self._logged[cause] = (now, 1)
                log.warning("read warning: %s (each kind is logged once an hour at most)", warning)
                continue
            self.counts[cause] = count + 1
            when, then = self._logged[cause]
            if now - when >= self.relog_s:
                self._logged[cause] = (now, count + 1)
                log.warning(
                    "read warning: %s (%d more of this kind since it was last logged)",
                    warning,
                    count + 1 - then,
                )

    def top(self, n: int = 5) -> dict[str, int]:
        """The ``n`` most frequent causes and their counts."""
        return dict(sorted(self.counts.items(), key=lambda kv: -kv[1])[:n])
