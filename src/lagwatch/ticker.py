"""Live rankings: a Sampler read on a clock, each reading ranked against the one before.

The sampler only reads and ``lagwatch.ranking`` only computes; this is where the two meet for
`top`, the TUI, `energy`, `status` and the daemon.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from lagwatch.apps import AppKeys, app_keys_for
from lagwatch.model import Ranking, Snapshot
from lagwatch.ranking import IdleRows, compute_ranking
from lagwatch.sampler import Sampler, open_sampler


class Ticker:
    """Reads ``sampler`` once per tick and ranks the interval since the previous reading."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.prev: Snapshot | None = None
        self._prev_epoch = sampler.epoch
        self._idle_rows: IdleRows = {}
        self._apps: AppKeys | None = None  # made for the primary source of the current epoch

    @property
    def source_names(self) -> list[str]:
        return self.sampler.source_names

    @property
    def dropped(self) -> list[str]:
        return self.sampler.dropped

    def tick(self, sort: str = "score") -> Ranking | None:
        """Read once; return the ranking since the previous read (None on the first, and on
        the first after the sources changed: readings in other units are never diffed)."""
        cur = self.sampler.read()
        prev, self.prev = self.prev, cur
        epoch, self._prev_epoch = self._prev_epoch, self.sampler.epoch
        if prev is None or epoch != self.sampler.epoch or prev.sources[:1] != cur.sources[:1]:
            self._idle_rows.clear()
            self._apps = None
            return None
        ranking = compute_ranking(prev, cur, sort, self._idle_rows)
        if self._apps is None:
            self._apps = app_keys_for(self.sampler.sources[0], cur.platform)
        # Each process's app is decided here, where the whole process table is known, so the
        # store records it and history groups apps whose parents were never recorded.
        self._apps.annotate(ranking.processes)
        return ranking

    def rankings(self, interval_s: float, sort: str = "score") -> Iterator[Ranking]:
        """Rankings every ``interval_s`` on the monotonic clock (the first after one interval)."""
        deadline = time.monotonic()
        while True:
            started = time.monotonic()
            ranking = self.tick(sort)
            if ranking is not None:
                yield ranking
            deadline += interval_s
            now = time.monotonic()
            if deadline < now:
                # Fell behind (the consumer was slow, the machine paused): go on at once rather
                # than burst to catch up, but never within half an interval of the last
                # reading, whose rates over a few milliseconds would be noise.
                deadline = max(now, started + interval_s / 2)
            if deadline > now:
                time.sleep(deadline - now)

    def close(self) -> None:
        self.sampler.close()


def open_ticker(names: list[str] | None = None) -> tuple[Ticker, list[str]]:
    """A Ticker over ``open_sampler(names)``: the given sources (forced) or the best usable
    ones here. Returns it and the reasons any source could not start. Raises SourceError when
    no process source starts."""
    sampler, problems = open_sampler(names)
    return Ticker(sampler), problems
